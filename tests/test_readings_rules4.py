"""Rules revised in a later round on real runs read blind (extra20) and on the population's dev
seeds: each test builds the shape described and fails on the code before the change."""

from __future__ import annotations

import numpy as np

from advisor.model import Role
from tests.test_readings_rules import _ctx, _detect


def _four_evaluations(train_end: float):
    """A forecaster logging its train loss once an epoch (40 epochs) and validating every 10:
    validation lowest at the second evaluation, every later one higher, the last +16%."""
    steps = np.arange(40)
    rng = np.random.default_rng(3)
    train = 5.3 - (5.3 - train_end) * np.linspace(0, 1, 40) ** 0.9 + rng.normal(0, 0.04, 40)
    train[0] = 7.1  # the untrained first epoch
    vs = np.array([9, 19, 29, 39])
    return _ctx({"train_loss_epoch": (steps, train), "valid_loss": (vs, np.array([5.26, 4.98, 5.02, 5.78]))})


def test_four_evaluations_rising_while_train_falls_in_a_clear_trend_is_likely_overfitting():
    # Jameci's neuralforecast run (extra20): train 4.85 -> 4.05 (-17%, Mann-Kendall z -5.7) after
    # the val minimum, validation 4.98 -> 5.02 -> 5.78 — the run's own early stopping fired there
    (f,) = _detect("overfitting", _four_evaluations(4.0))
    assert f.severity.value == "info" and f.evidence["form"] == "few-evaluations" and f.evidence["best_step"] == 19
    assert "4 evaluations are too few" in f.summary
    assert f.remedies[0].action == "early_stop" and f.remedies[0].params["step"] == 19


def test_four_evaluations_rising_while_train_barely_moves_is_not_overfitting():
    # the same validation with train falling 5% after the minimum: nothing is being memorised
    assert _detect("overfitting", _four_evaluations(4.75)) == []


def _sparse(values: list[float], every: int = 50):
    steps = np.arange(1, len(values) + 1) * every - 1
    return _ctx({"train_loss": (steps, np.array(values))})


def test_a_dozen_single_minibatch_losses_are_not_swings():
    # a Lightning run logging every 50 steps (population healthy/109-seqcls-rnn-adam-linear, seed
    # 42): twelve single-batch losses whose two jumps put the swing at 3.3x the robust point noise,
    # which pure noise on a trend exceeds in 1.4% of 12-point curves
    vals = [0.79, 0.747, 0.613, 0.598, 0.57, 0.552, 0.496, 0.607, 0.595, 0.623, 0.425, 0.431]
    assert _detect("oscillation", _sparse(vals)) == []


def test_single_minibatch_losses_that_swing_over_enough_points_still_do():
    # twenty-four points swinging between two levels in runs of three: structure, not noise
    rng = np.random.default_rng(2)
    swing = np.tile([0.0, 0.0, 0.0, 0.3, 0.3, 0.3], 4)
    (f,) = _detect("oscillation", _sparse(list(0.6 + swing + rng.normal(0, 0.01, 24))))
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1


def _stuck_after_one_throw(level: float, spike: float, acc: bool):
    """Fifty points logged every 10 steps: the second point thrown to ``spike`` x the start, the
    rest sitting at ``level`` with a little noise (population lr-too-high/momentum0.5-digits-mlp,
    SGD momentum at 0.5 on a 10-class MLP: dead units, accuracy at chance)."""
    rng = np.random.default_rng(5)
    steps = np.arange(0, 500, 10)
    loss = level + rng.normal(0, 0.01, 50)
    loss[0] = 2.313
    loss[1] = 2.313 * spike
    curves = {"loss/train": (steps, loss)}
    if acc:
        vs = steps[4::5]
        curves["acc/val"] = (vs, 0.1 + rng.normal(0, 0.01, vs.size))
        curves["loss/val"] = (vs, 2.33 + rng.normal(0, 0.01, vs.size))
    return _ctx(curves, {"num_classes": 10} if acc else None)


def test_a_classifier_thrown_once_then_sitting_at_chance_has_a_rate_too_high():
    (f,) = _detect("lr-too-high", _stuck_after_one_throw(2.345, 1.7, acc=True))
    assert f.severity.value == "critical" and f.evidence["form"] == "jump"
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1


def test_the_same_throw_over_a_loss_that_is_not_at_chance_needs_twice_the_start():
    # no class count, no accuracy: the level is no chance level, and 1.7x is within what a stuck
    # regression loss of noisy minibatches pokes to
    assert _detect("lr-too-high", _stuck_after_one_throw(2.345, 1.7, acc=False)) == []


def _keras_epochs(throw: float):
    """A Keras classifier's epoch means (population lr-too-high/adam1-wine-keras, dev seed 44):
    the first epoch blown to 161, the loss down to 0.69 by epoch 8, then one epoch at ``throw``;
    validation accuracy 0.86 at the first evaluation and 0.57-0.66 after."""
    train = np.array([160.9, 22.09, 1.056, 0.941, 0.732, 3.523, 1.308, 0.788, 0.689, throw, 0.9, 0.7, 0.65, 0.62, 0.6, 0.59])
    steps = np.arange(train.size)
    acc = np.array([0.857, 0.743, 0.457, 0.543, 0.629, 0.743, 0.571, 0.6, 0.686, 0.571, 0.657, 0.571, 0.657, 0.657, 0.657, 0.657])
    return _ctx({"epoch_loss": (steps, train), "epoch_accuracy": (steps, acc)})


def test_an_epoch_mean_thrown_past_any_uniform_output_is_a_rate_too_high():
    # 11.5 after 0.69: worse than a uniform output over 20,000 classes, for a whole epoch
    (f,) = _detect("lr-too-high", _keras_epochs(11.46))
    assert f.evidence["form"] == "thrown-back" and f.evidence["thrown_to"] == 11.46
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1


def test_an_epoch_mean_bumped_to_a_plausible_cross_entropy_is_not_thrown_back():
    assert [f for f in _detect("lr-too-high", _keras_epochs(3.1)) if f.evidence.get("form") == "thrown-back"] == []


def _near_zero_with_spikes(peak: float):
    """800 single-minibatch losses (population oscillation/momentum0.995-breast, dev seed 44: SGD
    with momentum 0.99 on an easy task): learned from 0.65 to about 0.02 in 60 steps, then four
    runs of a dozen batches back at ~2.5 (binned medians 4-6x the start) and two lone batches at
    ``peak`` — the per-step noise is then most of the level, so gradient-noise fires too."""
    rng = np.random.default_rng(5)
    y = 0.02 * np.exp(rng.normal(0, 1.5, 800))
    y[:60] = 0.65 * np.exp(-np.arange(60) / 15) + 0.02
    for s0 in (130, 300, 480, 650):
        y[s0 : s0 + 12] = 2.5 * np.exp(rng.normal(0, 0.3, 12))
    y[740], y[799] = peak, 0.95 * peak
    return _ctx({"loss/train": (np.arange(800), y)})


def test_a_batch_thrown_100x_above_the_untrained_loss_is_no_minibatch_noise():
    from advisor.engine import Engine

    findings, _ = Engine.from_config().diagnose(_near_zero_with_spikes(85.0))
    by = {f.condition: f for f in findings}
    assert "gradient-noise" in by  # the spikes make the per-step noise most of the level
    f = by["lr-too-high"]
    assert f.evidence["form"] == "spiking" and f.evidence["highest_climb"] < 100 <= f.evidence["highest_point"]
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1


def test_climbs_within_what_noise_reaches_stay_explained_by_the_noise():
    from advisor.engine import Engine

    findings, _ = Engine.from_config().diagnose(_near_zero_with_spikes(10.0))
    assert "gradient-noise" in {f.condition for f in findings}
    assert "lr-too-high" not in {f.condition for f in findings}


def _a2c(reward: np.ndarray):
    """An SB3 agent logging every 500 steps over 10k: 20 points of ep_rew_mean beside its losses."""
    steps = np.arange(1, reward.size + 1) * 500
    rng = np.random.default_rng(1)
    return _ctx({
        "rollout/ep_rew_mean": (steps, reward),
        "train/entropy_loss": (steps, -0.6 + rng.normal(0, 0.03, reward.size)),
        "train/value_loss": (steps, 5.0 + rng.normal(0, 0.5, reward.size)),
    })


def test_a_reward_logged_twenty_times_still_climbing_at_the_end_is_still_improving():
    # SB3 A2C on CartPole for 10k steps (extra21): ep_rew_mean 15.6 -> 85 in order, its best the
    # last point; the last quarter holds five points, whose trend z cannot reach 2.6
    rew = np.array([15.6, 14.7, 16.4, 19.1, 21.6, 24.9, 28.3, 32.2, 36.7, 40.8, 45.5, 50.1, 55.0, 59.8, 63.0, 67.5, 71.2, 75.0, 80.3, 85.0])
    ctx = _a2c(rew)
    assert ctx.workload == "rl"
    (f,) = _detect("still-improving", ctx)
    assert f.evidence["signal"] == "reward" and f.remedies[0].action == "train_longer"


def test_a_reward_that_reached_its_level_before_its_last_points_is_not_still_improving():
    rew = np.concatenate([np.linspace(15, 80, 12), 80 + np.array([0.4, -0.3, 0.2, -0.5, 0.1, 0.3, -0.2, 0.0])])
    assert _detect("still-improving", _a2c(rew)) == []


def _cut_short(lr: np.ndarray):
    """A Hugging Face LoRA fine-tune configured for a linear decay and killed after 74 steps."""
    steps = np.arange(1, lr.size + 1)
    loss = 10.3 + np.random.default_rng(4).normal(0, 0.4, lr.size)
    return _ctx({"train/loss": (steps, loss), "train/learning_rate": (steps, lr)}, hparams={"schedule": "linear"})


def test_a_linear_decay_cut_off_after_a_few_dozen_steps_is_no_scheduler_left_unstepped():
    # extra22: 2.0e-4 -> 1.989e-4 over 27 steps, then flat (the optimizer's steps skipped); the
    # rate fell, a little, step after step: the scheduler is stepped
    lr = np.concatenate([2e-4 - 4e-8 * np.arange(28), np.full(46, 2e-4 - 4e-8 * 27)])
    assert _detect("schedule-misconfigured", _cut_short(lr)) == []


def test_a_configured_decay_whose_rate_never_moves_is_still_reported():
    (f,) = _detect("schedule-misconfigured", _cut_short(np.full(74, 2e-4)))
    assert "never" in f.summary or "stays at" in f.summary
    assert f.remedies[0].action == "lr_schedule"


def _stall_then(tail: list[float]):
    """Single-minibatch losses logged every 10 steps (population lr-too-high/adam2-seqcls-lstm,
    dev seed 46: Adam at 2 on an LSTM): bouncing between 1.6 and 4.8 around 2.9 with no trend."""
    head = [3.346, 4.246, 4.797, 3.814, 3.903, 4.112, 2.937, 2.608, 1.987, 1.722, 2.219, 2.064, 4.414, 2.577, 2.884,
            3.718, 2.321, 4.409, 4.275, 2.298, 3.842, 2.289, 1.624, 2.351, 1.968, 3.755, 1.939, 3.075]
    vals = np.array(head + tail)
    ev = np.arange(29, 10 * vals.size, 30)  # evaluated every 30 steps: val bouncing, accuracy 0.30-0.42 of 4 classes
    val = np.array([6.13, 3.49, 2.03, 2.9, 6.18, 5.89, 1.55, 1.77, 2.0, 2.33, 2.1, 1.9])[: ev.size]
    acc = np.array([0.32, 0.35, 0.345, 0.3, 0.305, 0.322, 0.42, 0.375, 0.387, 0.39, 0.4, 0.41])[: ev.size]
    return _ctx({"train_loss": (np.arange(vals.size) * 10 + 9, vals), "val_loss": (ev, val), "val_acc": (ev, acc)})


def test_two_low_minibatches_at_the_end_are_no_escape_from_a_stall():
    fs = _detect("plateau", _stall_then([1.386, 1.601]))
    assert all(f.evidence.get("form") is not None for f in fs)  # the lasting form at most, never the escaped one
    assert not any(r.action == "scale_lr" and r.params["factor"] > 1 for f in fs for r in f.remedies)


def test_a_fall_held_over_its_last_points_still_escapes_the_stall():
    (f,) = _detect("plateau", _stall_then([1.2, 0.9, 0.7, 0.55, 0.45, 0.4, 0.38, 0.36, 0.35, 0.35]))
    assert f.evidence.get("form") is None and f.evidence["escape_fraction"] >= 0.75


def _fine_tune(rise: float, seed: int = 0, trend: bool = True):
    """A QLoRA fine-tune evaluated every 50 steps (extra23): eval loss falling to its minimum at
    step 2400, then ``rise`` above it by the end — steadily, or as noise around its minimum."""
    rng = np.random.default_rng(seed)
    steps = np.arange(50, 4001, 50)
    t = steps / 4000.0
    train = 0.6 + 0.9 * np.exp(-5 * t) + rng.normal(0, 0.01, steps.size)
    down = 0.82 + 0.6 * np.exp(-9 * np.clip(t, 0, 0.6) / 0.6 * 0.6) - 0.6 * np.exp(-5.4)
    after = steps > 2400
    up = np.where(after, (steps - 2400) / 1600.0 * rise * 0.82, 0.0) if trend else 0.0
    val = down + up + rng.normal(0, 0.002, steps.size)
    return _ctx({"train/loss": (steps, train), "eval/loss": (steps, val)})


def test_a_small_rise_in_a_steady_trend_after_the_minimum_is_overfitting_at_info():
    (f,) = _detect("overfitting", _fine_tune(0.045))
    assert f.severity.value == "info" and f.evidence.get("small_steady_rise") is True
    assert f.remedies[0].action == "early_stop" and 2000 <= f.remedies[0].params["step"] <= 2600


def test_a_small_rise_that_is_only_noise_around_the_minimum_is_not():
    assert _detect("overfitting", _fine_tune(0.045, trend=False)) == []


def test_the_mean_reward_is_the_reward_beside_its_order_statistics():
    # an A2C fork logging the last ten episodes' mean, median, min and max (extra23): the reward
    # had been min_reward, the shortest name
    steps = np.arange(1, 101) * 10
    rng = np.random.default_rng(0)
    tags = {name: (steps, rng.normal(0, 1, 100)) for name in ("mean_reward", "median_reward", "min_reward", "max_reward")}
    tags["dist_entropy"] = (steps, np.full(100, 0.6))
    tags["value_loss"] = (steps, np.full(100, 1.0))
    ctx = _ctx(tags)
    assert ctx.workload == "rl" and ctx.tag(Role.REWARD) == "mean_reward"


# -- a few non-finite points in a run that trained on (extra21's 1WangXT YOLOv5 exp2) ------------


def test_a_stream_with_a_few_nan_points_that_recovered_keeps_its_finite_points():
    from advisor.signals import finite_part, make_curve

    steps = np.arange(300)
    v = np.linspace(1.0, 0.5, 300)
    v[[167, 176, 177]] = np.nan
    s, x, bad, rec = finite_part(steps, v)
    assert rec and bad == 167 and s.size == 297 and np.isfinite(x).all()
    c = make_curve(steps, v)
    assert c.recovered and c.nonfinite_step == 167 and c.steps[-1] == 299 and c.n_total == 300
    v[290] = np.nan  # non-finite in its last tenth: it did not recover
    assert not finite_part(steps, v)[3] and make_curve(steps, v).steps[-1] == 166
    w = np.linspace(1.0, 0.5, 300)
    w[100:120] = np.inf  # 20 of 300 (7%): more than a transient
    assert not finite_part(steps, w)[3]


def _yolo_like(train_nan=(), val_nan=()):
    """A detector's summed losses over 300 epochs, both still falling at the end."""
    steps = np.arange(300)
    rng = np.random.default_rng(8)
    train = 0.04 + 0.13 * np.exp(-steps / 150) + rng.normal(0, 0.0015, 300)
    val = 0.02 + 0.12 * np.exp(-steps / 150) + rng.normal(0, 0.0015, 300)
    train[list(train_nan)] = np.nan
    val[list(val_nan)] = np.nan
    return {"train/loss": (steps, train), "val/loss": (steps, val)}


def test_a_run_that_recovered_from_nan_epochs_is_a_warning_and_what_else_it_shows_stands():
    from advisor.pipeline import diagnose_run
    from advisor.engine import Engine
    from tests import synth

    rep = diagnose_run(synth.run_of(_yolo_like(train_nan=(167, 176, 177), val_nan=(170, 177))), Engine.from_config()).report
    by = {f.condition: f for f in rep.findings}
    nf = by["non-finite"]
    assert nf.severity.value == "warning" and nf.evidence["form"] == "recovered" and nf.evidence["finite_after"] == 122
    assert "recovered" in nf.summary
    assert "still-improving" in by  # read on the finite points, and not dropped by the NaN
    # the same NaN with nothing after it: the run died there, critical, and the shape rules are moot
    dead = _yolo_like(train_nan=range(167, 300))
    rep = diagnose_run(synth.run_of(dead), Engine.from_config()).report
    assert rep.findings[0].condition == "non-finite" and rep.findings[0].severity.value == "critical"
    assert "still-improving" not in {f.condition for f in rep.findings}


def test_one_nan_evaluation_in_a_healthy_run_is_info_and_no_rate_cut():
    # AhmetKoraySonal's YOLOv5m (extra20): val loss NaN at epoch 1 of 149 under AMP, train finite
    from advisor.pipeline import diagnose_run
    from advisor.engine import Engine
    from tests import synth

    rep = diagnose_run(synth.run_of(_yolo_like(val_nan=(1,))), Engine.from_config()).report
    (nf,) = [f for f in rep.findings if f.condition == "non-finite"]
    assert nf.severity.value == "info" and nf.evidence["form"] == "recovered"
    assert nf.remedies[0].action != "scale_lr" and "not the training itself" in nf.summary


# -- an RL run that logs no reward (extra13's SB3 PPO without a Monitor wrapper) ----------------


def _ppo_without_reward(entropy_end: float):
    """SB3 PPO's train/* scalars over 146 updates, no rollout/ reward: 18 discrete actions, the
    entropy (logged negated as entropy_loss) going from ln 18 to ``entropy_end``."""
    steps = np.arange(146) * 2048 + 4096
    rng = np.random.default_rng(4)
    h = np.log(18) + (entropy_end - np.log(18)) * np.linspace(0, 1, 146) + rng.normal(0, 0.01, 146)
    return _ctx({
        "train/entropy_loss": (steps, -h),
        "train/value_loss": (steps, 3.2e6 - 5e5 * np.linspace(0, 1, 146)),
        "train/approx_kl": (steps, rng.uniform(3e-4, 1.1e-3, 146)),
        "train/clip_fraction": (steps, np.zeros(146)),
    })


def test_a_policy_as_random_as_it_began_without_a_reward_is_no_learning_at_info():
    ctx = _ppo_without_reward(2.73)
    assert ctx.workload == "rl" and ctx.tag(Role.REWARD) is None
    (f,) = _detect("no-learning", ctx)
    assert f.severity.value == "info" and f.evidence["uniform_actions"] == 18 and f.evidence["reward_logged"] is False
    assert "no reward is logged" in f.summary and f.remedies[0].action == "check_data"


def test_a_policy_that_turned_less_random_without_a_reward_is_not_judged():
    # entropy down to 60% of uniform: the policy learned preferences; with no reward, nothing to say
    assert _detect("no-learning", _ppo_without_reward(0.6 * np.log(18))) == []


def test_a_few_skipped_steps_in_a_flat_gradient_norm_are_no_explosion():
    # fp16 loss scaling: the norm is inf at two steps and flat at ~1 around them; the loss rises
    # late for reasons of its own. The norm did not explode: it trained on at the same level.
    steps = np.arange(400)
    rng = np.random.default_rng(2)
    g = 1.0 + rng.normal(0, 0.05, 400)
    g[[300, 305]] = np.inf
    loss = np.r_[np.linspace(2.0, 0.5, 250), np.linspace(0.5, 1.4, 150)] + rng.normal(0, 0.01, 400)
    ctx = _ctx({"train/loss": (steps, loss), "train/grad_norm": (steps, g)})
    assert ctx.grad.recovered and ctx.grad.nonfinite_step == 300
    assert _detect("exploding-gradients", ctx) == []


# -- validation far below the train loss from the first evaluation (extra26's LSTM regressor) ---


def _below(train, val):
    steps = np.arange(len(train))
    return _ctx({"Train Loss": (steps, np.asarray(train, float)), "Test Loss": (steps, np.asarray(val, float))})


def test_validation_a_hundredth_of_a_flat_train_loss_from_the_start_is_a_scale_mismatch_at_info():
    # standardised targets: train MSE sits at 1.0 (the mean's), test MSE at 0.009 from epoch 0
    rng = np.random.default_rng(6)
    ctx = _below(1.003 - 0.0045 * np.linspace(0, 1, 20), 0.0095 + rng.normal(0, 0.0005, 20))
    (f,) = _detect("data-mismatch", ctx)
    assert f.severity.value == "info" and f.evidence["form"] == "val-below" and f.evidence["val_over_train_max"] < 0.05
    assert "different scales" in f.summary
    from advisor.engine import resolve

    # the scale slip says nothing about whether the train loss moved: a no-learning beside it stands
    from advisor.model import Finding, Severity
    nl = Finding("no-learning", Severity.CRITICAL, 0.8, "flat", {}, (), 0)
    assert {g.condition for g in resolve([nl, f])} == {"no-learning", "data-mismatch"}


def test_validation_below_train_by_dropout_or_a_thrown_first_epoch_is_no_scale_mismatch():
    rng = np.random.default_rng(7)
    fall = np.exp(-np.arange(20) / 6)
    # dropout 0.75: validation near a fifth of a train loss that falls with it
    assert _detect("data-mismatch", _below(1.0 + fall, 0.2 * (1.0 + fall) + rng.normal(0, 0.005, 20))) == []
    # a first epoch's mean thrown to 900 by a rate far too high, then train and val alike at 2.5
    train = np.r_[901.0, 2.5 + rng.normal(0, 0.01, 9)]
    assert [f for f in _detect("data-mismatch", _below(train, 2.5 + rng.normal(0, 0.05, 10))) if f.evidence.get("form") == "val-below"] == []


def test_a_dqn_reward_that_only_fell_from_its_random_start_is_no_learning_at_info():
    # SB3 DQN on highway-env (extra26): the exploring policy's 100-episode mean starts near 10-15,
    # falls to ~6.5 as epsilon anneals and stays there; no entropy is logged
    steps = np.arange(75, 20000, 33)
    rng = np.random.default_rng(9)
    level = 6.6 + 8.0 * np.exp(-steps / 2000)
    ctx = _ctx({"rollout/ep_rew_mean": (steps, level + rng.normal(0, 0.3, steps.size)),
                "rollout/ep_len_mean": (steps, 1.2 * level), "train/loss": (steps, 0.1 + rng.uniform(0, 0.05, steps.size))})
    assert ctx.workload == "rl" and ctx.tag(Role.ENTROPY) is None
    (f,) = _detect("no-learning", ctx)
    assert f.severity.value == "info" and "never rose above its initial level" in f.summary and "epsilon-greedy" in f.summary


# -- an RL agent's gradient norm (extra28's DQN whose Q-values diverged) -------------------------


def _dqn(growth: float):
    steps = np.arange(0, 60000, 200)
    t = np.linspace(0, 1, steps.size)
    rng = np.random.default_rng(11)
    return _ctx({
        "rollout/ep_rew_mean": (steps, 20 + 100 * np.sin(np.pi * t) + rng.normal(0, 3, steps.size)),
        "train/loss": (steps, 0.5 * growth ** t * rng.lognormal(0, 0.2, steps.size)),
        "train/grad_norm": (steps, 14 * growth ** t * rng.lognormal(0, 0.2, steps.size)),
    })


def test_an_agents_gradient_norm_grown_by_orders_of_magnitude_is_exploding_gradients():
    ctx = _dqn(1e8)
    assert ctx.workload == "rl"
    (f,) = _detect("exploding-gradients", ctx)
    assert f.severity.value == "critical" and f.evidence["growth"] > 1e4 and f.remedies[0].action == "clip_grad_norm"


def test_an_agents_gradient_norm_grown_with_its_returns_is_not():
    # a value head fitting returns that grow 50-fold grows its gradient as much, its loss with it
    assert _detect("exploding-gradients", _dqn(300.0)) == []
