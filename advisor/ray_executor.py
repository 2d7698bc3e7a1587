"""Running advisor's work on a Ray cluster: ``--executor ray[=ADDRESS]`` for ``analyze`` and ``tune``.

Ray is imported only here, and only when a Ray executor is asked for (the ``ray`` extra). What
travels, for a sweep of N runs on a cluster:

- driver -> cluster: the engine (its rules' settings) once, through the object store; then one
  task per *batch* of runs, carrying only the runs' file *paths* (a few hundred bytes a run),
  never their bytes. The nodes read the event files where they lie: a filesystem every node
  mounts, or object storage.
- cluster -> driver: each batch's small per-run reports (findings, summaries, downsampled curves
  when the output shows them), streamed back as batches finish (``ray.wait``) and handed on in
  the runs' order. At most :data:`IN_FLIGHT_PER_CPU` batches per cluster CPU are submitted at a
  time, so the driver holds the reports and a bounded window of pending results, never the data.
"""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from advisor.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

#: Batches in flight per CPU of the cluster: enough to keep every worker busy while results return.
IN_FLIGHT_PER_CPU = 2
#: Runs per batch at most: a task costs ~1 ms of scheduling, a small run a few ms to read.
MAX_BATCH = 64
#: Batches per cluster CPU the runs are dealt into (when that leaves batches under MAX_BATCH).
BATCHES_PER_CPU = 4


def parse_executor(spec: str | None) -> tuple[str, str | None]:
    """``local`` | ``ray`` | ``ray=ADDRESS`` -> (kind, address); anything else is a usage error."""
    if spec is None or spec == "local":
        return "local", None
    kind, eq, address = spec.partition("=")
    if kind != "ray" or (eq and not address):
        raise UsageError(f"--executor {spec!r}: expected local, ray or ray=ADDRESS (e.g. ray=auto, ray=ray://head:10001)")
    return "ray", address or None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray; install it with: pip install 'training-advisor[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """The ``ray`` module, connected: to a cluster already joined by this process (left running),
    else to ``address`` (``auto``, ``ray://host:port``) or a new local cluster (both shut down
    on exit). A cluster that cannot be reached is a usage error."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address)
    try:
        # Ray's own notices (token authentication, ...) stay off advisor's stderr: errors only.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UsageError(f"cannot connect to the Ray cluster at {address or 'a new local cluster'}: {e}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) that does not answer is a usage error at once
    (Ray itself retries an unreachable head for minutes)."""
    if not address or address == "auto" or address.startswith("local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--executor ray={address}: expected ADDRESS as host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {e}") from None


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def batches(items: Sequence[T], cpus: int, max_batch: int = MAX_BATCH) -> list[Sequence[T]]:
    """Contiguous batches (so results can stream back in order): about BATCHES_PER_CPU per CPU,
    none over ``max_batch`` items."""
    n = len(items)
    if not n:
        return []
    size = max(1, min(max_batch, -(-n // (cpus * BATCHES_PER_CPU))))
    return [items[i : i + size] for i in range(0, n, size)]


def map_ordered(
    ray: Any,
    fn: Callable[..., list[R]],
    chunks: Sequence[Any],
    shared: Any,
    *,
    window: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[R]]:
    """``fn(chunk, shared)`` for every chunk as Ray tasks, yielding each chunk's result in the
    chunks' order as soon as it and those before it are done. ``shared`` goes to the object
    store once. At most ``window`` tasks are pending (default: IN_FLIGHT_PER_CPU per cluster CPU);
    ``progress`` gets the number of items of each chunk as it finishes (in any order)."""
    remote = ray.remote(max_retries=3)(fn)
    ref = ray.put(shared)
    window = window or IN_FLIGHT_PER_CPU * cluster_cpus(ray)
    pending: dict[Any, int] = {}  # ObjectRef -> chunk index
    done: dict[int, list[R]] = {}
    submitted = emitted = 0
    while emitted < len(chunks):
        while submitted < len(chunks) and len(pending) < window:
            pending[remote.remote(chunks[submitted], ref)] = submitted
            submitted += 1
        ready, _ = ray.wait(list(pending), num_returns=1)
        for r in ready:
            i = pending.pop(r)
            done[i] = ray.get(r)
            if progress:
                progress(len(done[i]))
        while emitted in done:
            yield done.pop(emitted)
            emitted += 1

