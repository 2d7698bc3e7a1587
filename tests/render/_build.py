"""Builders shared by the renderer tests: hand-made reports and curves, and real event trees."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from advisor.io.writer import EventWriter
from advisor.model import Finding, PlotCurve, Remedy, Report, RunReport, Severity

EVIL = "<script>alert(1)</script>\" onmouseover=\"alert(2)' x='|`#"


def curve(steps: Any, values: Any, tag: str = "loss", nonfinite_step: int | None = None) -> PlotCurve:
    return PlotCurve(tag, tuple(int(s) for s in steps), tuple(float(v) for v in values), nonfinite_step)


def finding(
    condition: str = "overfitting", severity: Severity = Severity.WARNING, priority: int = 1, **evidence: Any
) -> Finding:
    remedies = (
        Remedy(
            "early_stop",
            {"step": 400, "restore_best": True},
            "auto",
            live=True,
            rationale="the best weights were at step 400",
        ),
        Remedy("check_data", {"what": "labels"}, "manual"),
    )
    sr = evidence.get("step_range")
    return Finding(
        condition,
        severity,
        0.8,
        f"{condition} seen",
        evidence,
        remedies,
        onset=sr[0] if sr else None,
        priority=priority,
    )


def run_report(
    name: str, findings: tuple[Finding, ...] = (), steps: tuple[int, int] | None = (0, 1000), **kw: Any
) -> RunReport:
    signals = {"train_loss": "train/loss", "val_loss": "val/loss"} if steps else {}
    return RunReport(
        name,
        steps,
        signals,
        findings,
        n_points=100 if steps else 0,
        n_series=2 if steps else 0,
        counts={"train/loss": 50},
        **kw,
    )


def loss_curves(n: int = 50, last: int = 1000) -> dict[str, PlotCurve]:
    steps = np.linspace(0, last, n).astype(int)
    train = 2.0 * np.exp(-steps / 300) + 0.1
    val = 2.0 * np.exp(-steps / 300) + 0.3 + ((steps - 400) / 1000.0) ** 2
    return {"train_loss": curve(steps, train, "train/loss"), "val_loss": curve(steps[::5], val[::5], "val/loss")}


def overfit_report() -> tuple[Report, dict[str, dict[str, PlotCurve]]]:
    """One overfitting run (warning, range 400..end, best step 400) and one healthy run."""
    f = finding(step_range=[400, None], best_step=400, signal="val_loss")
    report = Report((run_report("sweep/overfit", (f,)), run_report("sweep/healthy")))
    return report, {"sweep/overfit": loss_curves(), "sweep/healthy": loss_curves()}


def nonfinite_finding(step: int) -> Finding:
    """A NaN at ``step``, with non-finite values in its evidence (as numpy and Python floats)."""
    evidence = {"first_nonfinite_step": step, "step_range": [step, None], "signal": "train_loss"}
    return finding("non-finite", Severity.CRITICAL, **evidence, value=float("nan"), peak=np.float64("inf"), low=-np.inf)


def causal_pair() -> tuple[Finding, Finding]:
    """Exploding gradients and the NaN they explain, linked the way the engine links them."""
    cause = finding("exploding-gradients", Severity.CRITICAL, priority=1, explains=["non-finite"])
    effect = finding("non-finite", Severity.CRITICAL, priority=2, explained_by="exploding-gradients")
    return cause, effect


def evil_report() -> tuple[Report, dict[str, dict[str, dict[str, Any]]]]:
    """A report in which every string a user or a log controls is EVIL: run names, tags,
    summary, condition, evidence keys and values, remedy fields, problems, notes."""
    evidence = {"signal": EVIL, "step_range": [2, None], EVIL: EVIL, "best_run": EVIL, "explained_by": EVIL}
    f = Finding(
        EVIL,
        Severity.CRITICAL,
        0.9,
        EVIL,
        evidence,
        (Remedy(EVIL, {EVIL: EVIL}, "manual", rationale=EVIL),),
        priority=1,
    )
    r = RunReport(
        EVIL, (0, 10), {EVIL: EVIL}, (f,), problems=(EVIL,), notes=(EVIL,), unresolved=(EVIL,), counts={EVIL: 3}
    )
    healthy = RunReport(EVIL + "2", (0, 10), {"train_loss": EVIL})
    curves = {EVIL: {"train_loss": curve([0, 5, 10], [1.0, 0.7, 0.5], EVIL), "val_loss": curve([0, 10], [1, 1], EVIL)}}
    return Report((r, healthy), sweep=(f,), problems=(EVIL,)), curves


def write_run(logdir: str, kind: str, steps: int = 600, seed: int = 0) -> None:
    """An event file of one synthetic run: ``healthy`` (exponential decay, converged), ``overfit`` (val loss
    U-shaped while train falls) or ``nan`` (train loss turns NaN at 2/3 of the run)."""
    rng = np.random.default_rng(seed)
    os.makedirs(logdir, exist_ok=True)
    with EventWriter(logdir) as w:
        for s in range(steps):
            t = s / steps
            if kind == "overfit":
                train = 2.0 * math.exp(-6 * t) + 0.02
            else:
                train = 2.0 * math.exp(-8 * t) + 0.2  # converged by ~3/4 of the run
            train *= 1 + 0.02 * rng.standard_normal()
            if kind == "nan" and s >= steps * 2 // 3:
                train = float("nan")
            w.add_scalar("train/loss", train, s, wall_time=1000.0 + s)
            w.add_scalar("train/lr", 0.01, s, wall_time=1000.0 + s)
            if s % 20 == 0:
                val = (0.4 + 1.5 * (t - 0.3) ** 2) if kind == "overfit" else 2.0 * math.exp(-8 * t) + 0.25
                w.add_scalar("val/loss", val * (1 + 0.005 * rng.standard_normal()), s, wall_time=1000.0 + s)


def write_tree(root: str) -> list[str]:
    """A healthy and an overfitting run under ``root``; returns their run names."""
    write_run(os.path.join(root, "healthy"), "healthy")
    write_run(os.path.join(root, "overfit"), "overfit", seed=1)
    return ["healthy", "overfit"]
