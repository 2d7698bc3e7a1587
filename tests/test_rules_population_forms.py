"""Forms the generated population showed the rules missing (issue 12), as small synthetic runs.

Each test builds the shape the population's runs had — sparse single-minibatch logging, a few
evaluations, a per-epoch log — and checks the rule that should see it does, while the shape it
was confused with stays quiet.
"""

import numpy as np

from advisor import remedies as R
from advisor.engine import Engine, resolve
from advisor.model import Finding, Severity
from advisor.pipeline import diagnose_run
from tests import synth

ENGINE = Engine.from_config()


def names(curves):
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    assert rep.problems == ()
    return [f.condition for f in rep.findings]


def F(cond, sev=Severity.WARNING, conf=0.5, onset=0, **ev):
    return Finding(cond, sev, conf, f"{cond} seen", ev, (R.scale_lr(0.1),), onset)


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
