"""Training one config over seeds: finished runs come from the journal, the rest from the executor.

Each new training is diagnosed once, through the same path as ``advisor analyze`` (which reads
it with :func:`advisor.pipeline.analyze_run`): its findings go into the journal, its curves
(:class:`~advisor.model.PlotCurve`) are kept for the before/after plots. A run reused from the
journal of an earlier process is read again only when its curves are asked for.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from advisor.analyze import analyze
from advisor.model import Curves, PlotCurve, Role
from advisor.tune.cache import TrainingCache
from advisor.tune.executors import JobOutcome, LocalExecutor, TrainJob, threads_per_job
from advisor.tune.journal import Journal, RunKey
from advisor.tune.protocol import Trainer, config_hash
from advisor.tune.watch import STOP_ON

MEDIAN_ROLES = (Role.TRAIN_LOSS.value, Role.VAL_LOSS.value)  # what the before/after plots show
MEDIAN_POINTS = 200  # the common step grid the seeds' curves are interpolated onto

Progress = Callable[[int, float], None]  # (trainings finished, training seconds spent)


@dataclass(frozen=True)
class RunCurves:
    """One run's curves, and its last step: a curve stops before its first NaN, the run may go on
    (a diverged run's plot keeps the run's length)."""

    curves: Curves
    last_step: int


@dataclass(frozen=True)
class RunDiagnosis:
    """One training's logdir, diagnosed: findings as the journal stores them, curves per run found."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    curves: tuple[RunCurves, ...] = ()
    error: str | None = None


def diagnose_logdir(logdir: str) -> RunDiagnosis:
    """Findings and curves of every run under ``logdir`` (nothing when it does not exist)."""
    if not os.path.isdir(logdir):
        return RunDiagnosis()
    try:
        a = analyze([logdir], workers=1, curves=True)
        curves = tuple(RunCurves(r.curves, r.report.steps[1]) for r in a.runs if r.report.steps is not None)
        return RunDiagnosis([f.to_dict() for r in a.report.runs for f in r.findings], curves)
    except Exception as e:  # an unreadable logdir is recorded with the run, never a crash of tune
        return RunDiagnosis(error=str(e))


@dataclass
class Runner:
    """Trains configs over seeds for one tuning; counts what it trained for the progress callback."""

    trainer: Trainer
    out: str
    journal: Journal
    workers: int
    progress: Progress | None = None
    cache: TrainingCache | None = None  # finished trainings shared across tunings (see advisor.tune.cache)
    watch: bool = False  # trainings stop once a critical condition is confirmed live (advisor.tune.watch)
    done: int = 0
    spent: float = 0.0
    curves: dict[RunKey, tuple[RunCurves, ...]] = field(default_factory=dict)  # of the runs seen in this process

    def logdir(self, h: str, seed: int) -> str:
        return os.path.join(self.out, "runs", h, f"seed{seed}")

    def train_all(self, config: Mapping[str, Any], seeds: Sequence[int], live: bool = False) -> list[dict[str, Any]]:
        """Train ``config`` with every seed (reusing journaled runs); records in seed order.

        ``live``: the trainer diagnoses itself while it trains and applies live remedies
        (journaled under the config's hash with a ``-live`` suffix).
        """
        h = config_hash(config) + ("-live" if live else "")
        options = {"auto_remedy": True} if live else {}
        todo = [s for s in seeds if (h, s) not in self.journal.runs]
        if todo and self.cache is not None and not live:
            todo = [s for s in todo if not self._from_cache(h, config, s)]
        if todo:
            threads = threads_per_job(self.workers, len(todo))
            watch = self.watch and not live
            jobs = [TrainJob(self.trainer.name, dict(config), self.logdir(h, s), s, threads, options, watch) for s in todo]
            for job, outcome in LocalExecutor(self.workers).run(jobs):
                self._record(h, job, outcome)
        return [self.journal.runs[(h, s)] for s in seeds]

    def _from_cache(self, h: str, config: Mapping[str, Any], seed: int) -> bool:
        """Journal a cached training of ``config`` with ``seed`` (diagnosed afresh); False on a miss."""
        assert self.cache is not None
        logdir = self.logdir(h, seed)
        rec = self.cache.restore(self.cache.key(config, seed, self._cache_options(self.watch)), logdir)
        if rec is None:
            return False
        res = {"ok": True, "result": rec.get("result") or {}, "seconds": float(rec.get("seconds") or 0.0), "cached": True}
        if rec.get("stopped"):
            res["stopped"] = rec["stopped"]
        self._journal_run(h, seed, logdir, res)
        return True

    @staticmethod
    def _cache_options(watch: bool) -> dict[str, Any]:
        """What besides config and seed makes a training differ: a watched one may stop early."""
        return {"watch": list(STOP_ON)} if watch else {}

    def _record(self, h: str, job: TrainJob, outcome: JobOutcome) -> None:
        res = outcome.record()
        if self.cache is not None and not job.options:
            self.cache.store(self.cache.key(job.config, job.seed, self._cache_options(job.watch)), job.logdir, res)
        self._journal_run(h, job.seed, job.logdir, res)
        self.done += 1
        self.spent += outcome.seconds
        if self.progress:
            self.progress(self.done, self.spent)

    def _journal_run(self, h: str, seed: int, logdir: str, res: dict[str, Any]) -> None:
        """Diagnose a finished training's logdir and journal it (``res``: the outcome's keys)."""
        diagnosis = diagnose_logdir(logdir)
        if diagnosis.error is not None:
            res["analysis_error"] = diagnosis.error
        self.curves[(h, seed)] = diagnosis.curves
        findings = with_stop_finding(diagnosis.findings, res.get("stopped"))
        self.journal.add_run({"type": "run", "config_hash": h, "seed": seed, "logdir": logdir, **res, "findings": findings})

    def median_curves(self, records: Iterable[Mapping[str, Any]]) -> dict[str, PlotCurve]:
        """Median train/val loss over the records' seeds on a common step grid, for the plots."""
        return median_curves(c for rec in records for c in self._curves_of(rec))

    def _curves_of(self, rec: Mapping[str, Any]) -> tuple[RunCurves, ...]:
        key = (str(rec.get("config_hash")), int(rec.get("seed", -1)))
        if key not in self.curves:  # journaled by an earlier process: read it once now
            logdir = rec.get("logdir")
            self.curves[key] = diagnose_logdir(logdir).curves if logdir else ()
        return self.curves[key]


def with_stop_finding(findings: list[dict[str, Any]], stopped: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The offline findings, with the live one a run was stopped for in place of a weaker (or
    missing) finding of its condition: a shortened curve may not show it as the live monitor saw it."""
    live = (stopped or {}).get("finding")
    if not isinstance(live, Mapping) or "condition" not in live:
        return findings
    rank = {"info": 0, "warning": 1, "critical": 2}
    same = [f for f in findings if f.get("condition") == live["condition"]]
    if same and rank.get(str(same[0].get("severity")), 0) >= rank.get(str(live.get("severity")), 0):
        return findings
    return [dict(live), *(f for f in findings if f.get("condition") != live["condition"])]


def median_curves(runs: Iterable[RunCurves]) -> dict[str, PlotCurve]:
    """Per role in :data:`MEDIAN_ROLES`, the median over ``runs`` of their curves (NaN where none reaches)."""
    runs = list(runs)
    out = {}
    for role in MEDIAN_ROLES:
        curves = [(r.curves[role], r.last_step) for r in runs if role in r.curves and len(r.curves[role].steps)]
        if curves:
            out[role] = _median(role, curves)
    return out


def _median(role: str, curves: Sequence[tuple[PlotCurve, int]]) -> PlotCurve:
    """On a grid from 0 to the last step reached: a curve cut at a NaN counts to its run's end."""
    hi = max(float(last) if c.nonfinite_step is not None else c.steps[-1] for c, last in curves)
    grid = np.linspace(0, hi, MEDIAN_POINTS)
    stack = np.array([np.interp(grid, np.asarray(c.steps, dtype=float), _finite_or_nan(c.values), right=np.nan) for c, _ in curves])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (no seed reaches it) is expected
        med = np.nanmedian(stack, axis=0)
    return PlotCurve(role, tuple(float(x) for x in grid), tuple(float(x) for x in med))


def _finite_or_nan(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)
