"""lr-too-high in runs that learned (issue 12): the gave-back and thrown-back forms.

Gave back: a loss that learned, then gave much of it back.

A rate several times too high (Adam at 0.05 on a small MLP, SGD at 1.0) does not blow the loss up
above its start: the loss falls, then wanders back up for many updates at a time and ends above its
best. Minibatch noise, however heavy, moves the medians of many points only by their standard
error; a spike the run recovers from, and a warm restart the logged rate asked for, are not this.
"""

import numpy as np

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth
from tests.test_summaries import contradictions

ENGINE = Engine.from_config()
N = 600
T = np.arange(N)


def _report(curves):
    return diagnose_run(synth.run_of(curves), ENGINE).report


def _gave_back(rep):
    return [f for f in rep.findings if f.condition == "lr-too-high" and f.evidence.get("form") == "gave-back"]


def _noisy(level, sigma=0.4, seed=0):
    return level * np.exp(np.random.default_rng(seed).normal(0, sigma, level.size))


def _unstable_level():
    # falls from 2.3 to about 0.25 by step 200, climbs back to about 0.8 over steps 300-420, ends near 0.6
    base = 0.25 + 2.05 * np.exp(-T / 40.0)
    climb = 0.55 * np.clip((T - 300) / 120.0, 0, 1) - 0.2 * np.clip((T - 480) / 120.0, 0, 1)
    return base + climb


def test_a_loss_that_gives_its_progress_back_reads_lr_too_high_first():
    for seed in range(3):
        rep = _report({"train/loss": (T, _noisy(_unstable_level(), seed=seed))})
        got = _gave_back(rep)
        assert len(got) == 1 and rep.findings[0].condition == "lr-too-high", [f.condition for f in rep.findings]
        f = got[0]
        assert f.severity.value == "warning"
        assert f.evidence["given_back"] >= 0.3 and f.evidence["still_lost_at_end"] >= 0.1 and f.evidence["climb_z"] >= 5
        assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1
        assert contradictions(f.summary) == [], f.summary
        assert "given back" in f.summary


def test_heavy_minibatch_noise_around_a_falling_loss_is_not_giving_back():
    for seed in range(5):
        level = 0.3 + 2.0 * np.exp(-T / 100.0)
        single_examples = np.random.default_rng(seed).exponential(level)  # batch size 1: one example a point
        lognormal = _noisy(level, sigma=0.9, seed=seed + 10)
        for y in (single_examples, lognormal):
            assert _gave_back(_report({"train/loss": (T, y)})) == []


def test_a_spike_the_run_recovers_from_is_not_giving_back():
    level = 0.05 + 2.25 * np.exp(-T / 40.0)
    level = level + 0.7 * np.exp(-(((T - 320) / 20.0) ** 2))  # one excursion, back to the floor by step 380
    assert _gave_back(_report({"train/loss": (T, _noisy(level))})) == []


def test_a_warm_restart_the_logged_rate_asked_for_is_not_giving_back():
    level = 0.25 + 2.05 * np.exp(-T / 40.0)
    level = level + np.where(T >= 400, 0.5 * np.exp(-(T - 400) / 300.0), 0.0)  # the restart throws the loss up
    lr = np.where(T < 400, 1e-3 * (1 - T / 400.0) + 1e-5, 0.1)
    loss = _noisy(level, seed=4)
    assert _gave_back(_report({"train/loss": (T, loss), "train/lr": (T, lr)})) == []
    # the same loss with no rate logged: nothing says the climb was asked for
    assert len(_gave_back(_report({"train/loss": (T, loss)}))) == 1


def test_beside_a_divergence_the_give_back_is_one_symptom_and_divergence_goes_first():
    # a loss that falls, then rises steadily to the end: divergence names it; the rate is one
    # hypothesis for it, not a cause linked to it
    rep = _report(synth.divergence(0))
    conds = [f.condition for f in rep.findings]
    assert conds[0] == "divergence" and "lr-too-high" in conds
    gb = _gave_back(rep)[0]
    assert "explains" not in gb.evidence and "explained_by" not in rep.findings[0].evidence


# ----------------------------------------------------------------------------- thrown back

def _keras(loss, acc=None):
    e = np.arange(len(loss))
    acc = np.linspace(0.4, 0.9, len(loss)) if acc is None else acc
    return {"train:epoch_loss": (e, np.asarray(loss, float)), "train:epoch_accuracy": (e, acc)}


def _thrown(rep):
    return [f for f in rep.findings if f.condition == "lr-too-high" and f.evidence.get("form") == "thrown-back"]


def test_a_classifier_thrown_back_to_a_huge_cross_entropy_after_learning_reads_lr_too_high():
    # Adam at 1.0 on a 3-class MLP, logged by Keras per epoch (a population run's numbers): the loss
    # learned to 0.03, was thrown to 28.7 in epoch 7, recovered to 0.14
    loss = [198, 12.4, 7.33, 11.2, 2.89, 0.0286, 3.59, 28.7, 20.3, 7.14, 0.328, 0.383, 0.31, 0.303, 0.236, 0.168] + [0.145] * 20
    rep = _report(_keras(loss))
    got = _thrown(rep)
    assert len(got) == 1 and rep.findings[0].condition == "lr-too-high"
    f = got[0]
    assert f.evidence["thrown_to"] == 28.7 and f.evidence["lowest_before"] == 0.0286 and f.evidence["thrown_step"] == 7
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1
    assert contradictions(f.summary) == [], f.summary


def test_what_is_not_a_throw_back():
    # a bad initialisation: the first point is huge, then the loss learns (bad-initial-loss's, not this)
    assert _thrown(_report(_keras([198, 40.0, 3.0, 1.0] + list(np.linspace(0.9, 0.2, 30))))) == []
    # a memorised set logged per minibatch: one example's loss of 30 now and then, never two in a row
    rng = np.random.default_rng(0)
    loss = 1e-3 * np.exp(rng.normal(0, 0.5, 600))
    loss[:20] = np.linspace(2.3, 0.01, 20)
    loss[rng.choice(np.arange(100, 600, 2), 6, replace=False)] = 30.0
    steps = np.arange(600)
    assert _thrown(_report({"train/loss": (steps, loss), "train/acc": (steps, np.full(600, 0.99))})) == []
    # no accuracy and no class count: a loss of tens may be any regression's scale
    loss = [5.0, 3.0, 1.0, 0.5, 30.0, 28.0] + [0.4] * 20
    assert _thrown(_report({"train/loss": (np.arange(len(loss)), np.array(loss))})) == []


def test_validation_best_before_the_throw_is_explained_by_it_not_overfitting():
    loss = [101, 23.3, 6.24, 2.55, 15.5, 23, 86.5, 107, 11.4, 2.62, 3.61, 0.742, 0.65] + [0.83] * 30
    val = [43.7, 36.7, 0.12, 0.0961, 0.0125, 260, 49.6, 54.6, 205, 18.9, 0.615, 0.669, 0.979] + [0.9] * 30
    curves = _keras(loss)
    curves["validation:epoch_loss"] = (np.arange(len(val)), np.array(val, float))
    rep = _report(curves)
    conds = [f.condition for f in rep.findings]
    assert conds[:2] == ["lr-too-high", "overfitting"] and _thrown(rep)
    assert rep.findings[1].evidence.get("explained_by") == "lr-too-high"


def test_the_live_monitor_reports_the_give_back_with_a_lower_rate_first():
    from advisor.live import Monitor

    mon = Monitor(every=50, on_finding=None, budget=0)
    loss = _noisy(_unstable_level(), seed=1)
    for step, value in zip(T, loss, strict=True):
        mon.log(int(step), {"train/loss": float(value)})
    mon.close()
    found = [f for f in mon.findings if f.condition == "lr-too-high"]
    assert found and found[0].evidence["form"] == "gave-back"
    assert found[0].remedies[0].action == "scale_lr" and found[0].remedies[0].params["factor"] < 1
