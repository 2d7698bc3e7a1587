"""Rules revised on the real runs of extra29 (read blind): each test builds the shape described and
fails on the code before the change."""

from __future__ import annotations

import numpy as np

from tests.test_readings_rules import _ctx, _detect


def _resumed(train_end: float, val_best: float, acc0: float = 0.946, n: int = 90):
    """A Keras run continuing a trained binary classifier (BradWangW, extra29): epoch-level train
    loss from 0.167, validation from 0.201, val accuracy from ``acc0``, 90 epochs of noise."""
    rng = np.random.default_rng(5)
    steps = np.arange(n)
    t = np.linspace(0, 1, n)
    train = 0.167 + (train_end - 0.167) * t + rng.normal(0, 0.006, n)
    train[0] = 0.167
    val = 0.201 + (val_best - 0.201) * t + rng.normal(0, 0.004, n)
    val[0] = 0.201
    acc = np.clip(acc0 + rng.normal(0, 0.004, n), 0, 1)
    acc[0] = acc0
    return _ctx({
        "train/epoch_loss": (steps, train),
        "validation/epoch_loss": (steps, val),
        "train/epoch_accuracy": (steps, np.clip(0.969 + rng.normal(0, 0.004, n), 0, 1)),
        "validation/epoch_accuracy": (steps, acc),
    })


def test_a_resumed_model_that_the_whole_run_barely_moved_is_a_plateau_at_info():
    ctx = _resumed(0.161, 0.189)
    assert ctx.trained_start == "accuracy"
    (f,) = _detect("plateau", ctx)
    assert f.severity.value == "info" and f.evidence["form"] == "trained-flat"
    assert "started from a trained model" in f.summary and "90 evaluations" in f.summary
    assert f.remedies[0].action == "early_stop" and f.remedies[0].params["step"] == 0
    assert all(r.action != "scale_lr" for r in f.remedies)  # never a larger rate for a trained model


def test_a_resumed_model_that_validation_still_improved_is_not():
    # validation 0.201 -> 0.15 (-25%): the run bought something
    assert _detect("plateau", _resumed(0.161, 0.15)) == []


def test_a_resumed_model_whose_train_loss_climbed_did_not_merely_stay():
    # the train loss rose 40% from where the trained model started: something else happened
    assert all(f.evidence.get("form") != "trained-flat" for f in _detect("plateau", _resumed(0.234, 0.2)))


def _dqn(success: np.ndarray, eval_reward: np.ndarray | None = None):
    """A DQN on a goal-reaching task (mashcodes10, extra29): one point per training episode, paid
    0.9 on reaching the goal and 0 otherwise (``success``: the probability along the run), and an
    evaluation every 10k steps."""
    rng = np.random.default_rng(7)
    n = success.size
    steps = np.arange(n) * 100
    reward = np.where(rng.random(n) < success, 0.9, 0.0)
    curves = {"train/episode_reward": (steps, reward), "train/loss": (steps[::10], 1e-3 + rng.normal(0, 1e-4, steps[::10].size))}
    if eval_reward is not None:
        curves["eval/mean_reward"] = (np.linspace(0, steps[-1], eval_reward.size).astype(int), eval_reward)
    return _ctx(curves)


def test_a_goal_reached_in_a_third_of_the_episodes_is_no_unpaid_reward():
    # every bin's median episode is paid 0, yet 35% of the episodes reach the goal: the old reading
    # ("0 in almost every episode: no signal to learn from", critical) pointed the remedy at the
    # reward's design; the success rate is read on bin means instead
    flat = _dqn(np.full(4000, 0.35))
    (f,) = _detect("no-learning", flat)
    assert f.severity.value == "info" and "almost no signal" not in f.summary
    assert "almost every episode" not in f.remedies[0].params["what"]
    assert abs(f.evidence["initial_reward"] - 0.9 * 0.35) < 0.06
    # the same reward whose success rate rose from 5% to 40%: it learned
    assert _detect("no-learning", _dqn(np.linspace(0.05, 0.4, 4000))) == []


def test_a_reward_paid_to_a_few_stray_episodes_is_still_unpaid():
    (f,) = _detect("no-learning", _dqn(np.full(4000, 0.1)))
    assert f.severity.value == "critical" and "almost every episode" in f.remedies[0].params["what"]


def test_an_evaluation_reward_that_collapsed_to_zero_is_reward_collapse():
    # training episodes (epsilon 0.1) keep reaching the goal while the greedy policy, evaluated every
    # 10k steps, rose to ~0.4 and then earned exactly 0 at every later evaluation
    ev = np.r_[np.zeros(40), np.linspace(0.1, 0.45, 20), np.linspace(0.4, 0.1, 20), np.zeros(120)]
    (f,) = _detect("reward-collapse", _dqn(np.full(4000, 0.4), ev))
    assert f.evidence["signal"] == "eval_reward" and f.evidence["tag"] == "eval/mean_reward"
    assert f.summary.startswith("eval/mean_reward rose") and f.remedies[0].action == "early_stop"
    # an evaluation reward that kept its level: nothing
    assert _detect("reward-collapse", _dqn(np.full(4000, 0.4), np.r_[np.zeros(40), np.full(160, 0.4)])) == []


def _forces(late_fall: float):
    """An OCP force-field trainer stopped after 159 steps (akolanimosa, extra29): the loss falls
    from 345 (force coefficient 100 on an untrained model) to ~43 by step 100, then by
    ``late_fall`` of its level over the rest, in a 10-step running-mean sawtooth."""
    steps = np.arange(1, 160)
    base = 36 + 309 * np.exp(-steps / 22.0)
    late = np.where(steps > 100, 1 - late_fall * (steps - 100) / 59, 1.0)
    saw = 1 + 0.03 * ((steps % 10) / 10 - 0.5)
    return _ctx({"train/loss": (steps, base * late * saw), "train/lr": (steps, np.full(steps.size, 5e-4))})


def test_a_loss_still_falling_a_sixth_of_its_level_late_is_still_improving_however_far_it_came():
    # the last quarter fell ~17% of its own level (z -6) but only 2% of the fall from an untrained
    # start 10x higher: measured against that start alone it looked settled
    (f,) = _detect("still-improving", _forces(0.2))
    assert f.evidence["late_fraction_of_fall"] < 0.05 and f.remedies[0].action == "train_longer"


def test_a_loss_that_settled_late_is_not():
    assert _detect("still-improving", _forces(0.0)) == []


def test_many_evaluations_falling_in_a_run_still_count_past_thirty():
    # a Keras VAE (lincolt, extra27): 128 epochs, a first epoch thrown to 53,146, a spiky train loss
    # that only leans down late, and a validation loss setting a new minimum at its last epoch after
    # 32 evaluations falling in a run — the exact run test stops at 30 points and answered "no"
    rng = np.random.default_rng(11)
    n = 128
    steps = np.arange(n)
    train = 1.3 + 3.0 * np.exp(-steps / 15) + np.abs(rng.normal(0, 0.05, n)) - 0.004 * steps
    train[0], train[[28, 47, 57, 86, 112, 125]] = 53146.0, [33.0, 9.8, 10.2, 3.4, 3.4, 6.3]
    val = 1.0 + 3.0 * np.exp(-steps / 30) + rng.normal(0, 0.004, n)
    val[0] = 82.2
    val[-1] = val[:-1].min() - 0.01
    (f,) = _detect("still-improving", _ctx({"loss": (steps, train), "val_loss": (steps, val)}))
    assert "its last 32 evaluations" in f.summary and "of its own level" in f.summary


def _resumed_overfit(val_acc: bool):
    """A Keras fit continuing a trained EMNIST classifier (Prakhar-Bhartiya, extra30): train loss
    0.090 -> 0.024 (accuracy 0.96 -> 0.99) while validation rises every epoch 0.49 -> 1.09."""
    steps = np.arange(20)
    curves = {
        "train/epoch_loss": (steps, 0.09 * np.exp(-steps / 14.5)),
        "validation/epoch_loss": (steps, 0.49 + 0.6 * (steps / 19) ** 1.1),
        "train/epoch_accuracy": (steps, 0.962 + 0.029 * steps / 19),
    }
    if val_acc:
        curves["validation/epoch_accuracy"] = (steps, 0.882 - 0.012 * steps / 19)
    return _ctx(curves)


def test_a_resumed_model_that_scores_validation_well_is_not_two_splits_prepared_apart():
    ctx = _resumed_overfit(val_acc=True)
    assert ctx.trained_start == "accuracy"
    assert _detect("data-mismatch", ctx) == []
    (f,) = _detect("overfitting", ctx)
    assert f.severity.value == "warning"
    # without a validation accuracy nothing says the model performs on that split: the gap stands
    (g,) = _detect("data-mismatch", _resumed_overfit(val_acc=False))
    assert g.evidence["form"] == "val-apart"


def test_a_jump_counted_from_ln_c_says_where_the_logged_curve_begins():
    # a BERT fine-tune at lr 1e-3 (kannlight, extra30), 8 labels, logging every 50 steps: its first
    # logged loss, 12.2 at step 49, came after updates; the jump is counted from ln 8 = 2.08, and the
    # summary said "jumped from 2.08" as if the curve had shown it
    rng = np.random.default_rng(3)
    steps = np.arange(49, 15800, 50)
    loss = 15.3 + rng.normal(0, 2.0, steps.size)
    loss[0], loss[5] = 12.2, 21.1
    (f,) = _detect("lr-too-high", _ctx({"train_loss": (steps, loss)}, hparams={"num_labels": 8, "lr": 1e-3}))
    assert f.evidence["form"] == "jump" and f.evidence["first_logged_loss"] == 12.2
    assert "jumped from ln C = 2.08" in f.summary and "12.2 at step 49, came after 49 updates" in f.summary


def _lightning_mnist(val: np.ndarray):
    """A Lightning MNIST MLP (niekvanderzwaag, extra30): the train loss logged every 50 steps, one
    noisy minibatch a point, ~860 steps an epoch for 10 epochs; validation once an epoch."""
    rng = np.random.default_rng(0)  # its late train median 3% lower, trend z -0.7: a lean, no test
    steps = np.arange(49, 8600, 50)
    train = (0.1 + 0.4 * np.exp(-steps / 1500)) * rng.lognormal(0, 0.45, steps.size)
    vs = np.arange(1, 11) * 860 - 1
    return _ctx({"train_loss": (steps, train), "valid_loss": (vs, val)})


def test_validation_falling_at_every_evaluation_speaks_for_a_noisy_per_batch_train_loss():
    val = np.array([0.308, 0.246, 0.214, 0.194, 0.183, 0.173, 0.165, 0.159, 0.156, 0.152])
    ctx = _lightning_mnist(val)
    assert ctx.train.point_bins
    (f,) = _detect("still-improving", ctx)
    assert f.remedies[0].action == "train_longer"
    # the same validation that stopped moving over its last evaluations: settled, nothing
    flat = np.r_[val[:7], [0.1650, 0.1649, 0.1648]]
    assert _detect("still-improving", _lightning_mnist(flat)) == []


def _traffic(rise: float):
    """A DQN traffic-light agent (mezdourcheima, extra30): a rolling-mean episode return near 192 for
    a random policy, rising by ``rise`` over the first 40% of 4,000 points, then flat."""
    rng = np.random.default_rng(2)
    steps = np.arange(1, 4001) * 1000
    t = np.linspace(0, 1, steps.size)
    reward = 192 + rise * np.minimum(t / 0.4, 1.0) + np.convolve(rng.normal(0, 4, steps.size + 49), np.ones(50) / 50, "valid")
    return _ctx({"AvgRew": (steps, reward), "AvgEpLen": (steps, np.full(steps.size, 300.0))})


def test_a_reward_that_rose_in_a_trend_above_a_large_offset_learned():
    # +14% over a random policy's 192 (a tolerance of 30% of that level called it "stayed at its
    # initial level"); it then sat flat for the rest: a plateau, not no-learning
    ctx = _traffic(28.0)
    assert ctx.workload == "rl"
    assert _detect("no-learning", ctx) == []
    (f,) = _detect("plateau", ctx)
    assert f.evidence["form"] == "lasting" and f.evidence["signal"] == "reward"
    # the same reward wandering at its offset without a trend is still flat
    (g,) = _detect("no-learning", _traffic(0.0))
    assert g.severity.value == "info"


def _flappy(tail_level: float):
    """An ML-Agents Flappy Bird agent (djbyrne, extra31): the cumulative reward of ~8 at the start
    (the bird falls), ~1,000 once learned, heavy-tailed (one collision ends an endless episode: a
    stretch of very long episodes reads 9,300), then ``tail_level`` over the last fifth."""
    rng = np.random.default_rng(4)
    steps = np.arange(1, 301) * 5000
    t = np.linspace(0, 1, steps.size)
    level = np.where(t < 0.2, 8 * np.exp(t / 0.2 * np.log(125)), 1000.0)
    level = np.where(t >= 0.8, tail_level, level)
    reward = level * rng.lognormal(0, 0.5, steps.size)
    reward[(t > 0.45) & (t < 0.5)] *= 9.0  # the lucky stretch
    return _ctx({"Environment/Cumulative Reward": (steps, reward), "Environment/Episode Length": (steps, reward * 10)})


def test_a_heavy_tailed_reward_back_to_its_learned_level_after_a_lucky_stretch_did_not_collapse():
    # measured linearly, a tail of 860 lost 91% of a gain up to 9,300; on the logarithm of a reward
    # that climbed three orders of magnitude it lost a third of it
    assert _detect("reward-collapse", _flappy(860.0)) == []
    (f,) = _detect("reward-collapse", _flappy(20.0))  # back near its start: that is a collapse
    assert f.severity.value == "warning"
