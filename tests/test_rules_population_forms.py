"""Forms the generated population showed the rules missing (issue 12), as small synthetic runs.

Each test builds the shape the population's runs had — sparse single-minibatch logging, a few
evaluations, a per-epoch log — and checks the rule that should see it does, while the shape it
was confused with stays quiet.
"""

import math

import numpy as np
import pytest

from advisor import remedies as R
from advisor.engine import Engine, resolve
from advisor.io.roles import resolve as resolve_roles
from advisor.model import Finding, Severity
from advisor.pipeline import diagnose_run
from advisor.rules.base import Context
from advisor.workload import classify
from tests import synth
from tests.test_summaries import contradictions

ENGINE = Engine.from_config()


def names(curves):
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    assert rep.problems == ()
    return [f.condition for f in rep.findings]


def F(cond, sev=Severity.WARNING, conf=0.5, onset=0, **ev):
    return Finding(cond, sev, conf, f"{cond} seen", ev, (R.scale_lr(0.1),), onset)


def _context(run):
    """The rules' view of ``run``, built as the pipeline builds it (workload, then roles)."""
    wl = classify(run, None)
    return Context(run, resolve_roles(run, None, wl.kind, wl.roles), wl.kind)


def test_gradient_noise_is_seen_at_a_sparse_cadence():
    # batch size 1, logged every 5 steps: each point is one example's loss (heavy-tailed)
    rng = np.random.default_rng(0)
    steps = np.arange(0, 1200, 5)
    level = 0.4 + 1.9 * np.exp(-steps / 150)
    loss = rng.exponential(level)
    assert "gradient-noise" in names({"train/loss": (steps, loss)})


def test_small_creep_with_validation_stuck_is_no_learning_not_slow_convergence():
    # shuffled labels: the train loss creeps down steadily by 2% while validation never improves
    rng = np.random.default_rng(1)
    steps = np.arange(300)
    train = 2.31 - 0.05 * steps / 300 + rng.normal(0, 0.01, 300)
    vs = np.arange(30, 301, 30)
    val = 2.32 + 0.03 * np.arange(10) / 9 + rng.normal(0, 0.003, 10)
    got = names({"train/loss": (steps, train), "val/loss": (vs, val)})
    assert got[0] == "no-learning" and "slow-convergence" not in got


def test_slow_fall_on_a_short_per_epoch_log_is_slow_convergence():
    # ten per-epoch points, steadily falling and not decelerating (a rate too small)
    epochs = np.arange(10)
    train = 2.3 - 0.09 * epochs
    val = 2.28 - 0.09 * epochs
    got = names({"train/loss": (epochs, train), "val/loss": (epochs, val)})
    assert "slow-convergence" in got


def test_val_below_a_noisy_sparse_train_loss_is_seen():
    # dropout 0.8: one noisy minibatch logged every 10 steps sits well above a smooth val loss
    rng = np.random.default_rng(2)
    steps = np.arange(9, 400, 10)
    train = (0.3 + 2.0 * np.exp(-steps / 40)) * rng.lognormal(0, 0.5, steps.size)
    vs = np.arange(39, 400, 40)
    val = 0.08 + 0.4 * np.exp(-vs / 60)
    assert "val-below-train" in names({"train/loss": (steps, train), "val/loss": (vs, val)})


def test_val_below_a_train_loss_that_solved_its_set_is_not_reported():
    # a blobs MLP (population runs, 80 evaluations on one val batch of 16): train falls from 1.1 to
    # about 1e-3, validation sits lower still at 1e-4 and jumps by its own size — the model has
    # solved its training set, and "val below train" would be a ratio of two numbers near zero,
    # ranked before the noisy validation that is the run's real story
    rng = np.random.default_rng(3)
    steps = np.arange(0, 2000, 10)
    train = (0.001 + 1.1 * np.exp(-steps / 80)) * rng.lognormal(0, 0.2, steps.size)
    vs = np.arange(25, 2001, 25)
    val = (0.0002 + 0.9 * np.exp(-vs / 80)) * rng.lognormal(0, 0.8, vs.size)
    got = names({"train/loss": (steps, train), "val/loss": (vs, val)})
    assert "val-below-train" not in got
    # the same gap at a level the train loss did not solve (dropout holding it at 25% of its start) is reported
    held = (0.3 + 0.9 * np.exp(-steps / 80)) * rng.lognormal(0, 0.05, steps.size)
    below = (0.08 + 0.8 * np.exp(-vs / 80)) * rng.lognormal(0, 0.05, vs.size)
    assert "val-below-train" in names({"train/loss": (steps, held), "val/loss": (vs, below)})


def test_spikes_that_minibatch_noise_explains_are_not_a_rate_too_high():
    out = resolve([F("lr-too-high", Severity.WARNING, 0.6, form="spiking"), F("gradient-noise", Severity.INFO, 0.9)])
    assert [f.condition for f in out] == ["gradient-noise"]
    # the other forms stand: a jump and a stall at chance are not minibatch noise
    out = resolve([F("lr-too-high", Severity.CRITICAL, 0.8, form="jump"), F("gradient-noise", Severity.INFO, 0.9)])
    assert [f.condition for f in out] == ["lr-too-high", "gradient-noise"]


def test_a_bad_initial_loss_ranks_before_the_stall_it_causes():
    out = resolve([F("plateau", Severity.WARNING, 0.8), F("bad-initial-loss", Severity.INFO, 0.7)])
    assert [f.condition for f in out] == ["bad-initial-loss", "plateau"]
    assert out[0].severity == Severity.WARNING and out[0].evidence["explains"] == ["plateau"]


def test_validation_jumping_over_a_calm_train_floor_is_not_explained_by_decay():
    out = resolve([F("noisy-validation", Severity.INFO, 0.9, late_noise_over_level=0.5), F("lr-decay-needed", Severity.INFO, 0.95)])
    assert "explained_by" not in out[[f.condition for f in out].index("noisy-validation")].evidence
    out = resolve([F("noisy-validation", Severity.INFO, 0.9, late_noise_over_level=None), F("lr-decay-needed", Severity.INFO, 0.5)])
    assert [f.condition for f in out] == ["lr-decay-needed", "noisy-validation"]


def test_val_clearly_below_train_explains_the_flat_noisy_train_floor():
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.9), F("val-below-train", Severity.INFO, 0.7, median_val_over_train=0.5)])
    assert [f.condition for f in out] == ["val-below-train", "lr-decay-needed"]
    # only a little below (label noise on both splits): the floor is the step size's
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.9), F("val-below-train", Severity.INFO, 0.7, median_val_over_train=0.85)])
    assert [f.condition for f in out] == ["lr-decay-needed", "val-below-train"]


def test_a_run_that_learned_then_climbed_back_far_above_its_start_twice_is_a_rate_too_high():
    # Adam at lr 1 on a per-epoch log: the loss learns, then twice blows up to several times
    # its first value and comes back (the first climb of a healthy run never goes that high)
    rng = np.random.default_rng(3)
    epochs = np.arange(44)
    train = 0.02 + 2.0 * np.exp(-epochs / 2.0) * rng.lognormal(0, 0.1, 44)
    train[12], train[13], train[27] = 9.0, 7.5, 8.0
    got = names({"train/epoch_loss": (epochs, train)})
    assert got[0] == "lr-too-high"


def test_a_stall_just_above_a_noisy_first_minibatch_is_not_a_rate_too_high():
    # the adding problem logged every 10 steps (one minibatch a point): the first point happens
    # to sit low, the stall above it bounces up to 1.5x it, then the loss escapes to near zero
    rng = np.random.default_rng(4)
    steps = np.arange(9, 900, 10)
    level = np.where(steps < 450, 1.05, 0.02 + 1.0 * np.exp(-(steps - 450) / 80.0))
    train = level * rng.lognormal(0, 0.15, steps.size)
    train[0] = 0.8
    assert "lr-too-high" not in names({"train_loss": (steps, train)})


def test_a_steep_fall_cut_short_reads_as_both_a_short_run_and_a_low_rate():
    # 200 steps, the loss still falling faster at the end than at the start: the curve cannot
    # tell a low rate from a run stopped early, so both remedies are on the table
    rng = np.random.default_rng(5)
    steps = np.arange(200)
    train = 2.33 - 1.2 * (steps / 200) ** 2 + rng.normal(0, 0.03, 200)
    vs = np.arange(25, 201, 25)
    val = 2.27 - 1.0 * (vs / 200) ** 2
    got = names({"train/loss": (steps, train), "val/loss": (vs, val)})
    assert "slow-convergence" in got and "still-improving" in got


def test_a_stall_of_single_minibatch_points_is_a_plateau_despite_one_outlier():
    rng = np.random.default_rng(6)
    steps = np.arange(10, 910, 10)
    level = np.where(steps < 400, 1.0, 0.025 + 0.975 * np.exp(-(steps - 400) / 60.0))
    train = level * (1 + rng.normal(0, 0.06, steps.size))
    train[21] = 0.55  # one easy minibatch inside the stall
    assert "plateau" in names({"train/loss": (steps, train)})


def test_val_climbing_while_the_train_loss_drifts_up_far_above_its_floor_is_not_overfitting():
    # the model wanders (train 0.3 -> 0.4 of a start of 2.3, one noisy minibatch a point) while
    # val climbs: not memorisation; the train loss's trend says so when its levels are too noisy
    steps = np.arange(600)
    vs = np.arange(40, 601, 40)
    val = np.where(vs <= 160, 0.37 + 1.5 * np.exp(-vs / 30.0), 0.37 + 1.5 * (vs - 160) / 440)
    for seed in (8, 11):
        rng = np.random.default_rng(seed)
        lvl = np.where(steps < 160, 0.3 + 2.0 * np.exp(-steps / 30.0), 0.3 + 0.1 * (steps - 160) / 440)
        train = lvl * rng.lognormal(0, 0.9, 600)
        rep = diagnose_run(synth.run_of({"train/loss": (steps, train), "val/loss": (vs, val)}), ENGINE).report
        assert not [f for f in rep.findings if f.condition == "overfitting" and f.severity != Severity.INFO]
        # the same val climb over a train loss that keeps falling is overfitting
        falling = np.where(steps < 160, lvl, 0.3 * np.exp(-(steps - 160) / 150.0)) * rng.lognormal(0, 0.1, 600)
        assert "overfitting" in names({"train/loss": (steps, falling), "val/loss": (vs, val)})


def _noisy_train_four_evals(levels, seed=3):
    """A forecaster: one noisy minibatch logged every 10 steps (sd 22 around ``levels``, one level a
    quarter epoch when 16 are given, an epoch when 4; 134 points an epoch), 4 evaluations at the
    epoch ends with validation rising in order."""
    rng = np.random.default_rng(seed)
    steps = np.arange(9, 5340, 10)
    per = 5348 // len(levels) + 1
    train = np.asarray(levels)[np.minimum(steps // per, len(levels) - 1)] + rng.normal(0, 22, steps.size)
    vs = np.array([1336, 2673, 4010, 5347])
    return {"train/loss": (steps, train), "val/loss": (vs, np.array([84.9, 88.2, 88.8, 101.7]))}


def test_overfitting_under_a_train_loss_that_scatters_more_than_it_moves_is_seen_in_its_epoch_means():
    # a Temporal Fusion Transformer's quarter-epoch means: flat within each epoch, a step down at
    # the boundary after the val minimum (133 -> 119), about flat after; validation rises at each
    # of 4 evaluations. The point trend after the minimum is lost in the scatter and the level at
    # the minimum's step is one lucky minibatch; the means just before the minimum against the
    # last epoch's are not
    quarters = [136.4, 129.8, 137.2, 133.1, 119.2, 124.6, 124.1, 128.1, 118.1, 125.6, 120.3, 121.8, 130.4, 122.5, 116.3, 120.8]
    for seed in range(10):
        found = _sev(_noisy_train_four_evals(quarters, seed), "overfitting")
        assert found and found[0].severity == Severity.WARNING, seed
        assert found[0].evidence["train_loss_at_best"] > found[0].evidence["final_train_loss"]
    # epoch means that climb with validation: a model wandering, not memorising
    for seed in range(10):
        found = _sev(_noisy_train_four_evals([121.0, 124.0, 128.0, 133.0], seed), "overfitting")
        assert not [f for f in found if f.severity != Severity.INFO], seed


def test_the_widening_gap_summary_says_rose_when_validation_rose():
    rng = np.random.default_rng(9)
    steps = np.arange(600)
    lvl = np.where(steps < 160, 0.3 + 2.0 * np.exp(-steps / 30.0), 0.3 + 0.1 * (steps - 160) / 440)
    train = lvl * rng.lognormal(0, 0.9, 600)
    vs = np.arange(40, 601, 40)
    val = np.where(vs <= 160, 0.37 + 1.5 * np.exp(-vs / 30.0), 0.37 + 1.5 * (vs - 160) / 440)
    rep = diagnose_run(synth.run_of({"train/loss": (steps, train), "val/loss": (vs, val)}), ENGINE).report
    (f,) = [f for f in rep.findings if f.condition == "overfitting"]
    assert f.evidence["form"] == "widening-gap" and f.evidence["val_drop_second_half"] < 0
    assert "val loss rose" in f.summary and "moved only -" not in f.summary


def _sev(curves, cond):
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    return [f for f in rep.findings if f.condition == cond]


def test_a_first_logged_loss_that_already_holds_a_blow_up_is_a_rate_too_high():
    # Adam at lr 1, logged every 10 steps: the first point (after 10 updates) is 6000, then the
    # loss sits near ln 2 and the accuracy never climbs
    rng = np.random.default_rng(10)
    steps = np.arange(10, 610, 10)
    train = 0.6 + rng.normal(0, 0.03, steps.size)
    train[0], train[1] = 6000.0, 40.0
    vs = np.arange(50, 601, 50)
    acc = 0.65 + rng.normal(0, 0.02, vs.size)
    curves = {"train/loss": (steps, train), "val/loss": (vs, 0.58 + 0.01 * rng.standard_normal(vs.size)), "val/accuracy": (vs, acc)}
    got = _sev(curves, "lr-too-high")
    assert got and got[0].evidence["form"] == "blown-up-start" and got[0].severity == Severity.CRITICAL
    assert names(curves)[0] == "lr-too-high" and got[0].remedies[0].params["factor"] < 1
    # logged at step 0 the same first value is the initialisation's loss: no rate touched it
    curves["train/loss"] = (steps - 10, train)
    assert "lr-too-high" not in names(curves)


def test_one_minibatch_spike_then_a_loss_stuck_at_its_start_is_a_rate_too_high_first():
    rng = np.random.default_rng(11)
    steps = np.arange(0, 500, 10)
    train = 2.33 + rng.normal(0, 0.03, steps.size)
    train[1] = 6.7  # one logged minibatch after the first updates
    vs = np.arange(50, 501, 50)
    curves = {"loss/train": (steps, train), "loss/val": (vs, 2.45 + rng.normal(0, 0.02, vs.size)),
              "acc/val": (vs, 0.1 + rng.normal(0, 0.01, vs.size))}
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    got = [f.condition for f in rep.findings]
    assert got[0] == "lr-too-high"
    # the loss that learned nothing is the rate's doing: no-learning, when kept, is explained by it
    # and never asks for a larger rate
    for f in rep.findings[1:]:
        if f.condition == "no-learning":
            assert f.evidence["explained_by"] == "lr-too-high"
            assert not any(r.action == "scale_lr" and r.params.get("factor", 1) > 1 for r in f.remedies)


def test_a_slowdown_midway_down_the_fall_is_not_a_plateau():
    # a cyclic-rate run: the loss pauses at 0.27 (a third of its total fall still to go), then
    # goes on down: a stall sits far above where the run ends, this does not
    rng = np.random.default_rng(12)
    steps = np.arange(0, 1850, 50)
    t = steps / 1850
    level = np.where(t < 0.25, 0.64 - 0.37 * t / 0.25, np.where(t < 0.45, 0.27, 0.27 - 0.2 * (1 - np.exp(-(t - 0.45) / 0.15))))
    train = level * (1 + rng.normal(0, 0.02, steps.size))
    assert "plateau" not in names({"train_loss_step": (steps, train)})


def test_a_slow_loss_under_a_saturated_task_metric_is_only_info():
    rng = np.random.default_rng(13)
    steps = np.arange(10, 410, 10)
    train = 1.1 - 0.55 * (1 - np.exp(-steps / 400)) / (1 - np.exp(-1)) + rng.normal(0, 0.005, steps.size)
    vs = np.arange(40, 401, 40)
    val = 1.05 - 0.4 * (1 - np.exp(-vs / 400)) / (1 - np.exp(-1))
    acc = np.array([0.63, 0.63, 0.77, 0.8, 0.886, 0.943, 0.943, 0.943, 0.943, 0.943])
    curves = {"train/loss": (steps, train), "eval/loss": (vs, val), "eval/accuracy": (vs, acc)}
    (f,) = _sev(curves, "slow-convergence")
    assert f.severity == Severity.INFO and f.evidence["task_metric"] == "eval/accuracy"
    assert "mildly slowing" in f.summary and "no deceleration" not in f.summary
    curves["eval/accuracy"] = (vs, np.linspace(0.5, 0.9, vs.size))  # still rising: the slow loss holds it back
    (f,) = _sev(curves, "slow-convergence")
    assert f.severity == Severity.WARNING


def test_a_train_loss_that_barely_moves_while_validation_improves_in_order_is_not_no_learning():
    # SGD at lr 1e-3 on a 4-wide linear CNN: the one-batch train loss hardly moves, but every
    # evaluation is better than the one before and the accuracy doubles: it learns, slowly
    rng = np.random.default_rng(14)
    steps = np.arange(300)
    train = 2.29 - 0.01 * steps / 300 + rng.normal(0, 0.03, 300)
    vs = np.arange(30, 301, 30)
    val = 2.30 - 0.031 * np.arange(10) / 9
    acc = np.linspace(0.09, 0.17, 10)
    curves = {"loss/train": (steps, train), "loss/val": (vs, val), "acc/val": (vs, acc)}
    assert "no-learning" not in names(curves)
    # shuffled labels on 3 classes: the loss sits at ln 3 and edges down in order while the
    # accuracy climbs from below chance to just above it (the class priors): still no learning
    rng2 = np.random.default_rng(19)
    sh_train = 1.0986 + rng2.normal(0, 0.006, 300)
    sh_val = 1.099 - 0.015 * np.arange(10) / 9
    sh_acc = np.linspace(0.30, 0.37, 10)
    assert "no-learning" in names({"loss/train": (steps, sh_train), "loss/val": (vs, sh_val), "acc/val": (vs, sh_acc)})
    # the same order with an accuracy that does not move (a rate of 1e-7) is still no learning
    curves["acc/val"] = (vs, np.full(10, 0.19))
    curves["loss/val"] = (vs, 2.30 - 0.0005 * np.arange(10) / 9)
    assert "no-learning" in names(curves)


def test_a_creeping_loss_under_a_flat_accuracy_is_underfitting():
    # a 2-wide MLP on spirals, per epoch: the loss still creeps down a little every epoch, the
    # accuracy has not moved for the whole second half
    rng = np.random.default_rng(15)
    epochs = np.arange(30)
    train = 0.522 + 0.133 * np.exp(-epochs / 7.0)
    val = 0.518 + 0.09 * np.exp(-epochs / 7.0)
    acc = 0.67 + np.where(epochs < 3, -0.05 * (3 - epochs) / 3, 0) + rng.normal(0, 0.004, 30)
    curves = {"train/epoch_loss": (epochs, train), "validation/epoch_loss": (epochs, val),
              "train/epoch_accuracy": (epochs, acc), "validation/epoch_accuracy": (epochs, acc + 0.01)}
    assert "underfitting" in names(curves)


def test_a_stall_that_one_batch_noise_hides_is_read_on_validation():
    # the adding problem in Lightning, one minibatch every 10 steps: the train loss's noise hides
    # the stall, the validation loss (12 evaluations) shows it sitting at 1.31 for 40% of the run;
    # the noisy one-batch points above a low first one are no rate too high either
    steps = np.arange(9, 900, 10)
    vs = np.arange(74, 900, 75)
    for seed in (16, 17, 18):
        rng = np.random.default_rng(seed)
        level = np.where(steps < 380, 1.05, 0.02 + 1.03 * np.exp(-(steps - 380) / 70.0))
        train = level * rng.lognormal(0, 0.4, steps.size)
        val = np.where(vs < 380, 1.31, 0.017 + 1.29 * np.exp(-(vs - 380) / 70.0)) * (1 + rng.normal(0, 0.003, vs.size))
        got = names({"train_loss": (steps, train), "val_loss": (vs, val)})
        assert "lr-too-high" not in got
        (f,) = _sev({"train_loss": (steps, train), "val_loss": (vs, val)}, "plateau")
        # read on validation, or on the train loss where its rolling medians show the stall too
        # (the escape's slope measured over the escape itself): the stall either way
        lo, hi = f.evidence["step_range"]
        assert f.evidence["signal"] in ("val_loss", "train_loss") and lo < 100 and 300 < hi < 450
        assert f.summary.startswith(f.evidence["signal"].replace("_", " ") + " sat flat")
        # a val loss that ends about where it sat has not escaped anything
        flat = 0.647 + rng.normal(0, 0.002, vs.size)
        assert not [f for f in _sev({"train_loss": (steps, train), "val_loss": (vs, flat)}, "plateau") if f.evidence["signal"] == "val_loss"]


def test_a_val_loss_bouncing_within_its_band_whose_last_points_land_low_is_no_plateau():
    # an LSTM at Adam lr 2, Lightning cadence (population seed 25): one minibatch every 10 steps
    # between 1.2 and 14, ten evaluations bouncing 2.0-4.5 with accuracy flat at 0.34-0.44. Its
    # last two evaluations land low (2.46, 1.72), but the "stall" before them already dipped to
    # 2.0: no escape, and a plateau's first remedy (a larger rate) would point the wrong way
    steps = np.arange(9, 300, 10)
    train = np.array([4.373, 13.885, 4.263, 8.961, 3.301, 4.654, 2.882, 3.135, 4.892, 3.954, 3.583, 2.325, 3.194, 3.278, 3.594,
                      4.265, 2.534, 2.235, 3.258, 4.186, 2.308, 1.28, 2.989, 2.809, 3.323, 1.601, 3.023, 5.557, 3.876, 1.182])
    vs = np.arange(29, 300, 30)
    val = np.array([4.244, 3.076, 4.099, 4.524, 3.688, 3.332, 2.007, 4.047, 2.462, 1.721])
    acc = np.array([0.4, 0.438, 0.347, 0.34, 0.355, 0.338, 0.365, 0.345, 0.355, 0.37])
    got = names({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, acc)})
    assert "plateau" not in got
    assert got[0] == "lr-too-high"  # accuracy flat while validation lurches: the thrashing form
    # the same evaluations with the stall's dip lifted above where the run ends: the plateau rule
    # sees an escaped plateau (the engine then keeps its larger rate away from this run)
    lifted = val.copy()
    lifted[6] = 3.5
    from advisor.rules import plateau

    run = synth.run_of({"train_loss": (steps, train), "val_loss": (vs, lifted), "val_acc": (vs, acc)})
    (f,) = plateau.detect(_context(run), plateau.Params())
    assert f.evidence["signal"] == "val_loss"
    rep = diagnose_run(run, ENGINE).report
    assert rep.findings[0].condition == "lr-too-high" and "plateau" not in [x.condition for x in rep.findings]
    assert all(r.params.get("factor", 0) < 1 for x in rep.findings for r in x.remedies if r.action == "scale_lr")


def test_a_val_loss_thrown_far_above_its_level_within_the_stall_is_no_plateau():
    # the same recipe on population seed 71: evaluations 3.68 3.84 5.12 3.55 5.91 3.73, then 2.54
    # down to 1.89 while accuracy stays at chance. Read as "sat flat at 3.78, then fell", its first
    # remedy raised a rate that was 2000x too high; a val loss evaluated whole that jumps 1.5x
    # above its level is being thrown about, not sitting at a saddle
    steps = np.arange(9, 300, 10)
    train = np.array([4.553, 4.018, 2.683, 3.252, 5.834, 2.681, 2.833, 5.12, 6.806, 3.0, 2.066, 4.271, 5.9, 2.641, 3.19,
                      2.56, 1.54, 4.4, 2.31, 3.31, 2.1, 3.19, 2.9, 2.15, 2.5, 2.8, 1.9, 2.4, 2.2, 2.6])
    vs = np.arange(29, 300, 30)
    val = np.array([3.68, 3.84, 5.12, 3.55, 5.91, 3.73, 2.54, 2.18, 1.88, 1.89])
    acc = np.array([0.37, 0.335, 0.403, 0.34, 0.352, 0.355, 0.325, 0.352, 0.312, 0.347])
    rep = diagnose_run(synth.run_of({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, acc)}), ENGINE).report
    assert "plateau" not in [f.condition for f in rep.findings]
    assert not any(r.action == "scale_lr" and r.params["factor"] > 1 for f in rep.findings for r in f.remedies[:1])


def test_a_train_creep_while_validation_climbs_in_order_is_no_learning_not_slow_convergence():
    # labels shuffled: the train loss creeps down 3% by memorising, validation gets worse at
    # nearly every evaluation and accuracy sits below chance — raising the rate would not help
    rng = np.random.default_rng(20)
    steps = np.arange(300)
    train = 2.316 - 0.08 * steps / 300 + rng.normal(0, 0.02, 300)
    vs = np.arange(30, 301, 30)
    val = 2.316 + 0.082 * (np.arange(10) / 9) ** 1.2
    acc = 0.035 + rng.normal(0, 0.008, 10)
    rep = diagnose_run(synth.run_of({"Loss/train": (steps, train), "Loss/val": (vs, val), "Accuracy/val": (vs, acc)}), ENGINE).report
    got = [f.condition for f in rep.findings]
    assert got[0] == "no-learning" and "slow-convergence" not in got
    f = rep.findings[0]
    assert f.evidence["form"] == "memorising" and "climbed" in f.summary and not contradictions(f.summary)


def test_the_class_count_is_read_off_a_loss_stuck_at_ln_c_under_an_imbalanced_accuracy():
    # Adam at lr 1 on wine (3 classes, the largest 40%): the loss blows up to 83 in the first
    # epoch, then sits at ln 3 while the accuracy is the majority share, 0.4 — above 1/3 by more
    # than noise, so only the loss pins C; with C known the blow-up is read as lr-too-high
    rng = np.random.default_rng(21)
    epochs = np.arange(44)
    train = 1.08 + 0.03 * rng.standard_normal(44)
    train[:6] = [83.3, 47.9, 7.94, 6.81, 1.86, 1.53]
    acc = 0.39 + 0.02 * rng.standard_normal(44)
    curves = {"train/epoch_loss": (epochs, train), "train/epoch_accuracy": (epochs, acc)}
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    assert rep.findings[0].condition == "lr-too-high" and rep.findings[0].remedies[0].params["factor"] < 1


def test_a_rise_after_a_lucky_low_minibatch_is_still_a_divergence():
    # Adam with a rate that ramps up, an LSTM, one minibatch logged every 10 steps (the numbers
    # of such a run): the loss falls to about 0.55, then climbs to 2; one lucky batch at 65% of
    # the run sits at 0.42, and the climb measured from it alone is not yet significant
    train = np.array([1.106, 1.085, 1.024, 0.713, 0.568, 0.658, 0.575, 0.559, 0.883, 0.653, 0.555, 0.553,
                      0.554, 0.631, 0.454, 0.577, 0.494, 0.873, 0.473, 0.485, 0.767, 0.667, 0.443, 0.74,
                      0.83, 0.424, 1.156, 1.069, 1.353, 1.186, 0.948, 1.11, 0.865, 0.887, 0.973, 1.334,
                      1.099, 1.589, 2.724, 2.003])
    steps = np.arange(0, 400, 10)
    got = _sev({"Loss/train": (steps, train)}, "divergence")
    assert got and got[0].evidence["min_step"] < 250 and got[0].remedies[0].params["factor"] < 1


def test_a_last_bounce_above_an_old_val_minimum_is_no_overfitting_warning():
    # 50 evaluations of a healthy cyclic-rate CNN (the numbers of such a run): validation reaches
    # 0.18 late and bounces between it and 0.21 — the end 10% above the minimum, above its noise,
    # but with no trend up
    rng = np.random.default_rng(23)
    steps = np.arange(300)
    train = 0.08 + 2.2 * np.exp(-steps / 40.0) * rng.lognormal(0, 0.05, 300)
    vs = np.arange(6, 301, 6)
    val = np.array([2.2969, 2.2839, 2.2582, 2.2156, 2.1389, 2.0008, 1.758, 1.4516, 1.15, 0.9218, 0.8191, 0.7331,
                    0.7009, 0.659, 0.586, 0.545, 0.4594, 0.5305, 0.4273, 0.3412, 0.3162, 0.2996, 0.2971, 0.2824,
                    0.2728, 0.2626, 0.2696, 0.296, 0.3437, 0.2714, 0.2718, 0.2906, 0.2836, 0.3185, 0.224, 0.2057,
                    0.2043, 0.2002, 0.2039, 0.1996, 0.1816, 0.1854, 0.2254, 0.2032, 0.2058, 0.1937, 0.2068, 0.2137,
                    0.1995, 0.1843])
    curves = {"Loss/train": (steps, train), "Loss/val": (vs, val)}
    assert not [f for f in _sev(curves, "overfitting") if f.severity != Severity.INFO]
    # the same run whose val loss climbs from the minimum on is overfitting
    val2 = val.copy()
    val2[40:] = val[40] + np.linspace(0, 0.05, 10) + rng.normal(0, 0.002, 10)
    assert [f for f in _sev({"Loss/train": (steps, train), "Loss/val": (vs, val2)}, "overfitting") if f.severity == Severity.WARNING]


def test_a_slow_fall_at_a_rate_in_its_optimizers_usual_range_is_only_info():
    # AdamW at 3e-4 (declared by the trainer): the rate is not evidently what holds the run back
    rng = np.random.default_rng(24)
    steps = np.arange(10, 410, 10)
    train = 1.1 - 0.35 * steps / 400 + rng.normal(0, 0.004, steps.size)
    curves = {"train/loss": (steps, train)}
    run = synth.run_of(curves, hparams={"learning_rate": 3e-4, "optim": "adamw_torch"})
    (f,) = [f for f in diagnose_run(run, ENGINE).report.findings if f.condition == "slow-convergence"]
    assert f.severity == Severity.INFO and f.evidence["lr_in_usual_range"] and "usual range" in f.summary
    run = synth.run_of(curves, hparams={"learning_rate": 3e-5, "optim": "adamw_torch"})
    (f,) = [f for f in diagnose_run(run, ENGINE).report.findings if f.condition == "slow-convergence"]
    assert f.severity == Severity.WARNING


def test_a_blown_up_level_is_no_plateau_and_a_plateau_never_raises_the_rate_of_a_climbing_loss():
    # momentum 0.995, one minibatch every 10 steps (the numbers of such a run): the val loss blows
    # up to thousands, sits there, then comes back — a "stall" far above where it started is a
    # blow-up, and raising the rate of a loss that climbed above its start points the wrong way
    train = np.array([2.307, 2.268, 2.175, 1.969, 1.374, 0.8869, 0.4243, 0.5143, 0.1315, 0.3052, 0.2796, 0.04482,
                      0.008719, 0.2031, 0.1899, 0.1905, 0.01235, 1.05, 0.001382, 1.276, 0.8367, 0.6581, 1.451, 1.156,
                      0.1614, 0.5999, 0.02045, 1.403, 0.871, 0.8555, 0.08252, 2.452, 1.979, 3.848, 0.2656, 5.356e-05,
                      1.271, 0.4296, 2.881, 1.068, 2.802, 1.779, 3.676, 1.268, 1.112, 5.309, 2.505e-05, 2.206, 1.897,
                      0.08385, 7.408, 0.001674, 0.3291, 4.263, 10.96, 13.93, 4.013, 7.038, 5.378, 24.17, 0.09502, 9.602,
                      0.3554, 8.772, 32.99, 18.82, 10.28, 4.134, 0.9337, 2.842, 1.233, 2.631, 1.514, 1.565, 1.817, 1.89,
                      1.382, 2.075, 2.134, 2.089])
    steps = np.arange(0, 800, 10)
    vs = np.arange(50, 801, 50)
    val = np.array([64.27, 2020.0, 4047.0, 6778.0, 6061.0, 2950.0, 1253.0, 5.446, 860.1, 2273.0, 2342.0, 2619.0,
                    39.98, 4.776, 5.345, 2.259])
    for f in _sev({"Loss/train": (steps, train), "Loss/val": (vs, val)}, "plateau"):
        assert f.evidence.get("escape_fraction", 1.0) <= 2.0
        assert not (f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] > 1)


def test_a_first_train_point_logged_after_updates_is_not_the_start_for_underfitting():
    # Lightning every 50 steps: the first train point (step 49) is already below where the run
    # started; validation, evaluated at step 16, shows the higher start. The numbers of a healthy
    # RNN of the population: 0.667 -> 0.505 looks flat at 76% of the start; from val's 0.835 it is 60%.
    rng = np.random.default_rng(31)
    steps = np.arange(49, 850, 50)
    train = 0.505 + 0.16 * np.exp(-(steps - 49) / 150.0) + rng.normal(0, 0.01, steps.size)
    vs = np.arange(16, 850, 17)
    val = 0.474 + 0.36 * np.exp(-(vs - 16) / 60.0)
    curves = {"train_loss_step": (steps, train), "val_loss": (vs, val)}
    assert "underfitting" not in names(curves)
    # the same train curve with no earlier evaluation to show the start stays underfitting
    vl = vs[vs > 49]
    late = {"train_loss_step": (steps, train), "val_loss": (vl, 0.49 + 0.12 * np.exp(-(vl - 49) / 150.0))}
    assert "underfitting" in names(late)


def test_a_short_first_stall_with_no_logged_rate_is_only_info():
    # 28% of the run flat at the start with no learning rate logged: a one-cycle warmup (30% by
    # default) from a tiny rate looks the same, so no warning; a longer one, or one under a
    # logged constant rate, is
    rng = np.random.default_rng(32)

    def run(stall, lr=False):
        steps = np.arange(0, 1500, 10)
        level = np.where(steps < stall, 1.386, 0.06 + 1.326 * np.exp(-(steps - stall) / 80.0))
        curves = {"train/loss": (steps, level * (1 + rng.normal(0, 0.01, steps.size)))}
        if lr:
            curves["train/lr"] = (steps, np.full(steps.size, 0.01))
        return _sev(curves, "plateau")

    short = run(420)
    assert short and short[0].severity == Severity.INFO and "not logged" in short[0].summary
    assert run(600)[0].severity == Severity.WARNING
    assert run(420, lr=True)[0].severity == Severity.WARNING


def test_at_one_severity_a_linked_root_cause_ranks_before_a_lone_finding():
    # val-below-train (more confident, explains nothing) and bad-initial-loss explaining a stall
    out = resolve([F("val-below-train", Severity.INFO, 0.9, median_val_over_train=0.9), F("bad-initial-loss", Severity.INFO, 0.8),
                   F("plateau", Severity.INFO, 0.7)])
    assert out[0].condition == "bad-initial-loss" and out[0].evidence["explains"] == ["plateau"]
    # with nothing to explain, a fault in the run's input still goes first (engine.SETUP_FAULTS);
    # between two findings that are neither, confidence decides
    out = resolve([F("val-below-train", Severity.INFO, 0.9, median_val_over_train=0.9), F("bad-initial-loss", Severity.INFO, 0.8)])
    assert [f.condition for f in out] == ["bad-initial-loss", "val-below-train"]
    out = resolve([F("val-below-train", Severity.INFO, 0.9, median_val_over_train=0.9), F("gradient-noise", Severity.INFO, 0.8)])
    assert [f.condition for f in out] == ["val-below-train", "gradient-noise"]


def test_climbs_to_many_times_the_start_among_near_zero_minibatches_are_a_rate_too_high():
    # SGD momentum 0.995 logged every 10 steps (the numbers of such a population run): the loss
    # learns, its one-minibatch points swing between 1e-5 and several times the start — the
    # near-zero points make its log-scale noise so large that no climb clears five times it —
    # and it climbs to 5-14x its start in separate episodes
    train = np.array([2.307, 2.268, 2.175, 1.969, 1.374, 0.887, 0.424, 0.514, 0.132, 0.305, 0.280, 0.0448, 0.00872, 0.203, 0.190,
                      0.191, 0.0124, 1.050, 0.00138, 1.276, 0.837, 0.658, 1.451, 1.156, 0.161, 0.600, 0.0205, 1.403, 0.871, 0.856,
                      0.0825, 2.452, 1.979, 3.848, 0.266, 5.36e-5, 1.271, 0.430, 2.881, 1.068, 2.802, 1.779, 3.676, 1.268, 1.112,
                      5.309, 2.5e-5, 2.206, 1.897, 0.0839, 7.408, 0.00167, 0.329, 4.263, 10.96, 13.93, 4.013, 7.038, 5.378, 24.17,
                      0.0950, 9.602, 0.355, 8.772, 32.99, 18.82, 10.28, 4.134, 0.934, 2.842, 1.233, 2.631, 1.514, 1.565, 1.817,
                      1.890, 1.382, 2.075, 2.134, 2.089])
    steps = np.arange(0, 800, 10)
    found = _sev({"Loss/train": (steps, train)}, "lr-too-high")
    assert found and found[0].evidence["form"] == "spiking" and found[0].remedies[0].params["factor"] < 1
    # climbs to only 3x the start in the same noise are no climb above the start; the loss still
    # fell to a tenth of its start and ended back near it, which the gave-back form reads
    low = np.minimum(train, 3.0 * 2.307)
    assert [f.evidence["form"] for f in _sev({"Loss/train": (steps, low)}, "lr-too-high")] == ["gave-back"]


def test_a_late_dip_in_a_flat_noisy_val_loss_is_no_overfitting_warning():
    # a healthy SGD run logged by Lightning (the numbers of such a population run): validation
    # falls fast, then bounces between 0.115 and 0.131 for the second half; its smoothed minimum
    # lands late and the last evaluations sit 6% above it — within the bounce, whose point noise
    # the whole curve's binned noise (mostly the smooth fall) underestimates eightfold
    val = np.array([2.1673, 1.8989, 1.4434, 0.9649, 0.6639, 0.4979, 0.392, 0.3105, 0.279, 0.225, 0.2133, 0.1917, 0.1759, 0.1634,
                    0.1579, 0.1519, 0.1455, 0.1498, 0.1407, 0.1396, 0.1361, 0.1369, 0.1344, 0.1339, 0.1308, 0.1273, 0.1266, 0.1285,
                    0.131, 0.1222, 0.1233, 0.119, 0.1238, 0.1239, 0.127, 0.1145, 0.1224, 0.1212, 0.1212, 0.1311, 0.1301, 0.1187,
                    0.1206, 0.1221, 0.1271, 0.1316, 0.1237, 0.1275, 0.1304, 0.119])
    vs = np.arange(17, 900, 18)[:50]
    ts = np.arange(49, 900, 50)
    train = np.array([1.4269, 0.5541, 0.3155, 0.2306, 0.201, 0.1233, 0.096, 0.1203, 0.049, 0.061, 0.0064, 0.081, 0.0558, 0.0271,
                      0.0198, 0.01, 0.0128, 0.0134])
    curves = {"train_loss_step": (ts, train), "val_loss": (vs, val)}
    assert not [f for f in _sev(curves, "overfitting") if f.severity != Severity.INFO]


def test_a_drift_up_to_the_worst_value_at_the_end_of_few_epochs_is_still_overfitting():
    # CIFAR-10 CNN, 15 epochs (a real run read by a person): val bottoms out at epoch 8 and ends
    # 16% above it at its worst while the train loss halves
    train = np.array([1.63, 1.15, 0.94, 0.82, 0.73, 0.66, 0.60, 0.55, 0.51, 0.46, 0.43, 0.39, 0.36, 0.33, 0.30])
    val = np.array([1.3539, 1.0777, 0.8922, 0.8815, 0.7821, 0.7009, 0.6743, 0.6987, 0.6648, 0.7191, 0.6961, 0.7036, 0.6974,
                    0.7084, 0.7703])
    epochs = np.arange(15)
    found = _sev({"train/loss": (epochs, train), "val/loss": (epochs, val)}, "overfitting")
    assert found and found[0].severity == Severity.WARNING


def test_a_flat_stretch_of_a_few_points_in_a_steady_fall_is_no_plateau():
    # Adam under a cyclic rate, 25 points logged every 10 steps (a healthy population run): the
    # loss eases for four points in a low-rate phase of the cycle, 17% of the run, then goes on
    train = np.array([1.117, 1.031, 0.9435, 0.938, 0.9213, 0.93, 0.925, 0.7083, 0.5793, 0.4822, 0.38, 0.253, 0.19, 0.1193,
                      0.1898, 0.1109, 0.1, 0.09, 0.08742, 0.075, 0.07, 0.068, 0.065, 0.063, 0.0616])
    steps = np.arange(9, 250, 10)
    assert "plateau" not in names({"train_loss": (steps, train)})
    # the same run stalled for ten points is a plateau
    long = np.concatenate([train[:3], np.full(10, 0.94) + np.linspace(0, -0.01, 10), train[7:]])
    assert "plateau" in names({"train_loss": (np.arange(9, 10 * long.size, 10), long)})


def test_a_train_rise_just_begun_under_a_validation_that_blew_up_is_a_divergence():
    # a rate ramping up to the end (a warmup sized for a longer run; the numbers of such a
    # population run, logged every 10 steps): the train loss has given back only 20% of its
    # gain at the stop, but validation ends far above its first evaluation
    train = np.array([0.94, 0.975, 1.046, 1.059, 0.833, 0.894, 0.946, 0.792, 0.774, 0.825, 0.781, 0.693, 0.663, 0.604, 0.628,
                      0.59, 0.504, 0.508, 0.404, 0.373, 0.395, 0.394, 0.332, 0.31, 0.336, 0.316, 0.326, 0.318, 0.301, 0.277,
                      0.271, 0.331, 0.248, 0.265, 0.297, 0.29, 0.258, 0.259, 0.266, 0.249, 0.292, 0.243, 0.226, 0.224, 0.223,
                      0.193, 0.222, 0.205, 0.249, 0.229, 0.211, 0.19, 0.22, 0.172, 0.172, 0.175, 0.143, 0.169, 0.171, 0.146,
                      0.123, 0.144, 0.123, 0.13, 0.12, 0.128, 0.104, 0.13, 0.109, 0.145, 0.102, 0.112, 0.118, 0.199, 0.13,
                      0.098, 0.108, 0.124, 0.116, 0.122, 0.244, 0.101, 0.125, 0.181, 0.164, 0.155, 0.108, 0.175, 0.126, 0.137,
                      0.162, 0.079, 0.291, 0.136, 0.123, 0.248, 0.101, 0.107, 0.197, 0.174, 0.089, 0.293, 0.12, 0.09, 0.167,
                      0.105, 0.357, 0.219, 0.274, 0.207, 0.269, 0.298, 0.264, 0.6, 0.174, 0.231, 0.406, 0.214, 0.4, 0.773])
    steps = np.arange(10, 1210, 10)
    vs = np.arange(100, 1201, 100)
    val = np.array([0.7837, 0.3682, 0.2705, 0.2406, 0.2166, 0.1467, 0.09925, 0.2832, 0.09399, 0.09506, 0.186, 2.025])
    assert _sev({"train/loss": (steps, train), "eval/loss": (vs, val)}, "divergence")
    # the same train loss under a validation that stays low is no divergence yet
    calm = val.copy()
    calm[-2:] = [0.1, 0.11]
    assert not _sev({"train/loss": (steps, train), "eval/loss": (vs, calm)}, "divergence")


# An LSTM logged by Lightning every 10 steps (the numbers of two population runs of one recipe):
# the val loss climbs from an early minimum while the one-batch train points bounce.
#  * lucky batch: the train level at the minimum must not be read off one lucky minibatch
#    (0.27 against ~0.6);
#  * two noisy medians: the train levels at the minimum (0.36, a 9-point median) and at the end
#    (0.46, a 6-point one) differ by under one point-noise: that is not a rising train loss.
_LSTM_OVERFIT = {
    "lucky-batch": (
        np.array([1.118, 0.523, 0.826, 0.782, 0.236, 0.854, 0.982, 0.968, 0.632, 0.596, 1.247, 0.271, 0.206, 0.938, 0.204,
                  0.891, 0.2, 0.48, 0.27, 0.646, 0.196, 0.529, 0.151, 0.135, 0.489, 1.319, 0.248, 0.462, 0.62, 0.682, 0.634,
                  0.861, 0.268, 0.126, 0.288, 0.53, 0.121, 0.168, 0.601, 0.596, 0.322, 0.233, 0.708, 0.455, 0.876, 0.414,
                  1.017, 0.472, 0.484, 0.117, 0.106, 0.335, 0.15, 0.385, 0.547, 0.387, 0.316, 0.409, 0.321, 0.433]),
        np.array([0.6528, 0.5756, 0.6021, 0.6583, 0.6791, 0.7686, 0.7519, 0.8141, 0.7203, 0.8912]),
        np.array([0.7625, 0.7825, 0.78, 0.7675, 0.7575, 0.765, 0.705, 0.69, 0.74, 0.695]),
    ),
    "two-noisy-medians": (
        np.array([0.9788, 1.295, 1.0035, 1.333, 0.8437, 0.6154, 0.7415, 1.3203, 0.3739, 0.2735, 0.6306, 0.4097, 0.6783,
                  0.3139, 0.344, 0.2689, 0.7201, 0.9851, 1.0348, 0.8353, 0.3634, 0.1162, 0.521, 0.044, 0.4499, 0.3517,
                  0.3446, 0.2203, 0.1404, 0.3141, 0.818, 0.1091, 0.378, 0.1897, 0.5443, 0.2145, 0.2893, 0.3985, 0.2482,
                  0.7415, 0.6814, 0.5535, 0.6022, 0.7285, 0.1901, 0.4986, 0.396, 0.1627, 0.1747, 0.1328, 0.0982, 0.2581,
                  0.0995, 0.791, 0.1793, 0.5276, 0.3946, 0.5736, 0.0437, 0.5372]),
        np.array([0.689, 0.7195, 0.6347, 0.7622, 0.7947, 0.813, 0.814, 0.9037, 0.9804, 1.0468]),
        np.array([0.7275, 0.73, 0.72, 0.705, 0.6925, 0.725, 0.735, 0.7, 0.69, 0.7175]),
    ),
}


@pytest.mark.parametrize("case", sorted(_LSTM_OVERFIT))
def test_overfitting_under_single_noisy_minibatch_points_is_seen(case):
    train, val, acc = _LSTM_OVERFIT[case]
    steps = np.arange(9, 600, 10)
    vs = np.arange(59, 600, 60)
    assert _sev({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, acc)}, "overfitting")


def test_a_classifier_worse_than_a_uniform_output_is_a_rate_too_high_not_memorisation():
    # Adam at lr 2 logged by Lightning every 10 steps (3 classes declared): the first logged point
    # already sits above ln 3, the loss stays about 27% above it (what a uniform output gives) and
    # validation accuracy stays at chance: no early jump or climb to read, only the level.
    # no-learning had called such a run "memorisation" and asked to check the labels.
    rng = np.random.default_rng(51)
    train = 1.40 * rng.lognormal(0, 0.04, 30)
    steps = np.arange(9, 300, 10)
    vs = np.arange(29, 300, 30)
    val = np.array([1.661, 1.897, 1.87, 2.597, 1.365, 1.454, 2.661, 2.046, 1.207, 1.319])
    acc = np.array([0.3575, 0.345, 0.34, 0.3225, 0.3375, 0.3425, 0.345, 0.34, 0.325, 0.3375])
    rep = diagnose_run(synth.run_of({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, acc)},
                                    hparams={"num_classes": 3}), ENGINE).report
    first = rep.findings[0]
    assert first.condition == "lr-too-high" and first.evidence["form"] == "worse-than-uniform"
    assert first.remedies[0].action == "scale_lr" and first.remedies[0].params["factor"] < 1
    assert not contradictions(first.summary)
    # the same curves at 20% below ln 3 (a model that does better than uniform) are no such finding
    ok = diagnose_run(synth.run_of({"train_loss": (steps, train * 0.6), "val_loss": (vs, val), "val_acc": (vs, acc)},
                                   hparams={"num_classes": 3}), ENGINE).report
    assert all(f.evidence.get("form") != "worse-than-uniform" for f in ok.findings)


def test_a_fall_from_a_blown_up_first_point_to_ln_c_is_not_called_memorisation():
    from advisor.rules import no_learning

    steps = np.arange(9, 300, 10)
    train = np.concatenate([[3.75], np.full(29, 1.15)]) * np.random.default_rng(52).lognormal(0, 0.03, 30)
    vs = np.arange(29, 300, 30)
    acc = np.full(10, 0.34)
    run = synth.run_of({"train_loss": (steps, train), "val_loss": (vs, np.full(10, 1.2)), "val_acc": (vs, acc)}, hparams={"num_classes": 3})
    ctx = _context(run)
    found = no_learning.detect(ctx, no_learning.Params())
    assert found and "memorisation" not in found[0].summary and found[0].remedies[0].action == "check_data"
    # read as a train loss at chance (ln 3), or on validation's accuracy: never as a loss that fell
    assert found[0].evidence.get("form") == "at-chance" or not found[0].evidence["train_loss_fell"]


def test_validation_on_twenty_examples_is_noisy_even_under_a_noisy_small_batch_train_loss():
    # a CNN at batch 8 logged by Lightning every 10 steps, 50 evaluations on 20 examples (the
    # numbers of such a population run): the one-batch train loss is as noisy as validation, so
    # the 'calm train' test cannot tell; the accuracy's steps of 1/20 can
    train = np.array([2.1934, 1.6293, 0.7725, 0.4537, 0.8252, 0.5432, 0.7928, 1.2888, 0.2135, 0.3727, 0.0043, 0.371, 0.0176,
                      1.0795, 0.6067, 0.9011, 0.6701, 0.2032, 0.6487, 0.1116, 0.3846, 0.0385, 0.7718, 2.3408, 0.7425, 0.4383,
                      1.125, 0.97, 1.1527, 0.1027, 0.005, 0.0559, 1.019, 2.0773, 0.3105, 0.6038, 1.2397, 0.0758, 0.0001, 2.2089])
    steps = np.arange(9, 400, 10)
    val = np.array([2.3262, 1.9967, 1.146, 0.9456, 0.5971, 0.8161, 0.5227, 0.4004, 0.7792, 0.4575, 0.4703, 0.3281, 0.3751,
                    0.3422, 0.1164, 0.158, 0.1823, 0.1689, 0.1877, 0.7583, 0.5414, 0.227, 0.2558, 0.3584, 0.1644, 0.5839, 0.4802,
                    1.0821, 1.0403, 1.0464, 1.1399, 0.8416, 0.8932, 0.7531, 0.6298, 0.8736, 1.0527, 1.0056, 1.2335, 0.9003,
                    0.4939, 0.5691, 1.2777, 0.3782, 0.3725, 0.4895, 0.1923, 0.4579, 0.639, 0.5907])
    vs = np.arange(7, 400, 8)
    right = np.array([4, 9, 15, 17, 14, 12, 17, 16, 14, 18, 18, 18, 17, 17, 19, 18, 19, 19, 19, 18, 17, 18, 19, 18, 19, 17, 19, 14,
                      16, 16, 12, 17, 17, 15, 17, 16, 17, 16, 18, 17, 18, 16, 17, 17, 18, 17, 19, 17, 16, 17])
    curves = {"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, right / 20)}
    found = _sev(curves, "noisy-validation")
    assert found and found[0].evidence["val_set_size_from_accuracy"] == 20 and "1/20" in found[0].summary
    # the same curves with an accuracy that moves in steps of 1/400 (a val set of 400) leave it to
    # the calm-train test, which the noisy train loss fails
    fine = (right * 20 + np.arange(50) % 7 - 3) / 400
    found = _sev({**curves, "val_acc": (vs, fine)}, "noisy-validation")
    assert not found or found[0].evidence["late_noise_over_level"] is None


def _apart_run(val_scale, rng_seed=0, late_rise=False, first_eval_spike=1.0):
    """A classifier logged every step (loss 2.3 -> 0.3) with 10 evaluations; validation is the train
    curve times ``val_scale`` (a split prepared differently), or rises late (overfitting), or has
    one high first evaluation (batch-norm statistics still warming up)."""
    rng = np.random.default_rng(rng_seed)
    steps = np.arange(400)
    train = 0.3 + 2.0 * np.exp(-steps / 80) + rng.normal(0, 0.02, steps.size)
    vs = np.arange(40, 401, 40)
    val = (0.3 + 2.0 * np.exp(-vs / 80)) * val_scale
    if late_rise:
        val = val + np.where(vs > 200, (vs - 200) / 200 * 3.0, 0.0)
    val[0] *= first_eval_spike
    return {"train/loss": (steps, train), "val/loss": (vs, val)}


def test_validation_far_above_train_from_the_first_evaluation_is_a_data_mismatch():
    # a digits pixel constant over the train split, standardised by its ~0 std: val inputs ~1e7
    rep = diagnose_run(synth.run_of(_apart_run(12.0)), ENGINE).report
    first = rep.findings[0]
    assert first.condition == "data-mismatch" and first.evidence["form"] == "val-apart"
    assert first.evidence["val_over_train_first"] >= 4 and first.evidence["evaluations"] >= 3
    assert first.remedies[0].action == "check_data"
    assert not contradictions(first.summary)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"val_scale": 1.05},  # a healthy run: validation a little above train
        {"val_scale": 1.0, "late_rise": True},  # overfitting opens the gap only later
        {"val_scale": 1.0, "first_eval_spike": 8.0},  # one high first evaluation, then the splits agree
        {"val_scale": 3.0},  # three times above: under the 4x the form asks for
    ],
)
def test_validation_close_to_train_early_is_no_data_mismatch(kwargs):
    assert "data-mismatch" not in names(_apart_run(**kwargs))


def _scaled_train_run(train_scale, val_start=1.3):
    """A 4-class classifier: 10 epochs of 72 logged points; the train loss (ln 4 -> 0.16) times
    ``train_scale`` (Ultralytics' classifier logs a batch sum over another count), validation from
    ``val_start`` down to 0.87 and its accuracy from chance (0.25) to 0.72."""
    steps = np.arange(1, 721)
    train = (0.16 + (math.log(4) - 0.16) * np.exp(-steps / 300)) * train_scale
    vs = np.arange(72, 721, 72)
    val = np.linspace(val_start, 0.87, vs.size)
    acc = np.linspace(0.25, 0.72, vs.size)
    return {"train/loss": (steps, train), "val/loss": (vs, val), "val/accuracy": (vs, acc)}


def test_a_train_loss_on_another_scale_is_told_as_info_not_as_splits_prepared_apart():
    # the untrained model scores chance on validation at a loss near ln 4 while the train loss
    # started at a quarter of ln 4: no split is prepared differently, the train loss is scaled
    found = _sev(_scaled_train_run(0.25), "data-mismatch")
    assert len(found) == 1 and found[0].severity == Severity.INFO
    assert found[0].evidence["form"] == "scale-apart" and found[0].evidence["chance_classes"] == 4
    assert "another scale" in found[0].summary and not contradictions(found[0].summary)
    # validation thrown far above ln 4 at chance accuracy (val inputs ~1e7) stays the warning
    found = _sev(_scaled_train_run(0.25, val_start=30.0), "data-mismatch")
    assert found and found[0].severity == Severity.WARNING and found[0].evidence["form"] == "val-apart"


def test_a_tiny_train_split_memorised_before_the_first_evaluation_is_no_data_mismatch():
    # 100 train examples, logged every 50 steps: by the first evaluation the train loss is already
    # 0.18 against its 1.45 start and val 0.9 — overfitting that opened early, not two splits
    # prepared differently (val is still under the untrained model's loss)
    steps = np.arange(50, 1001, 50)
    train = np.r_[1.45, 0.18, 0.1 * np.exp(-np.arange(18) / 3.0) + 0.001]
    val = 0.9 + 0.0002 * np.maximum(steps - 150, 0)
    assert "data-mismatch" not in names({"train/loss": (steps, train), "val/loss": (steps, val)})


def test_a_mismatched_split_explains_what_validation_seems_to_say_and_class_order_explains_the_gap():
    apart = F("data-mismatch", Severity.WARNING, 0.7, form="val-apart")
    out = resolve([F("overfitting", Severity.WARNING, 0.9), F("noisy-validation", Severity.INFO, 0.99), apart])
    assert [f.condition for f in out][0] == "data-mismatch"
    assert out[0].evidence["explains"] == ["noisy-validation", "overfitting"]
    # a test set apart from validation says nothing about validation's own curve
    test_apart = F("data-mismatch", Severity.WARNING, 0.7, form="test-vs-val")
    out = resolve([F("overfitting", Severity.WARNING, 0.9), test_apart])
    assert "explained_by" not in out[[f.condition for f in out].index("overfitting")].evidence
    # training on one class at a time: the train loss measures the current class, not the mix
    out = resolve([apart, F("unshuffled-data", Severity.WARNING, 0.6)])
    assert [f.condition for f in out] == ["unshuffled-data", "data-mismatch"]


def test_local_means_are_the_window_means_or_the_points_around_a_sparse_step():
    from advisor.rules.data_mismatch import _local_means

    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(5000, 400, replace=False)).astype(float)
    values = rng.exponential(1.0, steps.size)
    at = np.array([0.0, 700.0, 2500.0, 4999.0])
    got = _local_means(steps, values, at, 60.0)
    for a, g in zip(at, got):
        m = np.abs(steps - a) <= 60.0
        if m.sum() >= 10:
            assert g == pytest.approx(values[m].mean())
        else:  # the 10 points around it
            i = int(np.clip(np.searchsorted(steps, a) - 5, 0, steps.size - 10))
            assert g == pytest.approx(values[i : i + 10].mean())
    dense = _local_means(np.arange(100.0), np.arange(100.0), np.array([50.0]), 10.0)
    assert dense[0] == pytest.approx(50.0)  # the 21 points 40..60


def test_a_lucky_first_minibatch_is_not_the_start_a_noisy_loss_made_no_progress_from():
    # batch 1 on a regression: each point is one example's squared error (chi-square, heavy-tailed);
    # the first example happened to be fit already (0.02). The loss fell from ~1 to ~0.3: progress,
    # not a rate too high "bouncing above its start without progress"
    rng = np.random.default_rng(7)
    steps = np.arange(1500)
    level = 0.3 + 0.8 * np.exp(-steps / 150)
    loss = level * rng.chisquare(1, steps.size)
    loss[:3] = [0.02, 0.9, 0.01]
    got = names({"train/loss": (steps, loss)})
    assert "lr-too-high" not in got and "gradient-noise" in got


@pytest.mark.parametrize("episode_level, fires", [(0.82, False), (1.6, True)])
def test_a_stuck_loss_bounces_only_when_it_climbs_well_above_its_start(episode_level, fires):
    # a loss stuck near 0.65 (a linear model on spirals, a deep sigmoid net whose gradients vanished)
    # with four stretches higher up: 1.25x its start is minibatch noise around a stuck loss; 2.5x
    # is steps thrown too far
    rng = np.random.default_rng(11)
    steps = np.arange(0, 2000, 10)
    level = np.full(steps.size, 0.65)
    for a in (30, 70, 110, 150):
        level[a : a + 12] = episode_level
    loss = level * np.exp(rng.normal(0, 0.04, steps.size))
    got = names({"train/loss": (steps, loss)})
    assert ("lr-too-high" in got) == fires


# a healthy digits CNN under a triangular cyclic rate (the numbers of such a population run, 50
# evaluations every 6 steps): each high-rate phase lifts the val loss, each low-rate phase brings
# it back; the smoothed minimum is at a trough (step 222) and the last evaluation, at the next
# trough, is back at it
CYCLIC_VAL = [2.294, 2.279, 2.254, 2.212, 2.149, 2.042, 1.859, 1.626, 1.328, 1.06, 0.912, 0.813, 0.762, 0.688, 0.598, 0.533,
              0.448, 0.481, 0.357, 0.29, 0.265, 0.277, 0.252, 0.249, 0.225, 0.223, 0.233, 0.229, 0.248, 0.188, 0.194, 0.214,
              0.256, 0.227, 0.18, 0.152, 0.151, 0.152, 0.161, 0.161, 0.159, 0.158, 0.175, 0.181, 0.191, 0.183, 0.191, 0.185,
              0.17, 0.15]


def _cyclic_run(val):
    rng = np.random.default_rng(3)
    steps = np.arange(300)
    train = (0.09 + 2.24 / (1 + np.exp((steps - 55) / 12))) * rng.lognormal(0, 0.45, 300)  # one minibatch a point
    lr = 0.001 + 0.0088 * (1 - np.abs((steps % 72) / 36 - 1))  # 72-step triangles, troughs at 0, 72, ...
    return {"Loss/train": (steps, train), "Loss/val": (np.arange(6, 301, 6), np.array(val)), "lr": (steps, lr)}


def test_a_val_loss_back_at_its_minimum_at_the_end_of_a_cyclic_rate_is_no_overfitting():
    assert not [f for f in _sev(_cyclic_run(CYCLIC_VAL), "overfitting") if f.severity != Severity.INFO]
    # the same run whose last evaluation stays up with the rest of the rise is overfitting
    stays_up = CYCLIC_VAL[:-1] + [0.19]
    assert [f for f in _sev(_cyclic_run(stays_up), "overfitting") if f.severity == Severity.WARNING]


def test_vanishing_gradients_are_seen_through_a_noisy_per_batch_global_norm():
    # an 8-layer sigmoid MLP under SGD (such a population run, 50 points, one minibatch each):
    # the input layers get ~1e-6 of the output layer's gradient, the loss does not move, and the
    # global norm (the output layer's, in effect) jumps 0.002-1.3 from batch to batch — one batch
    # at 10x the early median is noise, not a gradient that grew tenfold
    rng = np.random.default_rng(4)
    steps = np.arange(0, 500, 10)
    out = 0.25 * rng.lognormal(0, 0.9, steps.size)
    out[:5] = [0.331, 0.371, 0.116, 0.109, 0.002]  # the run's first five: an early median of 0.116
    out[31] = 1.29
    curves = {"train/loss": (steps, 0.70 + rng.normal(0, 0.04, steps.size)), "train/grad_norm": (steps, out)}
    for i in range(9):  # each layer nearer the input gets ~1/7 of the next one's gradient
        curves[f"train/grad_norm/layer{i}"] = (steps, out * 7.0 ** (i - 8) * rng.lognormal(0, 0.1, steps.size))
    assert names(curves)[0] == "vanishing-gradients"
    # two steps a loss scaler skipped (inf in the global norm, finite around them) explode nothing
    skipped = out.copy()
    skipped[[20, 21]] = np.inf
    assert "vanishing-gradients" in names({**curves, "train/grad_norm": (steps, skipped)})
    # a norm whose running level grew tenfold is no vanishing gradient (the last layers exploded)
    grown = out * np.where(steps >= 250, 20.0, 1.0)
    curves["train/grad_norm"] = (steps, grown)
    assert "vanishing-gradients" not in names(curves)


def _irnn(loss_after, jump=True):
    # a plain RNN at identity init under momentum (such a population run, 300 points, one
    # minibatch each): the norm blows up in the first steps and settles near 1
    rng = np.random.default_rng(5)
    steps = np.arange(300)
    grad = 0.9 * rng.lognormal(0, 0.5, 300)
    grad[:12] = [50, 13.8, 159.4, 45.9, 7.7, 119.9, 4.4, 45.6, 86.3, 17.3, 74.6, 43.0]
    head = [1.23, 0.73, 2.19, 1.35, 1.18, 1.45, 0.77, 0.85, 1.1, 0.72, 1.33, 1.33] if jump else [1.23, 0.73, 1.19, 1.0, 1.18, 1.1, 0.77, 0.85, 1.1, 0.72, 1.0, 1.0]
    loss = np.concatenate([head, loss_after(steps[12:]) * rng.lognormal(0, 0.25, 288)])
    return {"Loss/train": (steps, loss), "grad_norm": (steps, grad)}


def test_an_early_gradient_burst_that_left_the_loss_stuck_is_exploding_gradients():
    stuck = _sev(_irnn(lambda s: np.full(s.size, 1.2)), "exploding-gradients")
    assert stuck and stuck[0].severity >= Severity.WARNING and stuck[0].remedies[0].action == "clip_grad_norm"
    assert "burst" in stuck[0].summary
    # the same burst followed by a loss that falls well is a run that recovered: nothing to say
    assert not _sev(_irnn(lambda s: 0.1 + 1.1 * np.exp(-(s - 12) / 40)), "exploding-gradients")
    # a norm far above its later level at the start while the loss did not jump (a fine-tune's
    # first steps) is no burst either
    assert not _sev(_irnn(lambda s: np.full(s.size, 1.1), jump=False), "exploding-gradients")


def _blown_first(loss_after, head=(6.0, 6.65, 3.83, 2.77, 2.34, 2.36, 1.51, 1.61, 1.13, 1.24)):
    # a plain RNN whose first logged loss already holds the blow-up (population seeds 63-71,
    # an IRNN under a rate ramp): the norm bursts to hundreds in the first steps, the loss is
    # logged at 6 first and sits at about ln 3 after — no jump above its first point to see
    rng = np.random.default_rng(7)
    steps = np.arange(0, 400, 2)
    grad = 1.3 * rng.lognormal(0, 0.5, steps.size)
    grad[:12] = [827.3, 173.1, 75.5, 52.5, 37.2, 36.8, 23.3, 19.8, 18.0, 15.7, 22.2, 19.8]
    loss = np.concatenate([head, loss_after(steps[10:]) * rng.lognormal(0, 0.15, steps.size - 10)])
    return {"Loss/train": (steps, loss), "grad_norm": (steps, grad)}


def test_a_burst_whose_blow_up_is_the_first_logged_loss_is_exploding_gradients():
    got = _sev(_blown_first(lambda s: 1.0 + 0.1 * s / 400), "exploding-gradients")
    assert got and got[0].severity >= Severity.WARNING and got[0].remedies[0].action == "clip_grad_norm"
    assert got[0].evidence["first_over_settled"] >= 3 and "loss_jump" not in got[0].evidence
    assert "burst" in got[0].summary and "first logged point" in got[0].summary and "higher" in got[0].summary
    assert contradictions(got[0].summary) == [], got[0].summary
    # the same start followed by a loss that keeps falling is a model that learned: nothing
    assert not _sev(_blown_first(lambda s: 0.05 + 0.9 * np.exp(-(s - 20) / 60)), "exploding-gradients")
    # a first point only a little above where the loss settled is no blown-up start
    calm = (2.2, 1.9, 1.6, 1.3, 1.2, 1.1, 1.05, 1.1, 1.0, 1.0)
    assert not _sev(_blown_first(lambda s: np.full(s.size, 1.0), head=calm), "exploding-gradients")


def test_one_outlying_minibatch_below_a_flat_loss_does_not_hide_no_learning():
    # a transformer at lr 1e-7 (a scheduler that never stepped; such a population run, 250
    # single-minibatch points, 2 a bin): the loss does not move, but one bin sits five of its
    # noises below the level — the lowest point is no dip the run made
    rng = np.random.default_rng(6)
    steps = np.arange(250)
    train = 1.36 + rng.normal(0, 0.045, 250)
    train[0], train[116], train[117] = 1.324, 1.10, 1.19
    vs = np.arange(25, 251, 25)
    val = 1.35733 - 2.4e-6 * np.arange(10)  # moves in perfect order, by 0.002%
    acc = np.full(10, 0.3125)  # the majority class's share, not learned
    curves = {"train/loss": (steps, train), "train/lr": (steps, np.full(250, 1e-7)), "val/loss": (vs, val), "val/accuracy": (vs, acc)}
    assert "no-learning" in names(curves)


def test_the_class_count_read_off_a_stuck_run_is_the_one_its_loss_pins():
    # momentum 0.5 at lr 0.5 on 10 classes, logged every 10 steps: the loss sits at ln 10 = 2.30
    # after the early jump, and validation accuracy wanders at chance over 10 evaluations
    # (median 0.114, which alone reads as 9 classes; 0.086 reads as 12). The loss pins C = 10.
    rng = np.random.default_rng(53)
    steps = np.arange(0, 500, 10)
    train = 2.33 * rng.lognormal(0, 0.012, 50)
    vs = np.arange(49, 500, 50)
    for acc in ([0.086, 0.12, 0.1, 0.097, 0.092, 0.114, 0.114, 0.123, 0.12, 0.114],
                [0.109, 0.103, 0.086, 0.097, 0.097, 0.067, 0.086, 0.086, 0.086, 0.086]):
        run = synth.run_of({"train_loss": (steps, train), "val_loss": (vs, np.full(10, 2.33)), "val_acc": (vs, np.array(acc))})
        ctx = _context(run)
        assert ctx.num_classes == 10
    # an accuracy at 0.5 with a loss at ln 2 is two classes, as before
    run = synth.run_of({"train_loss": (steps, np.full(50, 0.69)), "val_acc": (vs, np.full(10, 0.5))})
    assert _context(run).num_classes == 2


def test_a_validation_loss_that_never_improved_is_not_described_as_a_ratio_to_zero():
    # Adam at 0.05 on digits: the val loss is lowest at its first evaluations and wanders above
    # them; the old summary read "noise 0.299 is 999.0x its improvement 0".
    rng = np.random.default_rng(54)
    steps = np.arange(0, 600)
    train = 0.6 * rng.lognormal(0, 0.3, 600)
    vs = np.arange(39, 600, 40)
    val = np.array([0.385, 0.722, 1.193, 0.955, 0.509, 1.0, 0.972, 0.558, 0.806, 0.999, 1.041, 0.807, 0.981, 0.916, 1.385])
    rep = diagnose_run(synth.run_of({"train_loss": (steps, train), "val_loss": (vs, val)}), ENGINE).report
    nv = [f for f in rep.findings if f.condition == "noisy-validation"]
    assert nv, [f.condition for f in rep.findings]
    assert "never improved" in nv[0].summary and "999" not in nv[0].summary and "improvement 0" not in nv[0].summary
    assert "never improved" in nv[0].remedies[0].rationale and not contradictions(nv[0].summary)


def test_a_loss_that_crosses_zero_is_judged_against_its_range_not_its_level():
    # a Gaussian / flow NLL goes below 0: a rise from -0.06 to 0.09 is not "251%", and a healthy
    # val loss bouncing around 0 is not noise "1000% of its level"
    rng = np.random.default_rng(55)
    steps = np.arange(5000)
    vs = np.arange(249, 5000, 250)
    healthy = {"train/loss": (steps, 5 * np.exp(-steps / 1000) - 3 + rng.normal(0, 0.1, 5000)),
               "val/loss": (vs, 5 * np.exp(-vs / 1000) - 2.95 + rng.normal(0, 0.01, vs.size))}
    for shift in (0.0, 2.8, 2.9):  # val ends at -2.9, at -0.12, at -0.02: below zero, or crossing it
        curves = {k: (s, v + shift) for k, (s, v) in healthy.items()}
        rep = diagnose_run(synth.run_of(curves), ENGINE).report
        assert not [f.condition for f in rep.findings if f.condition in ("noisy-validation", "overfitting")], (shift, rep.findings)
    over = {"train/loss": (steps, 2 * np.exp(-steps / 800) - 0.5 + rng.normal(0, 0.05, 5000)),
            "val/loss": (vs, 2 * np.exp(-vs / 800) - 0.4 + 0.0001 * vs)}
    rep = diagnose_run(synth.run_of(over), ENGINE).report
    of = [f for f in rep.findings if f.condition == "overfitting"]
    assert of and "of the range it moved over" in of[0].summary and not contradictions(of[0].summary)


def test_a_val_accuracy_below_chance_under_a_loss_pinned_at_ln_c_is_no_learning():
    # shuffled labels on 10 classes (population seeds 69/73): the train loss creeps 2.33 -> 2.23
    # (memorising minibatches), validation sits at 2.31-2.32 (ln 10 = 2.303) and its accuracy
    # drifts to 0.05-0.08 — below 1/C, as a model stuck at chance scores on a small val set. The
    # loss pins C = 10 within 1%; the run learned nothing, and a "slow convergence" (raise the rate)
    # would be the wrong reading
    rng = np.random.default_rng(69)
    steps = np.arange(300)
    train = (2.33 - 0.1 * steps / 300) * rng.lognormal(0, 0.012, 300)
    vs = np.arange(30, 301, 30)
    acc = np.array([0.128, 0.111, 0.117, 0.0808, 0.0585, 0.0446, 0.0501, 0.0669, 0.0613, 0.0836])
    val = np.array([2.316, 2.312, 2.309, 2.311, 2.311, 2.312, 2.313, 2.314, 2.316, 2.318])
    curves = {"Loss/train": (steps, train), "Loss/val": (vs, val), "Accuracy/val": (vs, acc)}
    got = names(curves)
    assert got[0] == "no-learning" and "slow-convergence" not in got
    # the same accuracy beside losses 1.4-6% off ln 10 and ln 11 is read as before, from the
    # accuracy's own 1/C (0.061 -> 16): a count below its chance needs the loss pinned within 1%
    off = {"Loss/train": (steps, train * 1.05), "Loss/val": (vs, val * 1.05), "Accuracy/val": (vs, acc)}
    run = synth.run_of(off)
    assert _context(run).num_classes == 16


def test_an_underfit_classifier_that_learned_to_a_third_is_not_read_as_three_classes_at_chance():
    # a width-2 MLP on 10-class digits (population recipe digits-width2-tanh-sgd): the loss falls
    # from ln 10 = 2.30 to 1.26 and accuracy climbs from 0.09 to about 0.35 — which alone reads as
    # "3 classes at chance" (0.35 ~ 1/3, 1.26 within 15% of ln 3). The start rules 3 out: it was
    # a critical lr-too-high ("jumped from ln 3 to 2.49") on a run whose rate was fine.
    rng = np.random.default_rng(57)
    steps = np.arange(600)
    level = 1.25 + 1.05 * np.exp(-steps / 90.0)
    train = level * rng.lognormal(0, 0.08, 600)
    train[:3] = [2.31, 2.40, 2.34]
    acc = np.clip(0.36 - 0.27 * np.exp(-steps / 30.0) + rng.normal(0, 0.08, 600), 0, 1)
    acc[:3] = [0.09, 0.06, 0.25]
    vs = np.arange(59, 600, 60)
    val_acc = np.array([0.351, 0.301, 0.345, 0.348, 0.348, 0.345, 0.359, 0.376, 0.37, 0.354])
    curves = {"train_loss": (steps, train), "train_acc": (steps, acc), "val_loss": (vs, 1.29 + 0.4 * np.exp(-vs / 90.0)), "val_acc": (vs, val_acc)}
    run = synth.run_of(curves)
    assert _context(run).num_classes != 3
    assert "lr-too-high" not in names(curves)
    # a stuck 3-class run whose first accuracies are noisy minibatches is still 3 classes
    stuck = {"train_loss": (steps, 1.10 * rng.lognormal(0, 0.03, 600)), "val_acc": (vs, np.full(10, 0.34)),
             "train_acc": (steps, np.r_[[0.0, 0.06, 0.0], np.full(597, 0.33)])}
    run = synth.run_of(stuck)
    assert _context(run).num_classes == 3


def test_a_model_that_flattened_at_low_accuracy_underfits_though_its_loss_halved():
    # width-2 MLP on 10-class digits: the loss halves (2.3 -> 1.25, 54% of its start, under the
    # 0.7 the loss alone needs) but train and validation accuracy sit near 0.4 with train and val
    # losses together: underfitting. The same loss curve at 90% accuracy is not.
    rng = np.random.default_rng(58)
    steps = np.arange(600)
    train = (1.25 + 1.05 * np.exp(-steps / 90.0)) * rng.lognormal(0, 0.03, 600)
    vs = np.arange(59, 600, 60)
    val = 1.27 + 1.0 * np.exp(-vs / 90.0)
    for level, expected in ((0.4, True), (0.9, False)):
        acc = np.clip(level - (level - 0.1) * np.exp(-steps / 60.0) + rng.normal(0, 0.03, 600), 0, 1)
        curves = {"train_loss": (steps, train), "train_acc": (steps, acc), "val_loss": (vs, val),
                  "val_acc": (vs, np.full(10, level))}
        assert ("underfitting" in names(curves)) is expected, level


def test_underfitting_is_an_alarm_only_when_the_run_declares_a_model_too_small():
    # eight overlapping classes under a 64-wide MLP stop at 1.45 from 2.08 with train and val
    # together and accuracy 0.48 — the picture of a 2-wide model on spirals. Without a declared
    # width the finding is advice (info) and says the task's floor looks the same; a declared
    # width of 2 makes it a warning.
    rng = np.random.default_rng(59)
    steps = np.arange(800)
    train = (1.45 + 0.63 * np.exp(-steps / 80.0)) * rng.lognormal(0, 0.02, 800)
    vs = np.arange(79, 800, 80)
    curves = {"train_loss": (steps, train), "val_loss": (vs, 1.47 + 0.5 * np.exp(-vs / 80.0))}
    (f,) = [x for x in diagnose_run(synth.run_of(curves), ENGINE).report.findings if x.condition == "underfitting"]
    assert f.severity == Severity.INFO and "floor" in f.summary
    run = synth.run_of(curves, hparams={"width": 2})
    (f,) = [x for x in diagnose_run(run, ENGINE).report.findings if x.condition == "underfitting"]
    assert f.severity == Severity.WARNING and f.remedies[0].action == "capacity"


def test_a_run_resumed_from_a_trained_model_is_not_read_as_stuck_or_bouncing():
    # a 3-class LSTM resumed at AdamW 3e-4 after 400 steps of training (population
    # healthy/resume-*): loss flat at 0.47 from its first point, accuracy 0.79 from the first
    # evaluation — read as critical no-learning before. A binary model resumed at loss 0.002 with
    # one-minibatch points climbing to 30x that level: a critical lr-too-high before.
    rng = np.random.default_rng(60)
    steps = np.arange(10, 401, 10)
    vs = np.arange(40, 401, 40)
    resumed = {"train/loss": (steps, 0.47 * rng.lognormal(0, 0.05, 40)), "eval/loss": (vs, np.full(10, 0.52)),
               "eval/accuracy": (vs, 0.79 + rng.normal(0, 0.003, 10))}
    run = synth.run_of(resumed, hparams={"num_classes": 3})
    assert not {"no-learning", "lr-too-high"} & {f.condition for f in diagnose_run(run, ENGINE).report.findings}
    st = np.arange(600)
    tiny = 0.002 * rng.lognormal(0, 1.2, 600)
    conv = {"train/loss": (st, tiny), "train/accuracy": (st, np.ones(600)), "val/loss": (np.arange(50, 601, 50), np.full(12, 0.0078)),
            "val/accuracy": (np.arange(50, 601, 50), np.full(12, 0.998))}
    assert "lr-too-high" not in names(conv)
    # the same start, then a rate that wrecks the model: accuracy 0.97 -> 0.36 and a loss at ln 2
    wrecked_loss = np.r_[0.3, 0.12, 0.13, 0.08, 0.07, np.full(35, 0.70) * rng.lognormal(0, 0.02, 35)]
    wrecked = {"train/loss": (steps, wrecked_loss), "eval/loss": (vs, np.r_[0.1, 0.09, np.full(8, 0.70)]),
               "eval/accuracy": (vs, np.r_[0.97, 0.99, np.full(8, 0.36)])}
    run = synth.run_of(wrecked, hparams={"num_classes": 2})
    assert not _context(run).started_trained


def test_a_flat_loss_poking_within_its_noise_above_its_start_is_not_bouncing():
    # a batch-of-2 LSTM (gradient-noise) and a resumed regression model at its floor: flat,
    # one-minibatch points, binned medians 1.3-1.6x the start in several episodes — within twice
    # the log-scale point noise. Steps too large throw a stuck loss far above that.
    rng = np.random.default_rng(61)
    st = np.arange(600)
    flat = 0.04 * rng.lognormal(0, 0.45, 600)
    assert "lr-too-high" not in names({"train/loss": (st, flat), "val/loss": (np.arange(50, 601, 50), np.full(12, 0.05))})


def test_a_declared_rate_far_too_high_that_threw_the_loss_is_named_though_the_run_recovered():
    # Adam at lr 5 logged by a Trainer every 10 steps: the first logged means hold a blow-up to
    # 1e3-4e4, then the model comes back down to 0.4 (validation accuracy falls from 0.99 to 0.85).
    # Before: bad-initial-loss and a decay suggestion, both info. Without the declared rate the
    # throw alone does not say which way the rate is off: no such finding.
    rng = np.random.default_rng(62)
    steps = np.arange(10, 401, 10)
    train = np.r_[[37888, 8200, 3388, 8265, 8684, 16724, 2336, 0.17, 2217, 2848, 910, 13080],
                  0.4 * rng.lognormal(0, 0.2, 28)]
    vs = np.arange(40, 401, 40)
    curves = {"train/loss": (steps, train), "eval/loss": (vs, np.r_[117.7, 8448, 0.43, 23362, 5146, 164, 492, 449, 448, 448]),
              "eval/accuracy": (vs, np.array([0.947, 0.99, 0.967, 0.942, 0.99, 0.928, 0.892, 0.845, 0.845, 0.845]))}
    declared = {**curves, "train/learning_rate": (steps, np.full(40, 5.0))}
    found = _sev(declared, "lr-too-high")
    assert found and found[0].evidence["form"] == "declared-blowup" and found[0].severity == Severity.WARNING
    assert found[0].remedies[0].action == "scale_lr" and found[0].remedies[0].params["factor"] <= 0.01
    assert not [f for f in _sev(curves, "lr-too-high") if f.evidence.get("form") == "declared-blowup"]


def test_a_class_sorted_loss_that_calms_after_each_boundary_is_not_a_reset_running_mean():
    # breast cancer sorted by class, SGD, batch 16, logged every step (29 steps an epoch): each
    # epoch the loss spikes at the class boundary and calms — which the running-mean guard (Keras
    # batch_loss, reset each epoch) took for its own signature. A running mean moves by a few
    # percent late in the epoch; fresh minibatches still move by tens of percent.
    rng = np.random.default_rng(63)
    period, n = 29, 580
    phase = np.arange(n) % period
    level = 0.05 + 0.6 * np.exp(-np.arange(n) / 200.0)
    sorted_loss = level * (1 + 3.0 * np.exp(-phase / 3.0)) * rng.lognormal(0, 0.35, n)
    assert "unshuffled-data" in names({"train/loss": (np.arange(n), sorted_loss)})
    fresh = level * rng.lognormal(0, 0.5, n)
    running = np.concatenate([np.cumsum(fresh[i:i + period]) / np.arange(1, period + 1) for i in range(0, n, period)])
    assert "unshuffled-data" not in names({"train/loss": (np.arange(n), running)})


def test_a_few_overflowed_steps_of_a_mixed_precision_run_are_not_a_broken_optimisation():
    # fp16 with a dynamic loss scaler: the Trainer logs grad_norm inf while the scaler calibrates
    # (three early logs) and once more mid-run; every loss stays finite and the run learns. It read
    # critical non-finite and lost its other findings; now info, and the rest stands. A gradient
    # norm that stays non-finite to the end is still critical.
    rng = np.random.default_rng(64)
    steps = np.arange(10, 2001, 10)
    train = (0.3 + 2.0 * np.exp(-steps / 300)) * rng.lognormal(0, 0.1, len(steps))
    gn = (1.0 + 3 * np.exp(-steps / 300)) * rng.lognormal(0, 0.2, len(steps))
    vs = np.arange(200, 2001, 200)
    val = 0.35 + 1.9 * np.exp(-vs / 300)
    amp = gn.copy()
    amp[:3], amp[50] = np.inf, np.nan
    rep = diagnose_run(synth.run_of({"train/loss": (steps, train), "train/grad_norm": (steps, amp), "eval/loss": (vs, val)}), ENGINE).report
    nf = [f for f in rep.findings if f.condition == "non-finite"]
    assert nf and nf[0].severity == Severity.INFO and nf[0].evidence["form"] == "skipped-steps"
    assert "lr-decay-needed" in {f.condition for f in rep.findings}
    broken = gn.copy()
    broken[150:] = np.nan
    rep = diagnose_run(synth.run_of({"train/loss": (steps, train), "train/grad_norm": (steps, broken), "eval/loss": (vs, val)}), ENGINE).report
    assert [f.severity for f in rep.findings if f.condition == "non-finite"] == [Severity.CRITICAL]


def _detector(metric_noise, gained=True, seed=0):
    """A YOLO-style run, 120 epochs: box losses falling smoothly (train and val), mAP climbing to
    0.4 (or flat at 0.05 when not ``gained``) with ``metric_noise`` between epochs."""
    rng = np.random.default_rng(seed)
    ep = np.arange(120)
    train = 0.05 + 0.15 * np.exp(-ep / 25)
    val = 0.06 + 0.15 * np.exp(-ep / 25) * (1 + rng.normal(0, 0.002, ep.size))
    mean = 0.4 * (1 - np.exp(-ep / 20)) if gained else np.full(ep.size, 0.05)
    m = np.clip(mean + rng.normal(0, metric_noise, ep.size), 0, 1)
    return {"train/box_loss": (ep, train), "val/box_loss": (ep, val), "metrics/mAP_0.5": (ep, m)}


def test_a_task_metric_jumping_beside_a_calm_val_loss_is_noisy_validation():
    found = _sev(_detector(0.03), "noisy-validation")
    assert found and found[0].evidence["signal"] == "val_metric" and found[0].evidence["metric"] == "metrics/mAP_0.5"
    assert found[0].remedies[0].action == "larger_val_set" and not contradictions(found[0].summary)
    # a metric that moves little, or one bouncing near zero in a model that never learned: quiet
    assert not _sev(_detector(0.004), "noisy-validation")
    assert not _sev(_detector(0.03, gained=False), "noisy-validation")


def test_a_spike_at_the_midpoint_evaluation_does_not_hide_a_widening_gap():
    # a Keras LSTM, 54 epochs: train 3.4 -> 0.24, validation flat at about 0.85 over the second
    # half with two noisy evaluations of 0.95 right at the midpoint, which read as a 13% fall
    # "over the second half" (extra9's music LSTM: a spike there hid a tripled gap)
    rng = np.random.default_rng(4)
    ep = np.arange(54)
    train = 0.2 + 3.2 * np.exp(-ep / 12.0)
    val = np.maximum(0.82 + 2.2 * np.exp(-ep / 6.0), 0.0) + 0.03 * np.sin(ep * 1.7) + rng.normal(0, 0.01, ep.size)
    val[26:28] = 0.95
    found = _sev({"epoch_loss": (ep, train), "validation/epoch_loss": (ep, val)}, "overfitting")
    assert found and found[0].evidence["form"] == "widening-gap"
    assert found[0].evidence["val_drop_second_half"] < 0.1


def _flat_regression(train_level, val_level, seed=0):
    """600 steps of a regression MLP, one noisy minibatch logged every step around ``train_level``
    (bouncing to 1.8x), 12 evaluations flat at ``val_level``; lr 0.003 logged."""
    rng = np.random.default_rng(seed)
    steps = np.arange(600)
    train = train_level * rng.gamma(8.0, 1 / 8.0, steps.size)
    vs = np.arange(50, 601, 50)
    val = val_level * (1 + rng.normal(0, 0.02, vs.size))
    return {"train/loss": (steps, train), "val/loss": (vs, val), "train/lr": (steps, np.full(steps.size, 0.003))}


def test_a_resumed_model_at_its_floor_is_neither_no_learning_nor_a_rate_too_high():
    # resumed from a trained checkpoint: the train loss sits at its floor (0.04) and validation 1.5x
    # above it from the first evaluation — a gap only a model that has learned opens
    for seed in range(3):
        conds = {f.condition: f.severity for f in diagnose_run(synth.run_of(_flat_regression(0.04, 0.06, seed)), ENGINE).report.findings}
        assert conds.get("no-learning") in (None, Severity.INFO) and conds.get("lr-too-high") in (None, Severity.INFO), conds
    # a narrower gap (val 1.2x train, as on one seed of the population's recipe) says the same;
    # a model that learns nothing scores both splits alike (1.00-1.04): still no-learning
    conds = {f.condition: f.severity for f in diagnose_run(synth.run_of(_flat_regression(0.045, 0.051)), ENGINE).report.findings}
    assert conds.get("no-learning") in (None, Severity.INFO) and conds.get("lr-too-high") in (None, Severity.INFO), conds
    assert "no-learning" in names(_flat_regression(1.0, 1.01))
