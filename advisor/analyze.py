"""The whole static analysis: discover runs and diagnose each through :mod:`advisor.pipeline`.

Runs are independent, so they are analysed in parallel worker processes when there are many
(each worker reads and diagnoses whole runs, so only small reports travel back). A damaged
file costs one problem line, never the analysis.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.errors import InputError, UsageError
from advisor.io.discover import RunFiles, discover, is_url
from advisor.io.runs import read_ahead
from advisor.io.parallel import cpu_count, die_with_parent, pool_context, worker_parent
from advisor.model import PlotCurve, Report
from advisor.pipeline import RunAnalysis, analyze_run


@dataclass(frozen=True)
class Analysis:
    report: Report
    runs: tuple[RunAnalysis, ...]

    def curves(self, run: str) -> Mapping[str, PlotCurve]:
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
        if is_url(p):  # object storage: advisor.io.remote, imported only then
            from advisor.io.remote import discover_url

            d = discover_url(p, name_prefix=p.rstrip("/") if multi else None)
        elif not os.path.exists(p):
            raise InputError(f"{p}: no such file or directory")
        else:
            d = discover(p, name_prefix=os.path.normpath(p) if multi else None)
        runs.extend(d.runs)
        problems.extend(d.problems)
    if not runs:
        where = ", ".join(paths)
        raise InputError(f"no event files (*tfevents*) found under {where}")
    return runs, problems


def _worker(args: tuple[list[RunFiles], Engine, dict[str, str] | None, bool, bool]) -> list[RunAnalysis]:
    chunk, engine, mapping, curves, verify = args
    return [analyze_run(rf, engine, mapping, curves, verify).detached() for rf in read_ahead(chunk)]


def default_workers(n_runs: int) -> int:
    return max(1, min(cpu_count(), n_runs // 4 if n_runs >= 8 else 1))


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
        for i, rf in enumerate(read_ahead(runs)):  # remote files: fetched a group ahead
            results.append(analyze_run(rf, engine, mapping, curves, verify_crc).detached())
            if progress:
                progress(i + 1, n)
    else:
        n_chunks = min(n, workers * 8)
        chunks = [runs[i::n_chunks] for i in range(n_chunks)]
        ctx = pool_context()
        done = 0
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent, initargs=(worker_parent(ctx),)) as ex:
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
