"""Where trainings run: the local process pool (one spawned worker process per seed in flight).

A job names its trainer rather than carrying it, so a spawned worker loads the trainer itself
(:func:`advisor.tune.protocol.load_trainer`) and nothing unpicklable crosses the process boundary.
A training that raises is an outcome (a diverged config), never a crash of tune.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from advisor.errors import UsageError
from advisor.io.parallel import cpu_count, die_with_parent, pool_owner
from advisor.tune.protocol import load_trainer
from advisor.tune.watch import Watch


@dataclass(frozen=True)
class TrainJob:
    """One training: a config, trained with one seed, logging into ``logdir``."""

    trainer: str  # the name load_trainer takes
    config: Mapping[str, Any]
    logdir: str
    seed: int
    threads: int  # CPU threads the training may use (the cores shared among the jobs in flight)
    options: Mapping[str, Any] = field(default_factory=dict)  # keywords for the trainer's train()
    watch: bool = False  # stop once a critical condition is confirmed live (advisor.tune.watch)


@dataclass(frozen=True)
class JobOutcome:
    """What came back from one job (the executor's part of a journal ``run`` record)."""

    ok: bool
    seconds: float
    result: Mapping[str, Any] | None = None
    error: str = ""
    usage: bool = False  # the error is one the user must fix (e.g. a trainer that is not installed)
    stopped: Mapping[str, Any] | None = None  # {"step", "reason", "condition", "finding"}: the watch stopped the training

    def record(self) -> dict[str, Any]:
        """The journal's keys, in the journal's order."""
        if self.ok:
            rec = {"ok": True, "result": dict(self.result or {}), "seconds": self.seconds}
            if self.stopped:
                rec["stopped"] = dict(self.stopped)
            return rec
        rec: dict[str, Any] = {"ok": False, "error": self.error, "seconds": self.seconds}
        if self.usage:
            rec["usage"] = True
        return rec


def run_job(job: TrainJob) -> JobOutcome:
    """Train one job in this process, with its CPU threads capped."""
    os.environ.setdefault("OMP_NUM_THREADS", str(job.threads))
    try:
        import torch  # only to cap its threads when it is the backend

        torch.set_num_threads(job.threads)
    except Exception:
        pass
    t = time.time()
    watch = Watch() if job.watch else None
    try:
        result = load_trainer(job.trainer).train(job.config, job.logdir, job.seed, watch, **job.options)
        stopped = watch.stopped() if watch is not None else None
        return JobOutcome(True, time.time() - t, result=result, stopped=stopped)
    except UsageError as e:
        return JobOutcome(False, time.time() - t, error=str(e), usage=True)
    except Exception as e:  # a crashed training is a result (diverged config), not a crash of tune
        return JobOutcome(False, time.time() - t, error=f"{type(e).__name__}: {e}")


#: Executors registered by ``tune --executor`` (:func:`advisor.tune.ray_executor.use_executor`):
#: while one is, it trains every job in place of the local pool.
SELECTED: list[Any] = []


@dataclass(frozen=True)
class LocalExecutor:
    """Runs jobs in this process (one worker, or one job) or in a pool of spawned processes."""

    workers: int

    def run(self, jobs: Sequence[TrainJob]) -> Iterator[tuple[TrainJob, JobOutcome]]:
        """Each job with its outcome, as each finishes."""
        if SELECTED:
            yield from SELECTED[-1].run(jobs)
            return
        if self.workers <= 1 or len(jobs) == 1:
            for job in jobs:
                yield job, run_job(job)
            return
        # spawn, not fork: a trainer's framework (torch, jax) must not inherit a forked runtime
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=ctx, initializer=die_with_parent, initargs=(pool_owner(ctx),)) as ex:
            futs = {ex.submit(run_job, job): job for job in jobs}
            for fut in cf.as_completed(futs):
                try:
                    outcome = fut.result()
                except Exception as e:  # a worker died (e.g. killed by the OS)
                    outcome = JobOutcome(False, 0.0, error=f"worker failed: {e}")
                yield futs[fut], outcome


def threads_per_job(workers: int, jobs: int) -> int:
    """The machine's cores shared among the jobs that run at once."""
    return max(1, cpu_count() // max(1, min(workers, jobs)))
