"""The framework-free live Monitor: cadence, reporting once, stopping, failing safely, latency."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest

from advisor.analyze import analyze
from advisor.config import AnalyzeConfig
from advisor.live import FindingAlarm, FindingTracker, Monitor
from advisor.live.recorder import to_host
from advisor.model import Finding, Severity

from .helpers import alerts_for, diverging, healthy, nan_at


def feed(mon: Monitor, loss: np.ndarray, val_every: int = 0, stop: bool = False) -> int:
    """Log a curve step by step; return the last step logged."""
    for step, v in enumerate(loss):
        mon.log(step, loss=float(v), lr=1e-3)
        if val_every and step % val_every == 0:
            mon.log(step, val_loss=float(v) * 1.05)
        if stop and mon.should_stop:
            return step
    return len(loss) - 1


# -- names, values, report -------------------------------------------------------------------------


def test_short_names_map_to_resolvable_tags_and_report_is_a_spec_run_entry():
    mon = Monitor(every=10, on_finding=None)
    for step in range(60):
        mon.log(step, loss=2.0 / (step + 1), lr=np.float32(0.1), grad_norm=np.array(1.5), acc=0.5)
        if step % 10 == 0:
            mon.log(step, {"val/loss": 2.1 / (step + 1)}, val_acc=0.4)
    entry = mon.report().to_dict()
    assert set(mon.run().series) == {"train/loss", "train/lr", "train/grad_norm", "train/accuracy", "val/loss", "val/accuracy"}
    assert entry["signals"] == {
        "train_loss": "train/loss", "val_loss": "val/loss", "lr": "train/lr", "grad_norm": "train/grad_norm",
        "train_acc": "train/accuracy", "val_acc": "val/accuracy",
    }
    assert entry["run"] == "live" and entry["steps"] == [0, 59]
    for key in ("run", "steps", "signals", "findings"):
        assert key in entry
    assert mon.run().series["train/lr"].values[0] == pytest.approx(0.1)


def test_values_stay_pending_until_the_cadence():
    mon = Monitor(every=50, on_finding=None)
    for step in range(49):
        mon.log(step, loss=1.0)
    assert mon.recorder.series == {} and mon.recorder.pending == 49
    mon.log(50, loss=1.0)
    assert mon.recorder.pending == 0 and len(mon.recorder.series["train/loss"]) == 50


def test_seconds_cadence_and_pending_cap():
    mon = Monitor(every=None, seconds=1e-9, on_finding=None)
    mon.log(0, loss=1.0)
    mon.log(1, loss=1.0)
    assert len(mon.recorder.series["train/loss"]) == 2 and not mon.recorder.pending
    capped = Monitor(every=10**9, max_pending=100, on_finding=None)
    for step in range(250):
        capped.log(step, loss=1.0)
    assert capped.recorder.pending < 100 and len(capped.recorder.series["train/loss"]) >= 200


def test_to_host_accepts_numbers_and_numpy():
    out = to_host([1, 2.5, np.float16(3.0), np.array([4.0]), True, "x", None])
    assert [float(a[0]) for a in out[:5]] == [1.0, 2.5, 3.0, 4.0, 1.0]
    assert out[5:] == [None, None]


# -- findings: once, escalation, deferral, stop, raise ------------------------------------------------


def _f(cond: str, sev: Severity) -> Finding:
    return Finding(cond, sev, 0.9, "x")


def test_tracker_reports_each_condition_once_and_again_when_severity_rises():
    t = FindingTracker()
    assert [f.condition for f in t.update([_f("overfitting", Severity.WARNING)])] == ["overfitting"]
    assert t.update([_f("overfitting", Severity.WARNING)]) == []
    assert t.update([_f("overfitting", Severity.INFO)]) == []
    assert [f.severity for f in t.update([_f("overfitting", Severity.CRITICAL)])] == [Severity.CRITICAL]


def test_tracker_confirmation_warmup_and_deferral():
    t = FindingTracker(confirm_steps=100, warmup=200, defer=("still-improving",))
    both = [_f("plateau", Severity.WARNING), _f("divergence", Severity.CRITICAL)]
    assert [f.condition for f in t.update(both, step=50)] == ["divergence"]  # critical: at once
    assert t.update([_f("plateau", Severity.WARNING)], step=150) == []  # before the warmup
    assert [f.condition for f in t.update([_f("plateau", Severity.WARNING)], step=250)] == ["plateau"]
    assert t.update([_f("oscillation", Severity.WARNING)], step=300) == []
    assert t.update([], step=350) == []  # the streak broke
    assert t.update([_f("oscillation", Severity.WARNING)], step=420) == []
    assert [f.condition for f in t.update([_f("oscillation", Severity.WARNING)], step=520)] == ["oscillation"]
    assert t.update([_f("still-improving", Severity.INFO)], step=900) == []
    assert [f.condition for f in t.update([_f("still-improving", Severity.INFO)], step=950, final=True)] == ["still-improving"]


def test_nan_is_reported_once_and_sets_should_stop():
    seen = []
    mon = Monitor(every=50, on_finding=[seen.append], stop_on="critical")
    last = feed(mon, nan_at(1000, 400), stop=True)
    assert mon.should_stop and last < 460
    assert [f.condition for f in seen] == ["non-finite"]
    feed(mon, nan_at(100, 0))  # more NaN: not reported again
    assert [f.condition for f in seen] == ["non-finite"]


def test_raise_callback_raises_from_log_and_stop_callback_sets_the_flag():
    mon = Monitor(every=50, on_finding="raise")
    with pytest.raises(FindingAlarm) as exc:
        feed(mon, nan_at(600, 300))
    assert exc.value.finding.condition == "non-finite"
    mon2 = Monitor(every=50, on_finding="stop")
    feed(mon2, nan_at(600, 300))
    assert mon2.should_stop


def test_print_warn_and_log_callbacks(capsys, caplog):
    with caplog.at_level(logging.CRITICAL, logger="advisor.live"):
        mon = Monitor(every=50, on_finding=["print", "log", "warn"])
        with pytest.warns(RuntimeWarning, match="non-finite"):
            feed(mon, nan_at(300, 150))
    assert "critical non-finite" in capsys.readouterr().err
    assert any("non-finite" in r.getMessage() for r in caplog.records)


def test_still_improving_is_only_reported_at_close():
    seen = []
    mon = Monitor(every=50, on_finding=[seen.append])
    feed(mon, healthy(2000, tau=700), val_every=50)
    assert "still-improving" not in [f.condition for f in seen]
    mon.close()
    assert "still-improving" in [f.condition for f in mon.findings]
    assert "still-improving" in [f.condition for f in seen]


# -- detection latency ------------------------------------------------------------------------------


def next_cadence(step: int, every: int) -> int:
    """The first cadence point at or after ``step`` (a monitor whose first log is at step 0)."""
    return -(-step // every) * every


@pytest.mark.parametrize("onset", [600, 3000, 3023, 12041])
def test_divergence_is_reported_within_one_cadence_window(onset):
    # x1.05 per step: the loss has grown 2.7x after 20 steps. The finding must come at the first
    # cadence point once those 20 steps exist: within one window of the onset when the onset is
    # at least 20 steps before a cadence point, at the next one otherwise, at any run length.
    every = 50
    mon = Monitor(every=every, on_finding=None, budget=0)
    feed(mon, diverging(onset + 400, onset, growth=1.05))
    hits = alerts_for(mon, ("divergence", "non-finite"))
    assert hits, [a.finding.condition for a in mon.alerts]
    assert hits[0].finding.severity is Severity.CRITICAL
    assert hits[0].step <= next_cadence(onset + 20, every), hits[0].step
    if onset % every == 0:
        assert hits[0].step - onset <= every


@pytest.mark.parametrize("onset", [333, 2500])
def test_nan_is_reported_within_one_cadence_window(onset):
    mon = Monitor(every=50, on_finding=None)  # default budget: a NaN overrides it
    feed(mon, nan_at(onset + 200, onset))
    hits = alerts_for(mon, ("non-finite",))
    assert hits and hits[0].step == next_cadence(onset, 50)


@pytest.mark.parametrize("seed", range(4))
def test_healthy_runs_raise_no_warning(seed):
    mon = Monitor(every=50, on_finding=None, budget=0)
    feed(mon, healthy(3000, seed=seed, tau=200 + 150 * seed, noise=0.02 + 0.02 * seed), val_every=100)
    mon.close()
    loud = [a.finding for a in mon.alerts if a.finding.severity.rank >= Severity.WARNING.rank]
    assert loud == [], [(f.condition, f.summary) for f in loud]


def test_budget_skips_diagnoses_but_never_a_nan(monkeypatch):
    mon = Monitor(every=10, on_finding=None, budget=0.01)
    mon._diag_cost = 10.0  # pretend a diagnosis takes ten seconds
    monkeypatch.setattr(mon, "_diag_cost", 10.0)
    real = mon._diagnose

    def slow(final=False):
        out = real(final)
        mon._diag_cost = 10.0
        return out

    monkeypatch.setattr(mon, "_diagnose", slow)
    feed(mon, healthy(300))
    n = mon.n_diagnoses
    assert n <= 1
    mon.log(300, loss=math.nan)
    mon.log(310, loss=1.0)
    assert mon.n_diagnoses == n + 1
    assert "non-finite" in [a.finding.condition for a in mon.alerts]


# -- never raises into the loop -----------------------------------------------------------------------


def test_own_failures_are_logged_once_and_the_monitor_goes_on(caplog, monkeypatch):
    mon = Monitor(every=10, on_finding=None, budget=0)
    calls = {"n": 0}

    def broken(ctx):
        calls["n"] += 1
        raise RuntimeError("engine exploded")

    object.__setattr__(mon, "engine", type("E", (), {"diagnose": staticmethod(broken), "rules": mon.engine.rules})())
    with caplog.at_level(logging.WARNING, logger="advisor.live"):
        for step in range(100):
            mon.log(step, loss=1.0, weird="not a number", vec=np.ones(3))
    assert calls["n"] >= 5
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("diagnose failed" in m for m in msgs) == 1
    assert sum("expected a scalar" in m for m in msgs) == 1
    assert sum("is not a number" in m for m in msgs) == 1
    assert set(mon.run().series) == {"train/loss"}
    assert len(mon.run().series["train/loss"]) == 100


def test_a_failing_user_callback_does_not_stop_the_loop(caplog):
    def bad(f):
        raise ValueError("my bug")

    mon = Monitor(every=50, on_finding=[bad])
    with caplog.at_level(logging.WARNING, logger="advisor.live"):
        feed(mon, nan_at(300, 100))
    assert any("my bug" in r.getMessage() for r in caplog.records)


def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError):
        Monitor(every=None)
    with pytest.raises(ValueError):
        Monitor(on_finding="shout")
    with pytest.raises(Exception, match="unknown condition"):
        Monitor(config=AnalyzeConfig(select=("no-such-condition",)))


# -- tee and agreement with the static analysis --------------------------------------------------------


def test_tee_writes_everything_and_analyze_agrees(tmp_path):
    logdir = tmp_path / "run"
    with Monitor(every=50, on_finding=None, tee=str(logdir), hparams={"lr": 0.001}) as mon:
        feed(mon, diverging(900, 600, growth=1.01), val_every=50)
    files = os.listdir(logdir)
    assert len(files) == 1 and "tfevents" in files[0]
    result = analyze([str(logdir)])
    static = {(f.condition, f.severity) for f in result.report.runs[0].findings}
    live = {(f.condition, f.severity) for f in mon.findings}
    assert ("divergence", Severity.CRITICAL) in live
    assert static == live
    assert result.report.runs[0].n_points == mon.report().n_points


def test_context_manager_closes_and_log_after_close_is_a_no_op():
    with Monitor(every=5, on_finding=None) as mon:
        mon.log(0, loss=1.0)
    assert mon.closed
    mon.log(1, loss=2.0)
    assert len(mon.run().series["train/loss"]) == 1
