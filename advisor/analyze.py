"""The whole static analysis: discover runs, read and merge them, resolve roles, diagnose.

Runs are independent, so they are analysed in parallel worker processes when there are many
(each worker reads and diagnoses whole runs, so only small reports travel back). A damaged
file costs one problem line, never the analysis.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.errors import InputError, UsageError
from advisor.io.discover import RunFiles, discover, split_kind
from advisor.io.parallel import pool_context
from advisor.io.roles import Signals, resolve
from advisor.io.runs import load_run
from advisor.model import Finding, Report, Role, Run, RunReport
from advisor.rules.base import Context
from advisor.rules.validation_overuse import SweepEntry
from advisor.signals import bin_medians, first_nonfinite

CURVE_ROLES = (Role.TRAIN_LOSS, Role.VAL_LOSS, Role.TRAIN_ACC, Role.VAL_ACC, Role.LR, Role.GRAD_NORM)
CURVE_POINTS = 400


@dataclass(frozen=True)
class RunAnalysis:
    report: RunReport
    sweep: SweepEntry
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> downsampled curve
    readable: bool = True  # at least one of its files was an event file


@dataclass(frozen=True)
class Analysis:
    report: Report
    runs: tuple[RunAnalysis, ...]

    def curves(self, run: str) -> dict[str, dict[str, Any]]:
        for r in self.runs:
            if r.report.run == run:
                return r.curves
        return {}


def find_runs(paths: Sequence[str]) -> tuple[list[RunFiles], list[str]]:
    """Discover the runs under every path; a missing path is a usage error."""
    runs: list[RunFiles] = []
    problems: list[str] = []
    multi = len(paths) > 1
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or directory")
        d = discover(p, name_prefix=os.path.normpath(p) if multi else None)
        runs.extend(d.runs)
        problems.extend(d.problems)
    if not runs:
        where = ", ".join(paths)
        raise InputError(f"no event files (*tfevents*) found under {where}")
    return runs, problems


def sweep_entry(run: Run, signals: Signals, ctx: Context) -> SweepEntry:
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
    hp = run.hparams or {}
    return SweepEntry(run.name, dict(hp), best_val, metric, best_step, time_to_best, has_test)


def _curves(run: Run, signals: Signals) -> dict[str, dict[str, Any]]:
    out = {}
    for role in CURVE_ROLES:
        s = signals.get(run, role)
        if s is None or not len(s):
            continue
        cut = first_nonfinite(s.values)
        steps, values = (s.steps, s.values) if cut is None else (s.steps[:cut], s.values[:cut])
        bs, bv, _ = bin_medians(steps, values, CURVE_POINTS)
        out[role.value] = {
            "tag": s.key,
            "steps": [int(x) for x in bs],
            "values": [float(x) for x in bv],
            "nonfinite_step": None if cut is None else int(s.steps[cut]),
        }
    return out


def build_report(name: str, run: Run, signals: Signals, findings: tuple[Finding, ...], problems: Sequence[str] = ()) -> RunReport:
    """SPEC §4's run entry for a diagnosed run (``analyze``, ``watch`` and live monitors alike)."""
    return RunReport(
        run=name,
        steps=run.steps,
        signals=signals.as_tags(),
        findings=findings,
        problems=tuple(run.problems) + tuple(problems),
        unresolved=tuple(r.value for r in signals.unresolved),
        n_points=run.n_points,
        n_series=len(run.series),
        notes=signals.notes,
        counts={k: len(s) for k, s in (*run.series.items(), *signals.derived.items()) if k in signals.roles.values()},
    )


def analyze_run(rf: RunFiles, engine: Engine, mapping: dict[str, str] | None = None, curves: bool = False, verify_crc: bool = True) -> RunAnalysis:
    run = load_run(rf, verify_crc=verify_crc)
    signals = resolve(run, mapping)
    findings, rule_problems, ctx = engine.diagnose(run, signals)
    readable = bool(run.series) or bool(run.hparams) or bool(run.texts) or not all("not a TFRecord" in p or "empty file" in p or "unreadable" in p for p in run.problems)
    report = build_report(rf.name, run, signals, findings, rule_problems)
    return RunAnalysis(report, sweep_entry(run, signals, ctx), _curves(run, signals) if curves else {}, readable)


def _worker(args: tuple[list[RunFiles], Engine, dict[str, str] | None, bool, bool]) -> list[RunAnalysis]:
    chunk, engine, mapping, curves, verify = args
    return [analyze_run(rf, engine, mapping, curves, verify) for rf in chunk]


def default_workers(n_runs: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, n_runs // 4 if n_runs >= 8 else 1))


def analyze(
    paths: Sequence[str],
    config: AnalyzeConfig | None = None,
    *,
    workers: int | None = None,
    curves: bool = False,
    verify_crc: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Analyse every run under ``paths``. Raises InputError/UsageError for what a user must fix."""
    config = config or AnalyzeConfig()
    engine = Engine.from_config(config)
    runs, problems = find_runs(paths)
    mapping = dict(config.signals) or None
    n = len(runs)
    workers = default_workers(n) if workers is None else max(1, workers)
    results: list[RunAnalysis] = []
    if workers == 1 or n < 2:
        for i, rf in enumerate(runs):
            results.append(analyze_run(rf, engine, mapping, curves, verify_crc))
            if progress:
                progress(i + 1, n)
    else:
        n_chunks = min(n, workers * 8)
        chunks = [runs[i::n_chunks] for i in range(n_chunks)]
        ctx = pool_context()
        done = 0
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futures = [ex.submit(_worker, (c, engine, mapping, curves, verify_crc)) for c in chunks]
            for fut in cf.as_completed(futures):
                part = fut.result()
                results.extend(part)
                done += len(part)
                if progress:
                    progress(done, n)
        order = {rf.name: i for i, rf in enumerate(runs)}
        results.sort(key=lambda r: order[r.report.run])
    if not any(r.readable for r in results):
        first = next((p for r in results for p in r.report.problems), "no readable records")
        raise InputError(f"no readable event data in {n} run(s) ({first})")
    if mapping:
        for role, pattern in mapping.items():
            if not any(r.report.signals.get(role) for r in results):
                raise UsageError(f"signals.{role} = {pattern!r} matches no tag in any run")
    sweep = engine.diagnose_sweep([r.sweep for r in results])
    report = Report(tuple(r.report for r in results), sweep, tuple(problems))
    return Analysis(report, tuple(results))
