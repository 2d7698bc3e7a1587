"""``advisor tune --executor ray[=ADDRESS]``: each training a Ray task, spread over a cluster.

Every job the runner hands over at once (all the seeds of a config: the tuning loop trains one
candidate config after another) is submitted at once with its resource request: one CPU, and a
GPU when the trainer asks for one (its ``resources(config)`` when it provides that, else a config
whose ``device`` is ``cuda``/``gpu``; ``auto`` asks for none and so trains on a CPU). Ray places them where the resources are and
retries a task whose worker died (a node lost, a process killed: :data:`MAX_RETRIES`); a
training that *raises* is an outcome, not retried, as with the local executor.

The journal stays on the driver: a task returns only its outcome, and the driver's runner
writes one journal line per job, whatever the attempts. A retried attempt starts from an empty
logdir (the dead attempt's partial event files are removed first). When a task ran on another
node than the driver, its logdir's files come back with the outcome and are written under the
same path here, so the driver diagnoses them without a shared filesystem (event files of a
training are kilobytes to a few megabytes).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from advisor.ray_executor import import_ray, parse_executor, ray_session
from advisor.tune.executors import SELECTED, JobOutcome, TrainJob, run_job
from advisor.tune.protocol import load_trainer

#: Attempts after the first for a task whose worker process or node died.
MAX_RETRIES = 2
GPU_DEVICES = ("cuda", "gpu")


def resources_of(job: TrainJob) -> dict[str, float]:
    """Ray resources one training asks for: the trainer's own ``resources(config)`` when it has one."""
    want = getattr(load_trainer(job.trainer).provider(), "resources", None)
    if callable(want):
        res = dict(want(dict(job.config)))
    else:
        device = str(job.config.get("device", "")).split(":")[0].lower()
        res = {"num_cpus": 1, "num_gpus": 1 if device in GPU_DEVICES else 0}
    return {k: float(v) for k, v in res.items()}


def train_remote(job: TrainJob, driver_node: str | None) -> tuple[JobOutcome, dict[str, bytes] | None]:
    """In a Ray worker: train ``job`` from an empty logdir; (outcome, the logdir's files when
    this node is not the driver's, else None)."""
    import ray

    ctx = ray.get_runtime_context()
    cpus = int(ctx.get_assigned_resources().get("CPU", 1)) or 1
    shutil.rmtree(job.logdir, ignore_errors=True)  # a retried attempt's leftovers
    outcome = run_job(dataclasses.replace(job, threads=max(1, cpus)))
    files = pack(job.logdir) if driver_node is not None and ctx.get_node_id() != driver_node else None
    return outcome, files


def pack(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for name in names:
            path = os.path.join(d, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


def unpack(root: str, files: Mapping[str, bytes]) -> None:
    for rel, data in files.items():
        path = os.path.normpath(os.path.join(root, rel))
        if not path.startswith(os.path.normpath(root) + os.sep):
            continue  # never outside the logdir
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)


@dataclass(frozen=True)
class RayExecutor:
    """Trains jobs as Ray tasks on the cluster this process is connected to (see module doc)."""

    workers: int = 0  # unused: the cluster's resources decide how many run at once
    ship_logs: bool = True  # bring a remote node's logdir back to the driver

    def run(self, jobs: Sequence[TrainJob]) -> Iterator[tuple[TrainJob, JobOutcome]]:
        """Each job with its outcome, as each finishes."""
        ray = import_ray()
        remote = ray.remote(train_remote)
        driver = ray.get_runtime_context().get_node_id() if self.ship_logs else None
        pending = {remote.options(max_retries=MAX_RETRIES, **resources_of(job)).remote(job, driver): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                yield job, self._outcome(ray, ref, job)

    @staticmethod
    def _outcome(ray: Any, ref: Any, job: TrainJob) -> JobOutcome:
        try:
            outcome, files = ray.get(ref)
        except Exception as e:  # the retries were spent (worker or node died each time)
            return JobOutcome(False, 0.0, error=f"worker failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        if files is not None:
            unpack(job.logdir, files)
        return outcome


@contextmanager
def use_executor(spec: str | None, ship_logs: bool = True) -> Iterator[None]:
    """Inside the block, tune trains with ``spec`` (``local`` | ``ray[=ADDRESS]``); for Ray,
    connected to the cluster for the whole block (one session for every round)."""
    kind, address = parse_executor(spec)
    if kind == "local":
        yield
        return
    with ray_session(address):
        SELECTED.append(RayExecutor(ship_logs=ship_logs))
        try:
            yield
        finally:
            SELECTED.pop()
