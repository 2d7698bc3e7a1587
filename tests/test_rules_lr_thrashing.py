"""lr-too-high, thrashing form (issue 12): a classifier that goes nowhere while its validation loss
lurches from one evaluation to the next.

Adam at 2 on a small LSTM, its train loss logged every 10 steps: the loss never sits near a level
that tells the class count, never jumps far above its start, and never learned anything to give
back — the other forms have nothing to hold. What it shows is steps that do not descend: the
validation loss swings up and down by a third between evaluations while validation accuracy stays
where it began. A rate too small leaves the validation loss smooth; a run that learns raises its
accuracy or drives its train loss down; a model already at its floor (it learned before the first
evaluation) lurches around a high accuracy.
"""

import numpy as np
import pytest

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth
from tests.test_summaries import contradictions

ENGINE = Engine.from_config()
TS = np.arange(9, 300, 10)  # train loss every 10 steps: 30 points
VS = np.arange(29, 300, 30)  # ten evaluations


def _report(curves, hparams=None):
    return diagnose_run(synth.run_of(curves, hparams=hparams), ENGINE).report


def _thrashing(rep):
    return [f for f in rep.findings if f.condition == "lr-too-high" and f.evidence.get("form") == "thrashing"]


def _train(seed, end=0.6):
    rng = np.random.default_rng(seed)
    level = 2.6 * (1 - (1 - end) * np.linspace(0, 1, TS.size))
    return level * np.exp(rng.normal(0, 0.4, TS.size))


def _lurching_val(seed, level=1.9, swing=0.35):
    rng = np.random.default_rng(seed + 100)
    signs = np.where(np.arange(VS.size) % 2 == 0, 1.0, -1.0)
    return level * np.exp(swing * signs * rng.uniform(0.6, 1.4, VS.size))


def _flat_acc(seed, level=0.36):
    return level + np.random.default_rng(seed + 200).normal(0, 0.03, VS.size)


@pytest.mark.parametrize("seed", range(4))
def test_a_classifier_that_goes_nowhere_while_its_val_loss_lurches_reads_lr_too_high_first(seed):
    rep = _report({"train/loss": (TS, _train(seed)), "val/loss": (VS, _lurching_val(seed)), "val/accuracy": (VS, _flat_acc(seed))})
    got = _thrashing(rep)
    assert len(got) == 1 and rep.findings[0].condition == "lr-too-high", [(f.condition, f.evidence.get("form")) for f in rep.findings]
    f = got[0]
    assert f.severity.value == "warning"
    assert f.evidence["evaluations"] == VS.size and f.evidence["val_loss_median_change"] >= 0.15
    rev, turns = f.evidence["val_loss_reversals"]
    assert turns == VS.size - 2 and rev >= turns / 2
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1
    assert all(r.params.get("factor", 0) < 1 for r in f.remedies if r.action == "scale_lr")
    assert contradictions(f.summary) == [], f.summary
    assert f"over {VS.size} evaluations" in f.summary


def test_a_declared_rate_sizes_the_cut():
    rep = _report({"train/loss": (TS, _train(0)), "val/loss": (VS, _lurching_val(0)), "val/accuracy": (VS, _flat_acc(0))},
                  hparams={"lr": 2.0, "optimizer": "adam"})
    f = _thrashing(rep)[0]
    assert f.remedies[0].params["factor"] <= 1e-3 * 1.01  # to Adam's usual top, 1e-3, from 2


@pytest.mark.parametrize("seed", range(3))
def test_a_classifier_that_learns_under_the_same_lurching_is_not_thrashing(seed):
    acc = np.linspace(0.35, 0.7, VS.size) + np.random.default_rng(seed).normal(0, 0.02, VS.size)
    rep = _report({"train/loss": (TS, _train(seed)), "val/loss": (VS, _lurching_val(seed)), "val/accuracy": (VS, acc)})
    assert _thrashing(rep) == []


@pytest.mark.parametrize("seed", range(3))
def test_a_smooth_val_loss_under_a_flat_accuracy_is_not_thrashing(seed):
    # a rate too small: validation creeps, accuracy does not move — never a reason to lower the rate
    val = 1.95 - 0.02 * np.arange(VS.size) / VS.size + np.random.default_rng(seed).normal(0, 0.004, VS.size)
    rep = _report({"train/loss": (TS, _train(seed, end=0.95)), "val/loss": (VS, val), "val/accuracy": (VS, _flat_acc(seed))})
    assert [f for f in rep.findings if f.condition == "lr-too-high"] == []


@pytest.mark.parametrize("seed", range(3))
def test_a_lurching_val_loss_around_a_high_accuracy_is_a_floor_not_thrashing(seed):
    # it learned before its first evaluation (94%): the lurching is the noise of a constant rate's floor
    rep = _report({"train/loss": (TS, _train(seed)), "val/loss": (VS, _lurching_val(seed, level=0.3)),
                   "val/accuracy": (VS, _flat_acc(seed, level=0.94))})
    assert _thrashing(rep) == []


@pytest.mark.parametrize("seed", range(3))
def test_a_memorising_train_loss_under_a_lurching_val_is_not_thrashing(seed):
    rep = _report({"train/loss": (TS, _train(seed, end=0.02)), "val/loss": (VS, _lurching_val(seed)), "val/accuracy": (VS, _flat_acc(seed))})
    assert _thrashing(rep) == []


def test_the_live_monitor_reports_thrashing_with_a_lower_rate_first():
    from advisor.live import Monitor

    mon = Monitor(every=50, on_finding=None, budget=0)
    train, val, acc = _train(1), _lurching_val(1), _flat_acc(1)
    vi = 0
    for step, value in zip(TS, train, strict=True):
        metrics = {"train/loss": float(value)}
        mon.log(int(step), metrics)
        while vi < VS.size and VS[vi] <= step:
            mon.log(int(VS[vi]), {"val/loss": float(val[vi]), "val/accuracy": float(acc[vi])})
            vi += 1
    mon.close()
    found = [f for f in mon.findings if f.condition == "lr-too-high"]
    assert found and found[0].evidence["form"] == "thrashing"
    assert found[0].remedies[0].action == "scale_lr" and found[0].remedies[0].params["factor"] < 1
