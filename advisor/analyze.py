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
from advisor.io.parallel import cpu_count, die_with_parent, pool_context, pool_owner
from advisor.model import PlotCurve, Report
from advisor.pipeline import RunAnalysis, analyze_run
from advisor.ray_executor import parse_executor


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


Settings = tuple[Engine, dict[str, str] | None, bool, bool]  # engine, signal mapping, curves, verify_crc


def _worker(chunk: Sequence[RunFiles], settings: Settings) -> list[RunAnalysis]:
    engine, mapping, curves, verify = settings
    # remote files: a group fetched ahead while the current one is analysed
    return [analyze_run(rf, engine, mapping, curves, verify).detached() for rf in read_ahead(list(chunk))]


def _analyze_local(runs: list[RunFiles], settings: Settings, workers: int, progress: Callable[[int, int], None] | None) -> list[RunAnalysis]:
    """In this process, or in a pool of worker processes (chunks dealt round-robin)."""
    n = len(runs)
    results: list[RunAnalysis] = []
    if workers == 1 or n < 2:
        engine, mapping, curves, verify = settings
        for i, rf in enumerate(read_ahead(runs)):  # remote files: fetched a group ahead
            results.append(analyze_run(rf, engine, mapping, curves, verify).detached())
            if progress:
                progress(i + 1, n)
        return results
    n_chunks = min(n, workers * 8)
    chunks = [runs[i::n_chunks] for i in range(n_chunks)]
    ctx = pool_context()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent, initargs=(pool_owner(ctx),)) as ex:
        futures = [ex.submit(_worker, c, settings) for c in chunks]
        for fut in cf.as_completed(futures):
            results.extend(fut.result())
            if progress:
                progress(len(results), n)
    order = {rf.name: i for i, rf in enumerate(runs)}
    results.sort(key=lambda r: order[r.report.run])
    return results


def _analyze_ray(runs: list[RunFiles], settings: Settings, address: str | None, progress: Callable[[int, int], None] | None) -> list[RunAnalysis]:
    """As Ray tasks over batches of runs (paths travel, not bytes); results come back in order."""
    from advisor.ray_executor import batches, cluster_cpus, map_ordered, ray_session

    n = len(runs)
    results: list[RunAnalysis] = []
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress:
            progress(done, n)

    with ray_session(address) as ray:
        for part in map_ordered(ray, _worker, batches(runs, cluster_cpus(ray)), settings, progress=tick):
            results.extend(part)
    return results


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
    executor: str | None = None,
) -> Analysis:
    """Analyse every run under ``paths``. Raises InputError/UsageError for what a user must fix.

    ``executor``: ``local`` (default: this machine's process pool) or ``ray[=ADDRESS]`` (runs
    read and diagnosed as Ray tasks, see :mod:`advisor.ray_executor`); the report is the same."""
    kind, address = parse_executor(executor)
    config = config or AnalyzeConfig()
    engine = Engine.from_config(config)
    runs, problems = find_runs(paths)
    mapping = dict(config.signals) or None
    n = len(runs)
    if kind == "ray":
        results = _analyze_ray(runs, (engine, mapping, curves, verify_crc), address, progress)
    else:
        results = _analyze_local(runs, (engine, mapping, curves, verify_crc), default_workers(n) if workers is None else max(1, workers), progress)
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
