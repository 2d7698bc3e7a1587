"""Live judgment on the issue's probes: severity grows with evidence, tripwires fire at once,
overfitting is reported within two evaluations of the offline analysis of the same prefix."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from advisor.live import Monitor as CoreMonitor
from advisor.live.judge import Judge
from advisor.live.torch import Monitor
from advisor.model import Finding, Severity

from .probes import digits, offline_first, overfit_data, train_torch


def _f(cond: str, sev: Severity) -> Finding:
    return Finding(condition=cond, severity=sev, confidence=0.9, summary="s", evidence={}, remedies=())


def test_a_condition_that_needs_the_future_is_capped_until_the_evidence_is_in():
    j = Judge(confirm=100, warmup=500, total_steps=4000)  # evidence: 25% of 4000 = step 1000
    nl = _f("no-learning", Severity.CRITICAL)
    assert j.weigh(nl, 50).severity is Severity.WARNING
    assert j.update([nl], 50) == []  # capped, and below critical: waits for warm-up and confirmation
    assert [f.severity for f in j.update([nl], 600)] == [Severity.WARNING]
    assert [f.severity for f in j.update([nl], 1000)] == [Severity.CRITICAL]  # the evidence is in
    assert j.weigh(nl, 50, final=True).severity is Severity.CRITICAL  # close(): as analyze says
    # a tripwire condition is delivered at once, whatever the step
    assert [f.condition for f in Judge(100, 500).update([_f("divergence", Severity.CRITICAL)], 3)] == ["divergence"]


def test_overfitting_waits_for_two_more_evaluations_not_for_the_warmup():
    j = Judge(confirm=200, warmup=500)
    of = _f("overfitting", Severity.WARNING)
    assert j.update([of], 120, evals=10) == []
    assert j.update([of], 130, evals=11) == []
    assert [f.condition for f in j.update([of], 140, evals=12)] == ["overfitting"]


def test_lr_8_on_digits_is_reported_at_the_first_cadence_point():
    # the probe: plain SGD at lr 8, the loss jumps at step 2 and then sits near ln 10
    res = train_torch(lambda m, o: Monitor(m, o, on_finding=None), lr=8.0, steps=150)
    first = [a for a in res.monitor.alerts if a.finding.severity is Severity.CRITICAL]
    assert first, [(a.step, a.finding.condition) for a in res.monitor.alerts]
    assert first[0].finding.condition in ("lr-too-high", "divergence", "non-finite", "exploding-gradients")
    assert first[0].step <= 2 * 50


def test_a_slow_start_is_not_a_critical_no_learning_at_step_50():
    # a healthy lr 0.05 on a deeper MLP: the loss sits near ln 10 for ~100 steps, then falls;
    # the offline rules on the 50-step prefix say "no-learning" (critical)
    mon_seen = {}

    def factory(m, o):
        mon = Monitor(m, o, on_finding=None, budget=0)
        mon_seen["mon"] = mon
        return mon

    res = train_torch(factory, lr=0.05, steps=60, depth=3)
    mon = mon_seen["mon"]
    offline = CoreMonitor(on_finding=None, confirm=0, warmup=0, budget=0)
    for s, v in enumerate(res.losses[:51]):
        offline.log(s, loss=v)
    assert any(f.condition == "no-learning" for f in offline.findings)  # the rule's own verdict
    # during the run: nothing critical (close() at step 59 then says what analyze would say)
    assert not [a for a in mon.alerts if a.finding.severity is Severity.CRITICAL and a.step < 59]


def test_overfitting_is_reported_within_two_evaluations_of_the_offline_analysis():
    every_eval = 10
    res = train_torch(lambda m, o: Monitor(m, o, on_finding=None), lr=0.5, steps=400, width=256, eval_every=every_eval, data=overfit_data())
    off = offline_first(res, "overfitting", hold=2)
    live = [a.step for a in res.monitor.alerts if a.finding.condition == "overfitting"]
    assert off is not None and live, (off, live)
    assert live[0] <= off + 2 * every_eval, (live[0], off)


def test_digits_probe_data_is_bundled():
    xt, yt, xv, yv = digits()
    assert xt.shape == (1400, 64) and set(yt.tolist()) == set(range(10)) and len(xv) == len(yv) > 300
