"""Healthy shapes stay silent at warning level; each injected fault is found, ranked first."""

import numpy as np
import pytest

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from advisor.model import Severity
from tests import synth

ENGINE = Engine.from_config()


def diagnose(curves, **kw):
    run = synth.run_of(curves, **kw)
    report = diagnose_run(run, ENGINE).report
    assert report.problems == ()
    return report.findings


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", list(synth.HEALTHY))
def test_healthy_runs_have_no_warnings(shape, seed):
    findings = diagnose(synth.HEALTHY[shape](seed))
    loud = [(f.condition, f.summary) for f in findings if f.severity.rank >= Severity.WARNING.rank]
    assert loud == []


CASES = {
    "overfitting": (lambda s: synth.overfitting(s), "overfitting"),
    "divergence": (lambda s: synth.divergence(s), "divergence"),
    "nan_sudden": (lambda s: synth.nan_after(1200, s), "non-finite"),
    "nan_exploding": (lambda s: synth.nan_after(1200, s, growing_grads=True), "exploding-gradients"),
    "no_learning": (lambda s: synth.no_learning(s), "no-learning"),
    "slow": (lambda s: synth.slow(s), "slow-convergence"),
    "plateau": (lambda s: synth.plateau(s), "plateau"),
    "unshuffled": (lambda s: synth.unshuffled(s), "unshuffled-data"),
    "short_schedule": (lambda s: synth.short_schedule(s), "schedule-misconfigured"),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", list(CASES))
def test_pathology_found_and_first(case, seed):
    make, expected = CASES[case]
    findings = diagnose(make(seed))
    assert findings, f"{case}: nothing found"
    assert findings[0].condition == expected, [f.condition for f in findings]
    assert findings[0].priority == 1
    assert findings[0].remedies, "a finding must carry remedies"


def test_nan_from_inputs_recommends_sanitizing_first():
    c = synth.healthy_step_decay(0, 2000)
    s, v = c["train/loss"]
    c["train/loss"] = (s, np.full_like(v, np.nan))
    c["train/grad_norm"] = (s, np.ones_like(v))
    f = diagnose(c)[0]
    assert f.condition == "non-finite" and f.evidence["cause"] == "inputs"
    assert f.remedies[0].action == "sanitize_inputs"


def test_nan_after_exploding_gradients_clips_first():
    findings = diagnose(synth.nan_after(1200, 0, growing_grads=True))
    assert [f.condition for f in findings][:2] == ["exploding-gradients", "non-finite"]
    assert findings[0].remedies[0].action == "clip_grad_norm"
    assert findings[1].evidence["explained_by"] == "exploding-gradients"
    # the clip threshold comes from the healthy part of the norm (about 1.0-1.1 here)
    assert 0.5 < findings[0].remedies[0].params["max_norm"] < 2.0


def test_overfitting_early_stop_at_best_val_step():
    f = diagnose(synth.overfitting(0))[0]
    stop = f.remedies[0]
    assert stop.action == "early_stop" and stop.params["restore_best"] is True
    assert stop.params["step"] == f.evidence["best_step"]
    # validation bottoms out around 30-45% of the 3000 steps in this construction
    assert 700 <= f.evidence["best_step"] <= 1500
    assert "wasted" in str(f.evidence) or f.evidence["wasted_fraction"] > 0.4


def test_overfitting_downgraded_when_val_accuracy_still_improves():
    c = synth.overfitting(0)
    vs, _ = c["val/loss"]
    c["val/accuracy"] = (vs, np.linspace(0.5, 0.9, len(vs)))
    f = [x for x in diagnose(c) if x.condition == "overfitting"][0]
    assert f.severity == Severity.INFO and f.evidence["task_metric_still_improving"]


def test_still_improving_suppressed_by_overfitting_but_found_alone():
    n = 2000
    steps = np.arange(n)
    rng = np.random.default_rng(0)
    train = 2.3 - 1.5 * steps / n + rng.normal(0, 0.01, n)  # still falling fast at the end
    train = 0.3 + 2.0 * np.exp(-steps / 1500) + rng.normal(0, 0.01, n)
    vs = steps[::100]
    val = 0.4 + 2.0 * np.exp(-vs / 1500)
    conds = [f.condition for f in diagnose({"train/loss": (steps, train), "val/loss": (vs, val), "train/lr": (steps, np.full(n, 0.1))})]
    assert "still-improving" in conds


def test_vanishing_gradients_per_layer_explains_no_learning():
    c = synth.no_learning(0)
    s, _ = c["train/loss"]
    for i in range(6):
        c[f"train/grad_norm/layers.{i}.weight"] = (s, np.full(len(s), 10.0 ** (i - 8)))
    findings = diagnose(c, config={"model": {"activation": "sigmoid"}})
    conds = [f.condition for f in findings]
    assert conds[0] == "vanishing-gradients" and "no-learning" in conds
    assert findings[0].severity == Severity.CRITICAL  # raised to what it explains
    assert findings[0].remedies[0].action == "activation" and findings[0].remedies[0].params["name"] == "relu"


def test_clipping_saturated():
    n = 1000
    steps = np.arange(n)
    c = synth.healthy_step_decay(0, n)
    c["train/grad_norm"] = (steps, 5.0 + np.random.default_rng(0).random(n))
    f = [x for x in diagnose(c, hparams={"max_grad_norm": 1.0}) if x.condition == "clipping-saturated"]
    assert f and f[0].evidence["clipped_share"] > 0.99 and f[0].remedies[0].action == "scale_lr"
    assert f[0].severity == Severity.WARNING  # median norm 5.5x the threshold: the clip sets every step


def test_clipping_every_step_by_a_modest_factor_is_advice():
    # Hugging Face's default max_grad_norm 1.0 under norms of 2-3 (a fine-tune at its usual rate):
    # every step is shortened 2-3x, an ordinary rate adjustment, not the clip taking over
    n = 1000
    steps = np.arange(n)
    c = synth.healthy_step_decay(0, n)
    c["train/grad_norm"] = (steps, 2.0 + 0.5 * np.random.default_rng(0).random(n))
    f = [x for x in diagnose(c, hparams={"max_grad_norm": 1.0}) if x.condition == "clipping-saturated"]
    assert f and f[0].evidence["clipped_share"] > 0.99 and f[0].severity == Severity.INFO


def test_bad_initial_loss_only_with_known_classes():
    c = synth.healthy_step_decay(0, 2000)
    s, v = c["train/loss"]
    c["train/loss"] = (s, v * 8)  # starts near 18 instead of ln(10)
    assert "bad-initial-loss" not in [f.condition for f in diagnose(c)]
    f = [x for x in diagnose(c, hparams={"num_classes": 10}) if x.condition == "bad-initial-loss"]
    assert f and f[0].evidence["classes"] == 10 and f[0].severity == Severity.INFO


def test_val_below_train_with_strong_dropout():
    n = 2000
    steps = np.arange(n)
    train = 1.5 + 0.8 * np.exp(-steps / 300)
    vs = steps[::100]
    val = 0.3 + 0.8 * np.exp(-vs / 300)
    f = [x for x in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)}, config={"model": {"dropout": 0.8}}) if x.condition == "val-below-train"]
    assert f and f[0].remedies[0].action == "dropout" and f[0].remedies[0].params["rate"] < 0.8


def test_data_mismatch_train_flat_val_falls():
    n = 2000
    steps = np.arange(n)
    rng = np.random.default_rng(1)
    train = 1.0 + rng.normal(0, 0.01, n)
    vs = steps[::100]
    val = 0.5 + 1.0 * np.exp(-vs / 500)
    conds = [f.condition for f in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)})]
    assert "data-mismatch" in conds and "no-learning" not in conds


def test_gradient_noise_batch_one():
    n = 6000
    steps = np.arange(n)
    rng = np.random.default_rng(2)
    clean = 0.2 + 2.1 * np.exp(-steps / 1000)
    loss = clean * rng.exponential(1.0, n)  # per-example losses: spread as large as the level
    f = [x for x in diagnose({"train/loss": (steps, loss)}, hparams={"batch_size": 1}) if x.condition == "gradient-noise"]
    assert f and f[0].remedies[0].action == "batch_size" and f[0].remedies[0].params["value"] == 32


def test_lr_decay_needed_constant_lr_flat_end():
    n = 3000
    steps = np.arange(n)
    rng = np.random.default_rng(3)
    loss = (0.5 + 1.8 * np.exp(-steps / 300)) * (1 + rng.normal(0, 0.1, n))
    conds = {f.condition: f for f in diagnose({"train/loss": (steps, loss), "train/lr": (steps, np.full(n, 0.1))})}
    f = conds["lr-decay-needed"]
    assert f.remedies[0].action == "lr_schedule" and f.remedies[0].params["min_lr"] == pytest.approx(1e-4)


def test_noisy_validation():
    n = 3000
    steps = np.arange(n)
    train = 0.5 + 1.8 * np.exp(-steps / 500)
    vs = steps[::100]
    val = 0.8 + 0.1 * np.exp(-vs / 500) + np.random.default_rng(4).normal(0, 0.1, len(vs))
    assert "noisy-validation" in [f.condition for f in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)})]



def test_val_noise_echoing_a_bouncing_model_is_not_blamed_on_the_val_set():
    # Val noise comparable to its improvement, beside a train loss that bounces as much from bin to
    # bin (a rate at its noise floor, an oscillating model), is the model's own movement: "the val
    # set is too small" would send the user to the wrong knob. Beside a calm train loss it is the
    # val set's.
    n = 3000
    steps = np.arange(n)
    rng = np.random.default_rng(4)
    vs = steps[::300]
    val = 0.8 + 0.1 * np.exp(-vs / 500) + rng.normal(0, 0.05, len(vs))
    calm = 0.5 + 1.8 * np.exp(-steps / 500)
    bouncing = calm * np.repeat(np.exp(rng.normal(0, 0.12, n // 10)), 10)
    assert "noisy-validation" in [f.condition for f in diagnose({"train/loss": (steps, calm), "val/loss": (vs, val)})]
    assert "noisy-validation" not in [f.condition for f in diagnose({"train/loss": (steps, bouncing), "val/loss": (vs, val)})]


def test_underfitting_flat_high_loss_val_close():
    n = 3000
    steps = np.arange(n)
    rng = np.random.default_rng(5)
    train = 0.55 + 0.14 * np.exp(-steps / 200) + rng.normal(0, 0.005, n)
    vs = steps[::100]
    val = 0.56 + 0.14 * np.exp(-vs / 200)
    f = [x for x in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)}) if x.condition == "underfitting"]
    assert f and f[0].remedies[0].action == "capacity"


def test_oscillation_per_step_swings():
    n = 4000
    steps = np.arange(n)
    rng = np.random.default_rng(6)
    # aperiodic swings: a persistent AR(1) process around a level the run never leaves
    swing = np.zeros(n)
    for i in range(1, n):
        swing[i] = 0.99 * swing[i - 1] + rng.normal(0, 0.05)
    loss = 1.2 + swing + 0.4 * np.exp(-steps / 200) + rng.normal(0, 0.05, n)
    f = [x for x in diagnose({"train/loss": (steps, loss)}, hparams={"batch_size": 128}) if x.condition == "oscillation"]
    assert f and f[0].remedies[0].action == "scale_lr"


def test_layer_depth_order_puts_heads_last():
    from advisor.rules.vanishing_gradients import depth_key

    names = ["train/grad_norm/head", "train/grad_norm/hidden.10.linear", "train/grad_norm/hidden.2.linear", "train/grad_norm/embed", "train/grad_norm/classifier.weight"]
    assert sorted(names, key=depth_key) == [
        "train/grad_norm/embed",
        "train/grad_norm/hidden.2.linear",
        "train/grad_norm/hidden.10.linear",
        "train/grad_norm/classifier.weight",
        "train/grad_norm/head",
    ]


def _stall_to_end(seed: int, n: int, stall_at: float, tail_slope: float = 0.0):
    """Loss falls fast, then sits (with per-step noise) from ``stall_at`` of the run to its end."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    t0 = stall_at * n
    clean = np.where(steps < t0, 2.3 - 1.6 * steps / t0, 0.7 - tail_slope * (steps - t0) / n)
    return steps, clean * (1 + rng.normal(0, 0.05, n))


@pytest.mark.parametrize("seed", range(3))
def test_plateau_that_lasts_is_reported_at_info_with_its_start(seed):
    steps, loss = _stall_to_end(seed, 3000, 0.15)
    found = {f.condition: f for f in diagnose({"train/loss": (steps, loss)})}
    f = found["plateau"]
    assert f.severity is Severity.INFO and f.evidence["form"] == "lasting"
    assert 300 <= f.evidence["step_range"][0] <= 700  # the stall began at step 450
    assert f.evidence["plateau_fraction_of_run"] >= 0.7
    assert f.remedies[0].action == "early_stop"


@pytest.mark.parametrize("seed", range(3))
def test_no_lasting_plateau_when_the_tail_still_improves_or_is_short(seed):
    steps, loss = _stall_to_end(seed, 3000, 0.15, tail_slope=0.4)  # keeps falling: 0.7 -> 0.42
    assert "plateau" not in {f.condition for f in diagnose({"train/loss": (steps, loss)})}
    steps, loss = _stall_to_end(seed, 3000, 0.5)  # only the last half is flat: converged, not stuck
    assert "plateau" not in {f.condition for f in diagnose({"train/loss": (steps, loss)})}


def test_lasting_plateau_on_a_few_epochs():
    epochs = np.arange(15)
    loss = np.array([34.1, 31.2, 29.0, 28.97, 28.92, 28.97, 28.97, 28.96, 28.92, 28.93, 28.9, 28.9, 28.88, 28.85, 28.83])
    val = loss + np.array([0.1, -1.5, 1.4, 0.7, 0.7, 2.0, 1.1, 1.0, 1.7, 1.4, 2.0, 0.7, 1.2, 0.9, 0.8])
    found = {f.condition: f for f in diagnose({"train/epoch_loss": (epochs, loss), "validation/epoch_loss": (epochs, val)})}
    assert found["plateau"].evidence["step_range"][0] <= 3


def test_bad_initial_loss_without_a_class_count_needs_a_classifier_and_an_impossible_start():
    rng = np.random.default_rng(0)
    steps = np.arange(600)
    loss = 0.3 + 25.0 * np.exp(-steps / 20) + rng.normal(0, 0.02, 600)
    acc = np.clip(0.9 - 0.6 * np.exp(-steps / 50), 0, 1)
    found = {f.condition: f for f in diagnose({"train/loss": (steps, loss), "train/accuracy": (steps, acc)})}
    assert found["bad-initial-loss"].evidence["classes"] is None
    assert found["bad-initial-loss"].remedies[0].action == "check_data"
    # a regression loss of that size is just its scale: no accuracy, no finding
    assert "bad-initial-loss" not in {f.condition for f in diagnose({"train/loss": (steps, loss)})}


def test_a_first_point_no_initialisation_gives_is_bad_even_when_the_next_is_logged_100_steps_on():
    # a TF1 DNNClassifier on raw 0-255 pixels (extra9 real run): loss 75 at global step 1, then
    # every 100 steps near 0.8; the median of the first three points hid the 75
    rng = np.random.default_rng(1)
    steps = np.concatenate([[1], np.arange(101, 27002, 100)])
    loss = 0.7 + 0.1 * np.exp(-steps / 3000) + rng.normal(0, 0.01, steps.size)
    loss[0] = 75.2
    vs = np.concatenate([[1], np.arange(1001, 27002, 1000)])
    acc = np.concatenate([[0.5], 0.69 - 0.04 * np.exp(-vs[1:] / 3000)])
    curves = {"loss": (steps, loss), "eval/accuracy": (vs, acc)}
    found = {f.condition: f for f in diagnose(curves)}
    assert found["bad-initial-loss"].evidence["first_loss"] == pytest.approx(75.2)
    # a first point a uniform output over some C could give is not enough without the class count
    loss[0] = 5.0
    assert "bad-initial-loss" not in {f.condition for f in diagnose(curves)}


def test_overfitting_on_three_evaluations_is_info_and_says_the_n():
    steps = np.arange(10, 9371, 10)
    train = 0.7 * np.exp(-steps / 800) + 0.15 * (1 - steps / 9370) + 0.03
    val = ([3125, 6250, 9375], [0.2626, 0.268, 0.2986])
    f = {x.condition: x for x in diagnose({"train/loss": (steps, train), "eval/loss": val})}["overfitting"]
    assert f.severity is Severity.INFO and f.evidence["evaluations"] == 3
    assert "too few to be sure" in f.summary and f.remedies[0].action == "early_stop"
    # the same three points falling: nothing
    falling = ([3125, 6250, 9375], [0.2986, 0.268, 0.2626])
    assert "overfitting" not in {x.condition for x in diagnose({"train/loss": (steps, train), "eval/loss": falling})}


def test_overfitting_when_the_gap_keeps_widening_while_val_creeps_down():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 20000, 10)
    train = 20 * np.exp(-steps / 6000) + 0.5 + rng.normal(0, 0.1, steps.size)
    vs = steps[::40]
    val = 20 - 10 * (1 - np.exp(-vs / 2500)) + rng.normal(0, 0.03, vs.size)
    f = {x.condition: x for x in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)})}["overfitting"]
    assert f.severity is Severity.INFO and f.evidence["form"] == "widening-gap"
    assert f.evidence["val_over_train_end"] > f.evidence["val_over_train_mid"]


def test_class_sorted_data_that_never_learns_ranks_the_order_before_the_symptom():
    rng = np.random.default_rng(0)
    per_epoch, epochs = 50, 12
    steps = np.arange(per_epoch * epochs)
    phase = (steps % per_epoch) / per_epoch
    # chasing the current class: the loss is low within a class block, high at each switch
    loss = 2.3 + 0.8 * np.sin(2 * np.pi * 5 * phase) * (1 - 0.2 * phase) + rng.normal(0, 0.1, steps.size)
    findings = diagnose({"train/loss": (steps, loss)}, hparams={"num_classes": 10, "steps_per_epoch": per_epoch})
    names = [f.condition for f in findings]
    assert names[0] == "unshuffled-data", names
    assert findings[0].remedies[0].action == "shuffle"
    assert all(r.action != "scale_lr" or r.params["factor"] < 1 for f in findings[:1] for r in f.remedies)


@pytest.mark.parametrize("seed", range(3))
def test_tiny_train_set_memorised_is_not_advised_to_train_longer(seed):
    rng = np.random.default_rng(seed)
    steps = np.arange(3000)
    train = (0.07 + 2.2 * np.exp(-steps / 700)) * (1 + rng.normal(0, 0.05, steps.size))
    vs = steps[::100]
    val = 0.85 + 1.45 * np.exp(-vs / 150) + rng.normal(0, 0.01, vs.size)
    findings = diagnose({"train/loss": (steps, train), "val/loss": (vs, val)})
    names = [f.condition for f in findings]
    assert "still-improving" not in names
    assert names[0] == "overfitting", names


def test_a_test_loss_far_above_validation_is_a_data_mismatch():
    c = synth.healthy_step_decay(0, 2000)
    vs, val = c["val/loss"]
    c["test/loss"] = (vs, val * 70)
    f = {x.condition: x for x in diagnose(c)}["data-mismatch"]
    assert f.evidence["form"] == "test-vs-val" and f.evidence["test_over_val"] > 60
    assert f.remedies[0].action == "check_data"
    c["test/loss"] = (vs, val * 1.2)  # a test set a little harder than validation is normal
    assert "data-mismatch" not in {x.condition for x in diagnose(c)}


def test_cosine_running_past_its_period_is_misconfigured_but_warm_restarts_are_not():
    c = synth.healthy_step_decay(0, 2000)
    steps = c["train/loss"][0]
    t_max = 500  # CosineAnnealingLR with T_max a quarter of the run: 0 at 500, back up at 1000, ...
    c["train/lr"] = (steps, 0.05 * (1 + np.cos(np.pi * steps / t_max)) / 2)
    f = {x.condition: x for x in diagnose(c)}["schedule-misconfigured"]
    assert f.evidence["form"] == "past-horizon" and 450 <= f.evidence["floor_step"] <= 520
    assert f.remedies[0].params["horizon"] >= 1999
    c["train/lr"] = (steps, 0.05 * (1 + np.cos(np.pi * (steps % t_max) / t_max)) / 2)  # SGDR: abrupt restarts
    assert "schedule-misconfigured" not in {x.condition for x in diagnose(c)}


def test_warmup_from_zero_then_cosine_is_not_a_schedule_past_its_horizon():
    c = synth.healthy_step_decay(0, 2000)
    steps = c["train/loss"][0]
    warm = np.minimum(steps / 100, 1.0)
    c["train/lr"] = (steps, 3e-3 * warm * (1 + np.cos(np.pi * steps / 2000)) / 2)
    assert "schedule-misconfigured" not in {x.condition for x in diagnose(c)}


def test_a_small_rise_that_settles_is_not_divergence_but_a_blowup_that_settles_is():
    epochs = np.arange(10)
    settle = np.array([0.5224, 0.5595, 0.5615, 0.562, 0.5624, 0.5627, 0.5628, 0.563, 0.5631, 0.5632])
    assert "divergence" not in {f.condition for f in diagnose({"train/epoch_loss": (epochs, settle)})}
    steps = np.arange(600)
    fall = 2.3 * np.exp(-steps / 60) + 0.05
    blow = np.where(steps < 250, fall, np.minimum(0.05 * np.exp((steps - 250) / 40), 2.3)) + np.random.default_rng(0).normal(0, 0.01, 600)
    assert "divergence" in {f.condition for f in diagnose({"train/loss": (steps, blow)})}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("upto", [500, 750, 1000])
def test_a_short_prefix_of_a_noisy_small_batch_run_is_not_a_rate_too_high(seed, upto):
    # a live monitor sees the first few hundred steps: two or three noisy points per bin, whose
    # medians climb above the start by chance — not the loss being thrown back
    c = synth.healthy_noisy_small_batch(seed)
    prefix = {k: (s[s < upto], v[s < upto]) for k, (s, v) in c.items()}
    assert "lr-too-high" not in {f.condition for f in diagnose(prefix)}


def test_a_stall_escaped_quickly_onto_a_long_floor_is_a_plateau():
    # An LSTM on the adding problem: the loss sits at the task's variance (~1.0, noisy minibatches)
    # for 40% of the run, escapes within a few dozen steps, then sits near zero. The escape's
    # slope was measured over a window as long as the stall — mostly the converged floor, as flat
    # as the stall's own drift — and the stall was not reported.
    n = 800
    steps = np.arange(n)
    rng = np.random.default_rng(8)
    level = np.where(steps < 320, 1.0, 0.004 + 0.9 * np.exp(-(steps - 320) / 25.0))
    train = level * np.exp(rng.normal(0, 0.12, n))
    found = [f for f in diagnose({"train/loss": (steps, train)}) if f.condition == "plateau"]
    assert found and found[0].severity.rank >= Severity.WARNING.rank
    assert found[0].evidence["step_range"][0] < 20 and 250 < found[0].evidence["step_range"][1] <= 330


def test_one_batch_noise_over_a_steady_decline_that_validation_shows_is_no_plateau():
    # SGD at batch 8, one minibatch every 10 steps: the train points scatter so widely that a band
    # of eight noise widths holds the first 60% of the run (drifting down within it), and the
    # escape after it is steep — but validation, evaluated whole every 8 steps, fell steadily all
    # the while: no stall
    steps = np.arange(0, 800, 10)
    rng = np.random.default_rng(11)
    level = 0.07 + 0.62 * np.exp(-np.maximum(steps - 100, 0) / 260.0)
    train = np.clip(level * np.exp(rng.normal(0, 0.45, steps.size)), 1e-3, None)
    early = steps < 480
    train[early] = np.clip(0.64 - 0.1 * steps[early] / 480 + rng.normal(0, 0.1, int(np.sum(early))), 0.2, None)
    vs = np.arange(8, 801, 8)
    val = 0.06 + 0.62 * np.exp(-np.maximum(vs - 60, 0) / 240.0) + rng.normal(0, 0.01, vs.size)
    alone = [f for f in diagnose({"train/loss": (steps, train)}) if f.condition == "plateau"]
    assert alone and alone[0].severity.rank >= Severity.WARNING.rank  # the train loss alone reads as one
    with_val = diagnose({"train/loss": (steps, train), "val/loss": (vs, val)})
    assert [f for f in with_val if f.condition == "plateau" and f.severity.rank >= Severity.WARNING.rank] == []


def test_train_labels_corrupted_validation_falls_then_sits_is_a_data_mismatch():
    # Lightning, train labels shuffled: the train loss sits near ln 3 the whole run while the val
    # loss (10 evaluations) falls 18% and then sits at its floor. Its trend over all ten is diluted
    # by the floor (z -2.5); up to its best evaluation it is a clean fall. A train loss thrown far
    # above its start and back with validation (a rate far too high) is not flat, though.
    steps = np.arange(9, 1000, 10)
    rng = np.random.default_rng(12)
    train = 1.1 - 0.05 * steps / 1000 + rng.normal(0, 0.04, steps.size)
    vs = np.arange(99, 1000, 100)
    val = np.array([0.979, 0.895, 0.844, 0.824, 0.814, 0.805, 0.802, 0.806, 0.807, 0.807])
    got = [f for f in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)}) if f.condition == "data-mismatch"]
    assert got and got[0].severity is Severity.WARNING
    thrown = train.copy()
    thrown[2:12] = [6.0, 9.0, 12.0, 9.5, 7.0, 5.0, 3.5, 2.4, 1.6, 1.2]
    thrown_val = np.array([3.1, 2.6, 2.4, 2.35, 2.33, 2.32, 2.32, 2.33, 2.32, 2.32]) * 1.1 / 2.3
    assert "data-mismatch" not in [f.condition for f in diagnose({"train/loss": (steps, thrown), "val/loss": (vs, thrown_val)})]


def test_a_val_loss_that_jumps_up_after_its_minimum_and_stays_up_is_overfitting():
    # An EEG CNN (Lightning, 20 evaluations): train loss driven to ~0.0004, validation lowest at
    # its second evaluation (0.83) and then bouncing around 1.14 — a level shift whose trend after
    # the jump is flat (Mann-Kendall z 0.98), which the trend test alone missed
    steps = np.arange(0, 1820, 10)
    train = 0.2 * np.exp(-steps / 150.0) + 3e-4
    vs = np.arange(90, 1820, 91)
    val = np.array([0.8358, 0.8339, 1.358, 0.855, 0.856, 1.233, 0.984, 1.301, 1.345, 0.908, 1.09, 1.048, 1.26,
                    1.227, 0.944, 1.271, 1.284, 1.131, 1.13, 1.094])
    got = [f for f in diagnose({"train/loss": (steps, train), "val/loss": (vs, val)}) if f.condition == "overfitting"]
    assert got and got[0].severity is Severity.WARNING and got[0].evidence["best_step"] <= 200


def test_a_small_rise_that_gives_back_validations_small_gain_is_info_overfitting():
    # A weak classifier over 300 epochs: validation gained only 0.05 (2.003 -> 1.955 by epoch 37)
    # and then rose steadily back to 2.003 while train fell 1.95 -> 1.81. A 2.5% rise is small
    # against the level, but it gives back all that validation had gained: worth saying, at info
    n = 300
    steps = np.arange(n) * 48 + 47
    rng = np.random.default_rng(13)
    train = 2.04 - 0.23 * (1 - np.exp(-np.arange(n) / 150.0)) + rng.normal(0, 0.002, n)
    k = np.arange(n)
    val = np.where(k < 37, 2.003 - 0.048 * (1 - np.exp(-k / 10.0)) / (1 - np.exp(-3.7)), 1.955 + 0.048 * (k - 37) / 263) + rng.normal(0, 0.0015, n)
    got = [f for f in diagnose({"train/loss": (steps, train), "val/loss": (steps, val)}) if f.condition == "overfitting"]
    assert got and got[0].severity is Severity.INFO and got[0].evidence["gave_back"] > 0.5


def test_a_per_step_loss_that_starts_after_the_fall_is_not_no_learning_when_its_epoch_twin_shows_the_fall():
    # Lightning, self.log(on_step=True, on_epoch=True), every 50 steps: the model learned inside
    # the first 49 steps, so train_loss_step is flat from its first point (0.174 -> 0.170), while
    # train_loss_epoch's first value, the first epoch's mean, holds the fall (0.324). "Stayed at
    # its initial level" would be false: nothing logged shows the initial level but that twin.
    rng = np.random.default_rng(14)
    steps = np.arange(49, 1000, 50)
    step_loss = 0.172 + rng.normal(0, 0.002, steps.size)
    epoch_loss = np.concatenate(([0.324], 0.172 - 0.01 * np.arange(19) / 19))
    vs = steps
    val = 0.166 + rng.normal(0, 0.005, vs.size)
    curves = {"train_loss_step": (steps, step_loss), "train_loss_epoch": (steps, epoch_loss), "val_loss": (vs, val)}
    assert "no-learning" not in [f.condition for f in diagnose(curves)]
    flat_twin = {**curves, "train_loss_epoch": (steps, np.full(steps.size, 0.171))}
    assert "no-learning" in [f.condition for f in diagnose(flat_twin)]


def test_a_per_example_binary_loss_that_ends_at_ln2_is_no_learning_not_a_rate_too_high():
    # An LSTM with hidden_size 1 and batch size 1 (Lightning, BCE declared as the criterion):
    # each logged step is one example's loss, near 0.4 or near 1.1 by its label, so one early
    # point at 1.16 is no jump — the rest of the run reaches it again and again, which the
    # point-to-point noise (small within a mode) did not see: it read critical lr-too-high. The
    # epoch means (0.765 -> 0.700) settle at ln 2: nothing beyond the uniform output was learned.
    rng = np.random.default_rng(15)
    steps = np.arange(49, 1900, 50)
    high = rng.random(steps.size) < 0.4
    step_loss = np.where(high, 1.0 + rng.normal(0, 0.08, steps.size), 0.45 + rng.normal(0, 0.05, steps.size))
    step_loss[:5] = [0.809, 0.331, 0.365, 0.347, 1.163]
    esteps = np.arange(189, 1900, 190)
    epoch_loss = np.array([0.7647, 0.7467, 0.7351, 0.7259, 0.7187, 0.713, 0.7085, 0.7051, 0.7024, 0.7003])
    curves = {"train_loss_step": (steps, step_loss), "train_loss_epoch": (esteps, epoch_loss)}
    found = diagnose(curves, hparams={"criterion": "<function binary_cross_entropy at 0x1>", "learning_rate": 1e-3})
    assert "lr-too-high" not in [f.condition for f in found]
    assert found and found[0].condition == "no-learning" and found[0].evidence["form"] == "at-chance"


def test_a_calm_stall_stays_a_plateau_though_a_noisy_val_metric_improved_meanwhile():
    # A binary classifier, one point per epoch: the train loss sits calm at 0.45 (AUROC at chance)
    # for the first 30 of 92 epochs, then falls to 0.15. Its "val loss" (1 - accuracy on ~85
    # images) dropped from 0.8 to 0.2 in one step during the stall; the train loss did not drift
    # down at all, so this is no steady decline hidden by noise: the stall stands.
    rng = np.random.default_rng(16)
    steps = np.arange(92) * 625 + 624
    train = np.where(np.arange(92) < 30, 0.45 + rng.normal(0, 0.012, 92), 0.14 + 0.31 * np.exp(-(np.arange(92) - 30) / 15.0))
    val = np.where(np.arange(92) < 18, 0.8, np.where(np.arange(92) < 30, 0.2, 0.2 * np.exp(-(np.arange(92) - 30) / 20.0)))
    val = np.clip(val + rng.normal(0, 0.03, 92), 0.01, 1.0)
    found = [f for f in diagnose({"train/loss": (steps, train), "val/loss": (steps, val)}) if f.condition == "plateau"]
    assert found and found[0].severity is Severity.WARNING and found[0].evidence["step_range"][1] <= 30 * 625 + 624


def test_a_loss_flat_at_ln2_then_falling_is_a_plateau_not_a_steady_slow_fall():
    # A binary model (Lightning, every 50 steps): train loss exactly at ln 2 for the first 55% of
    # the run, then falling to 0.648 — the second half fell 27x as much as the first. That is a
    # stall and an escape, not a loss "falling steadily but slowly" at one pace.
    rng = np.random.default_rng(17)
    steps = np.arange(49, 1100, 50)
    k = np.arange(steps.size)
    train = np.where(k < 12, 0.693 + rng.normal(0, 0.001, steps.size), 0.693 - 0.045 * (k - 11) / 10)
    vs = np.arange(109, 1100, 110)
    val = np.array([0.6932, 0.6933, 0.6931, 0.6930, 0.6910, 0.6828, 0.6667, 0.6514, 0.6466, 0.6404])
    names = [f.condition for f in diagnose({"train_loss_step": (steps, train), "val_loss": (vs, val)})]
    assert "slow-convergence" not in names


def test_a_stall_escaped_in_stages_is_a_plateau():
    # The adding problem again (seed 40): the loss sits at ~1.0 until 60% of the run, drops to a
    # second ledge at ~0.45, and only then falls to 0.02. Over the escape to three quarters of the
    # way down, the ledge flattens the slope; over a window as long as the stall it is steep.
    n = 800
    steps = np.arange(n)
    rng = np.random.default_rng(18)
    # the stall drifts down a little (1.06 -> 0.94), as a real one does
    level = np.where(steps < 480, 1.06 - 0.12 * steps / 480, np.where(steps < 600, 0.47, 0.02 + 0.45 * np.exp(-(steps - 600) / 30.0)))
    train = level * np.exp(rng.normal(0, 0.12, n))
    found = [f for f in diagnose({"train/loss": (steps, train)}) if f.condition == "plateau"]
    assert found and found[0].severity is Severity.WARNING and 400 < found[0].evidence["step_range"][1] <= 490


def test_a_warmup_over_half_the_run_is_the_schedule_not_a_rate_too_small():
    # A BERT fine-tune for one epoch (HF Trainer, every 10 steps): warmup_steps=500 of 938, the
    # loss at chance until the rate arrives, then a slow fall. It read "slow-convergence at lr
    # 4e-07 -> scale_lr x10" (the warmup's first value) beside the schedule finding; the fix is the
    # warmup, and a 2e-5 fine-tune raised tenfold would be worse.
    rng = np.random.default_rng(19)
    steps = np.arange(10, 940, 10)
    lr = np.where(steps <= 500, 4e-7 + (2e-5 - 4e-7) * steps / 500, 2e-5 - 0.4e-5 * (steps - 500) / 438)
    loss = np.where(steps < 470, 1.946 - 0.04 * steps / 470, 1.906 - 0.15 * (steps - 470) / 470) + rng.normal(0, 0.01, steps.size)
    found = diagnose({"train/loss": (steps, loss), "train/learning_rate": (steps, lr)})
    names = [f.condition for f in found]
    assert "schedule-misconfigured" in names and "slow-convergence" not in names
    assert not any(r.action == "scale_lr" and r.params.get("factor", 1) > 1 for f in found for r in f.remedies)
    # 53% of the run: worth knowing (info); the run still spent 47% at its peak rate. A warmup
    # still rising at 90% of the run barely trained at its rate: a warning
    sched = next(f for f in found if f.condition == "schedule-misconfigured")
    assert sched.severity is Severity.INFO and sched.evidence["warmup_share"] < 0.75
    long_lr = 4e-7 + (2e-5 - 4e-7) * np.minimum(steps, 850) / 850
    sched = [f for f in diagnose({"train/loss": (steps, loss), "train/learning_rate": (steps, long_lr)}) if f.condition == "schedule-misconfigured"]
    assert sched and sched[0].severity is Severity.WARNING


def test_a_smooth_loss_that_sat_at_one_level_then_fell_far_is_a_plateau_lower_in_the_fall():
    # A forecasting model, one epoch mean per epoch: 0.65 -> 0.30 in 40 epochs, then 0.2992-0.2996
    # for 160 epochs, then down to 0.17. The stall sits low in the whole fall (27% of it above the
    # end), where the early form does not look. Info without a logged rate (a scheduled drop of
    # the rate looks the same); a warning when the logged rate stayed level across the fall.
    e = np.arange(1000)
    loss = np.where(e < 40, 0.30 + 0.35 * np.exp(-e / 8.0), np.where(e < 220, 0.2994 + 0.0002 * np.sin(e), 0.17 + 0.1294 * np.exp(-(e - 220) / 200.0)))
    found = [f for f in diagnose({"train_loss_epoch": (e, loss)}) if f.condition == "plateau"]
    assert found and found[0].severity is Severity.INFO and found[0].evidence["form"] == "tight"
    level_lr = {"train_loss_epoch": (e, loss), "lr-Adam": (e, np.full(e.size, 1e-3))}
    assert [f.severity for f in diagnose(level_lr) if f.condition == "plateau"] == [Severity.WARNING]
    dropped = {"train_loss_epoch": (e, loss), "lr-Adam": (e, np.where(e < 220, 1e-3, 1e-4))}
    assert [f.severity for f in diagnose(dropped) if f.condition == "plateau"] == [Severity.INFO]


def test_a_loss_thrown_orders_of_magnitude_up_until_the_schedule_annealed_is_a_rate_too_high():
    # NeuralProphet with a one-cycle peak rate of 9.9, one point per epoch: the loss went from 0.68
    # to ~10^4 and stayed there until the annealing brought it back to 0.002 at the end. It read
    # only gradient-noise (info), whose noise is the fall back down; no minibatch noise throws a
    # loss 10,000x above its start, even once.
    rng = np.random.default_rng(20)
    e = np.arange(142)
    up = np.clip((e - 2) / 30.0, 0, 1)
    down = np.clip((e - 100) / 41.0, 0, 1)
    loss = np.exp(np.log(0.68) + (np.log(1e4) - np.log(0.68)) * up * (1 - down) + (np.log(0.002) - np.log(0.68)) * down)
    loss *= np.exp(rng.normal(0, 0.3, e.size) * (up * (1 - down)))
    found = diagnose({"Loss": (e * 91 + 90, loss)})
    lr = [f for f in found if f.condition == "lr-too-high"]
    assert lr and lr[0].remedies[0].action == "scale_lr" and lr[0].remedies[0].params["factor"] < 1


def test_a_validation_auc_at_half_is_no_learning_whatever_the_class_balance():
    # A binary deepfake classifier on imbalanced data (Lightning, 4 evaluations): validation
    # accuracy 0.664-0.667 is the majority share, not 1/C, so it read as learning; its ROC AUC
    # sat at 0.55-0.57 while the train AUC rose to 0.74 — nothing transfers. A val AUC that rises
    # to 0.8 is learning.
    rng = np.random.default_rng(21)
    steps = np.arange(9, 2500, 10)
    train = 0.62 - 0.08 * steps / 2500 + rng.normal(0, 0.1, steps.size)
    vs = np.array([624, 1249, 1874, 2499])
    curves = {"train_loss_step": (steps, train), "val_loss": (vs, np.array([0.644, 0.646, 0.645, 0.658])),
              "val_acc": (vs, np.array([0.664, 0.664, 0.666, 0.667])), "val_auc": (vs, np.array([0.552, 0.546, 0.570, 0.561]))}
    found = [f for f in diagnose(curves) if f.condition == "no-learning"]
    assert found and found[0].evidence["form"] == "auc-at-chance"
    learning = {**curves, "val_auc": (vs, np.array([0.62, 0.71, 0.77, 0.80]))}
    assert "no-learning" not in [f.condition for f in diagnose(learning)]


def test_train_labels_corrupted_validation_falls_fast_then_sits_is_a_data_mismatch():
    # HF Trainer names, binary blobs with corrupted train labels (population seeds 53-57): the train
    # loss sits near ln 2 while validation falls 0.61 -> 0.50 in its first seven evaluations and
    # sits there for nine more. Over all sixteen the trend is z -2.3 (the floor dilutes it) and its
    # lowest point is the twelfth; the first evaluation above every one of the second half, by far
    # more than their noise, is the fall.
    steps = np.arange(10, 810, 10)
    rng = np.random.default_rng(22)
    train = 0.69 - 0.02 * steps / 800 + rng.normal(0, 0.012, steps.size)
    vs = np.arange(50, 810, 50)
    val = np.array([0.61, 0.564, 0.536, 0.52, 0.518, 0.508, 0.504, 0.514, 0.511, 0.517, 0.532, 0.503, 0.505, 0.519, 0.507, 0.512])
    got = [f for f in diagnose({"train/loss": (steps, train), "eval/loss": (vs, val)}) if f.condition == "data-mismatch"]
    assert got and got[0].severity is Severity.WARNING


def test_a_sudden_nan_after_a_noisy_flat_loss_is_not_a_divergence():
    # pytorch_tabular on raw-unit costs: the per-step MSE bounces 1.2e8-1.2e9 with no trend, then
    # turns NaN in the last epoch. Divergence read "exploded from its minimum ... trend z=0.0"
    # beside non-finite's "suddenly, while the loss had been behaving"; a NaN stands in for
    # neither the rise nor its trend.
    rng = np.random.default_rng(23)
    steps = np.arange(49, 5400, 50)
    loss = np.exp(rng.uniform(np.log(1.2e8), np.log(1.2e9), steps.size))
    loss[-2:] = np.nan
    names = [f.condition for f in diagnose({"train_loss": (steps, loss)})]
    assert "non-finite" in names and "divergence" not in names


@pytest.mark.parametrize("seed", range(3))
def test_an_epoch_staircase_is_not_an_unshuffled_order(seed):
    # A model fine-tuned for many epochs on a small set (logged every 10 steps, 11 points an
    # epoch): its loss drops at each boundary, where every example is seen once more, and is
    # level within the epoch. A moving average turns the steps into a saw-tooth with the epoch's
    # period; it is each epoch's own level, not a fixed data order.
    rng = np.random.default_rng(seed)
    per_epoch, epochs = 11, 27
    steps = np.arange(per_epoch * epochs) * 10 + 10
    epoch = np.arange(steps.size) // per_epoch
    level = 0.001 + 1.2 * np.exp(-epoch / 2.5)
    loss = level * (1 + rng.normal(0, 0.08, steps.size))
    curves = {"train/loss": (steps, loss), "train/epoch": (steps, steps / 110.0)}
    findings = diagnose(curves, hparams={"steps_per_epoch": 110})
    assert "unshuffled-data" not in [f.condition for f in findings]
    # the same run with a class-sorted order inside each epoch is still reported
    phase = (np.arange(steps.size) % per_epoch) / per_epoch
    curves["train/loss"] = (steps, loss + level * 0.6 * np.abs(np.sin(np.pi * 3 * phase)))
    assert "unshuffled-data" in [f.condition for f in diagnose(curves, hparams={"steps_per_epoch": 110})]
    # ... and so is one whose order switches class once an epoch: an abrupt rise, then a decay (a
    # saw-tooth too, but its abrupt edge goes up)
    smooth = 0.001 + 1.2 * np.exp(-np.arange(steps.size) / (2.5 * per_epoch))
    switch = 1.0 - (phase - 0.3) % 1.0  # up at the switch, down steadily until the next one
    curves["train/loss"] = (steps, smooth * (1 + 0.6 * switch + rng.normal(0, 0.08, steps.size)))
    assert "unshuffled-data" in [f.condition for f in diagnose(curves, hparams={"steps_per_epoch": 110})]


@pytest.mark.parametrize("seed", range(4))
def test_an_order_replayed_every_few_logged_points_is_found_through_a_multiple(seed):
    # A TF1 estimator trained in 1000-step calls, each restarting an unshuffled input pipeline and
    # logging every 100 steps: the same 10 values again and again (one call disturbed). The
    # autocorrelation peak of a long detrending window lands on 30 points, where the phase shows
    # no pattern to test; the divisor 10 explains more and is the pattern.
    rng = np.random.default_rng(seed)
    pattern = np.array([0.05, 0.13, 0.23, 0.145, 0.22, 0.13, 0.22, 0.146, 0.19, 0.13])
    loss = np.tile(pattern, 37) + rng.normal(0, 0.004, 370)
    loss[0] = 1.0
    loss[180:190] = rng.uniform(0.45, 0.6, 10)
    loss[190:200] = pattern + 0.05 + rng.normal(0, 0.02, 10)
    f = [x for x in diagnose({"loss": (np.arange(370) * 100 + 1, loss)}) if x.condition == "unshuffled-data"]
    assert f and f[0].evidence["period_steps"] == 1000


@pytest.mark.parametrize("seed", range(3))
def test_an_evaluation_of_the_untrained_model_is_compared_with_the_untrained_train_loss(seed):
    # A binary classifier logged every step falls 10x within its first 20 steps; validation is
    # evaluated at step 0 (the untrained model: 3.9 on both splits) and every 10 steps after. A
    # train mean over steps 0-66 is 0.34 — weights that had already learned — and read the first
    # evaluation as 11x the train loss: splits "not prepared alike" on a run that merely memorises.
    rng = np.random.default_rng(seed)
    steps = np.arange(1321)
    train = (3.9 * np.exp(-steps / 3.0) + 0.3 * np.exp(-steps / 50.0) + 1e-4) * np.exp(rng.normal(0, 0.2, steps.size))
    vs = np.arange(0, 1321, 10)
    val = 0.043 + 3.86 * np.exp(-vs / 4.0) + 3e-5 * np.maximum(vs - 730, 0) + rng.normal(0, 0.001, vs.size)
    findings = diagnose({"train/cross_entropy": (steps, train), "validation/cross_entropy": (vs, val)})
    assert "data-mismatch" not in [f.condition for f in findings]


@pytest.mark.parametrize("seed", range(3))
def test_a_loss_that_jumped_above_its_start_and_stayed_is_divergence(seed):
    # A TF1 run logged every 100 steps: the loss falls a third from ln 4 (scaled), then at a
    # session restart jumps to twice its minimum and stays there, noisy, to the end. The points
    # after a step carry no trend, but the run has lost everything it learned.
    rng = np.random.default_rng(seed)
    steps = np.arange(25) * 100 + 1
    loss = np.concatenate(([1.39, 1.0, 0.75, 0.79, 0.92], 1.75 + rng.normal(0, 0.15, 20)))
    findings = diagnose({"loss": (steps, loss)})
    assert findings and findings[0].condition == "divergence"
    assert findings[0].remedies[0].action == "scale_lr" and findings[0].remedies[0].params["factor"] < 1
