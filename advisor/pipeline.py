"""Diagnose one run: the one path that ``analyze``, ``watch``, the live monitors and ``tune`` call.

``diagnose_run`` takes a :class:`~advisor.model.Run` (read from event files or built from live
values), reads its workload (``advisor.workload``; the config may set it), resolves its signals
for that workload, runs the engine on one :class:`~advisor.rules.base.Context`, and
returns a :class:`RunAnalysis`: the SPEC §4 run entry, what the sweep rules need, and optionally
the curves the reports draw. Everything above this floor orchestrates many runs or a loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from advisor.engine import Engine
from advisor.engine import resolve as resolve_findings
from advisor.io.discover import RunFiles, split_kind
from advisor.io.roles import Signals, resolve
from advisor.io.runs import load_run
from advisor.io.tfevents import EventFile
from advisor.model import Finding, PlotCurve, Role, Run, RunReport, SweepEntry
from advisor.rules.base import Context
from advisor.signals import bin_medians, finite_part
from advisor.workload import Workload, classify, supervised_evidence

CURVE_ROLES = (Role.TRAIN_LOSS, Role.VAL_LOSS, Role.TRAIN_ACC, Role.VAL_ACC, Role.LR, Role.GRAD_NORM, Role.REWARD, Role.ENTROPY, Role.GEN_LOSS, Role.DISC_LOSS)
CURVE_POINTS = 400

#: An extra view of a run (the live monitor's recent window, say): findings merged into the
#: engine's through its own resolution, so a condition both see is reported once, the stronger.
View = Callable[[Run, Signals, Context], Sequence[Finding]]


@dataclass(frozen=True)
class RunAnalysis:
    """One diagnosed run."""

    report: RunReport
    sweep: SweepEntry
    curves: Mapping[str, PlotCurve] = field(default_factory=dict)  # role value -> downsampled curve
    readable: bool = True  # at least one of its files was an event file
    # In-process only (dropped before a worker sends the analysis back): the run and its roles.
    run: Run | None = field(default=None, compare=False, repr=False)
    signals: Signals | None = field(default=None, compare=False, repr=False)

    def detached(self) -> "RunAnalysis":
        """The analysis without references into the run's arrays (cheap to send between processes)."""
        return dataclasses.replace(self, run=None, signals=None)


def diagnose_run(
    run: Run,
    engine: Engine,
    mapping: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    curves: bool = False,
    views: Sequence[View] = (),
    partial: bool = False,
) -> RunAnalysis:
    """Read the workload, resolve signals, run the workload's rules once, merge extra views, build the report.

    ``partial``: the run is still being written (a live monitor): judgments about the whole run
    — "the last two thirds bought nothing" — wait for its end."""
    label = run.name if name is None else name
    workload_for = getattr(engine, "workload_for", None)  # an engine-like stand-in may not set workloads
    wl = classify(run, workload_for(label) if workload_for else None)
    signals = resolve(run, dict(mapping) if mapping else None, wl.kind, wl.roles)
    if wl.notes:
        signals = dataclasses.replace(signals, notes=signals.notes + wl.notes)
    if wl.kind == "supervised" and wl.source == "tags":
        wl = dataclasses.replace(wl, evidence=supervised_evidence(signals.roles) or wl.evidence)
    ctx = Context(run, signals, wl.kind, num_classes=getattr(engine, "num_classes", None), partial=partial)
    findings, problems = engine.diagnose(ctx)
    extra = [f for view in views for f in view(run, signals, ctx)]
    if extra:
        findings = resolve_findings(list(findings) + extra)
    report = build_report(label, run, signals, findings, problems, wl)
    return RunAnalysis(report, sweep_entry(run, signals), run_curves(run, signals) if curves else {}, _readable(run), run, signals)


def analyze_run(
    rf: RunFiles,
    engine: Engine,
    mapping: Mapping[str, str] | None = None,
    curves: bool = False,
    verify_crc: bool = True,
    files: Sequence[EventFile] | None = None,
) -> RunAnalysis:
    """Read one discovered run (or take its already-read ``files``) and diagnose it."""
    run = load_run(rf, verify_crc=verify_crc) if files is None else load_run(rf, files=list(files))
    return diagnose_run(run, engine, mapping, name=rf.name, curves=curves)


def _readable(run: Run) -> bool:
    """Whether anything at all could be read: a file of a few stray bytes named like an event file is not."""
    return run.records > 0 or bool(run.series) or bool(run.hparams) or bool(run.texts)


def _live_notes(run: Run) -> tuple[str, ...]:
    """What a live monitor or callback wrote into the run (``advisor/findings`` text summaries):
    the lines above its findings table — why it stopped the run — so the report says so too."""
    out = []
    for tag, text in sorted(run.texts.items()):
        if not tag.startswith("advisor/findings"):
            continue
        head = str(text).split("| severity |", 1)[0].strip()
        for line in head.splitlines():
            if line.strip():
                out.append(f"live ({tag}): {line.strip()}")
    return tuple(out)


def build_report(
    name: str,
    run: Run,
    signals: Signals,
    findings: tuple[Finding, ...],
    problems: Sequence[str] = (),
    workload: Workload | None = None,
) -> RunReport:
    """SPEC §4's run entry for a diagnosed run."""
    workload = workload or classify(run)
    return RunReport(
        run=name,
        steps=run.steps,
        signals=signals.as_tags(),
        findings=findings,
        problems=tuple(run.problems) + tuple(problems),
        unresolved=tuple(r.value for r in signals.unresolved),
        n_points=run.n_points,
        n_series=len(run.series),
        notes=tuple(signals.notes) + _live_notes(run),
        counts={k: len(s) for k, s in (*run.series.items(), *signals.derived.items()) if k in signals.roles.values()},
        workload=workload.kind,
        workload_evidence=workload.evidence,
    )


def sweep_entry(run: Run, signals: Signals) -> SweepEntry:
    """The run's best validation (loss, else accuracy negated), when and how fast it got there."""
    best_val = best_step = time_to_best = None
    metric = None
    v = signals.get(run, Role.VAL_LOSS)
    sign = 1.0
    if v is None or not np.isfinite(v.values).any():
        v = signals.get(run, Role.VAL_ACC)
        sign = -1.0
        metric = "val_acc" if v is not None else None
    else:
        metric = "val_loss"
    if v is not None and np.isfinite(v.values).any():
        vals = np.where(np.isfinite(v.values), sign * v.values, np.inf)
        i = int(np.argmin(vals))
        best_val, best_step = float(vals[i]), int(v.steps[i])
        t = signals.get(run, Role.TRAIN_LOSS)
        t0 = float(t.wall_times[0]) if t is not None and len(t) else float(v.wall_times[0])
        if v.wall_times[i] > 0 and t0 > 0:
            time_to_best = float(v.wall_times[i] - t0)
    has_test = any(split_kind(s.split) == "test" or "test" in s.tag.lower().split("/")[0] for s in run.series.values())
    return SweepEntry(run.name, dict(run.hparams or {}), best_val, metric, best_step, time_to_best, has_test)


def run_curves(run: Run, signals: Signals, points: int = CURVE_POINTS) -> dict[str, PlotCurve]:
    """Each plotted role's curve as bin medians over at most ``points`` bins (with each bin's min and
    max), cut at the first NaN."""
    out = {}
    for role in CURVE_ROLES:
        s = signals.get(run, role)
        if s is None or not len(s):
            continue
        steps, values, bad_step, _ = finite_part(s.steps, s.values)
        bs, bv, counts = bin_medians(steps, values, points)
        lo, hi = bin_extremes(values, int(counts[0])) if len(bv) < len(values) else ((), ())
        out[role.value] = PlotCurve(
            tag=s.key,
            steps=tuple(int(x) for x in bs),
            values=tuple(float(x) for x in bv),
            nonfinite_step=bad_step,
            lo=lo,
            hi=hi,
        )
    return out


def bin_extremes(values: np.ndarray, size: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Min and max of each bin of ``size`` consecutive points (the last may hold fewer), as
    :func:`~advisor.signals.bin_medians` bins them."""
    v = np.asarray(values, dtype=float)
    bins = -(-len(v) // size)
    v = np.concatenate([v, np.full(bins * size - len(v), np.nan)]).reshape(bins, size)
    return tuple(float(x) for x in np.nanmin(v, axis=1)), tuple(float(x) for x in np.nanmax(v, axis=1))
