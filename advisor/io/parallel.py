"""Read many event files at once: one process per core, files dealt out in size-balanced chunks.

Decoding is CPU-bound numpy and Python, so threads would serialise on the GIL; processes
scale with cores. Results come back in input order, and a file that cannot be read yields an
:class:`~advisor.io.tfevents.EventFile` whose ``problems`` say why: nothing here raises
because of a bad file (or because the pool itself broke: the rest is then read serially).

A worker hands its arrays back through one file in shared memory (``/dev/shm``) that this
process maps copy-on-write, instead of pickling them through a pipe: unpickling would copy
every point again in this one process, which caps the speed-up long before the cores do.

Nothing outlives a killed reader: workers die with it (Linux: the parent-death signal, checked
against a parent that died before it was set; elsewhere too, and under a forkserver, whose workers
are the server's children: a watcher thread that notices the parent or the reader is gone), and
the first of them to notice removes the run's shared-memory directory,
whose name carries the reader's pid so that the next run removes any a harder death left.
"""

from __future__ import annotations

import dataclasses
import mmap
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from advisor.io.accumulator import TagData
from advisor.io.discover import is_url
from advisor.io.tfevents import EventFile, read_event_file

# Runtimes that start native threads the threading module cannot see.
_THREADED_RUNTIMES = ("jax", "tensorflow", "torch")

#: Chunks per worker: more balances uneven files better, fewer costs less overhead.
CHUNKS_PER_WORKER = 4
#: Below this many bytes in all, starting processes costs more than it saves.
MIN_PARALLEL_BYTES = 4 << 20
#: Results smaller than this come back pickled; larger ones through shared memory.
MIN_SHARED_BYTES = 1 << 20
SHM_DIR = "/dev/shm"
#: A run's shared-memory directory is SHM_PREFIX + its reader's pid + "-" + a random part.
SHM_PREFIX = "advisor-read-"
#: Seconds between a worker's checks that its parent is still there (where no signal says so).
WATCH_INTERVAL = 0.5
#: A dead reader's shared-memory directory untouched this long is removed by the next run.
STALE_AFTER = 600.0


def cpu_count() -> int:
    """Cores this process may run on: its affinity mask where the OS has one (a container or
    ``taskset`` may allow fewer than ``os.cpu_count()``), else the machine's count; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def read_event_files(paths: Iterable[str | os.PathLike[str]], workers: int | None = None, verify_crc: bool = True) -> list[EventFile]:
    """Read every file of ``paths``; the i-th result is the i-th path's. Never raises for bad files.

    ``workers``: processes to use (default: the available cores). One file, one worker or a
    small total size reads serially in this process.
    """
    files = [os.fspath(p) for p in paths]
    if not files:
        return []
    if any(is_url(f) for f in files):  # object storage: concurrent ranged reads, decoded here
        from advisor.io.remote import read_urls

        return read_urls(files, verify_crc=verify_crc)
    sizes = [_size(p) for p in files]
    n = min(workers if workers is not None else cpu_count(), len(files))
    if n <= 1 or (workers is None and sum(sizes) < MIN_PARALLEL_BYTES):
        return _read_chunk(files, verify_crc)
    chunks = _balanced_chunks(sizes, n * CHUNKS_PER_WORKER)
    results: list[EventFile | None] = [None] * len(files)
    shm = _shared_dir()
    try:
        ctx = pool_context()
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_init, initargs=(pool_owner(ctx), shm)) as pool:
            futures = [(chunk, pool.submit(_read_chunk_shared, [files[i] for i in chunk], verify_crc, shm, MIN_SHARED_BYTES)) for chunk in chunks]
            for chunk, fut in futures:
                try:
                    for i, ef in zip(chunk, _import(*fut.result())):
                        results[i] = ef
                except Exception:  # a worker died or a result did not come back: read those here
                    for i in chunk:
                        results[i] = _read_one(files[i], verify_crc)
    except Exception:  # the pool could not start (process limits, ...)
        pass
    finally:
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)  # mapped results stay valid once unlinked
    return [ef if ef is not None else _read_one(files[i], verify_crc) for i, ef in enumerate(results)]


def _read_chunk(paths: Sequence[str], verify_crc: bool) -> list[EventFile]:
    return [_read_one(p, verify_crc) for p in paths]


def _read_chunk_shared(paths: Sequence[str], verify_crc: bool, shm: str | None, min_shared: int) -> tuple[str | None, list[Any]]:
    """In a worker: read, then put the arrays in one shared-memory file (when worth it).
    Settings come as arguments: a spawned worker does not see the parent's module state."""
    return _export(_read_chunk(paths, verify_crc), shm, min_shared)


_FIELDS = ("steps", "values", "wall_times", "seq")  # each 8 bytes per point


def _export(results: list[EventFile], shm: str | None, min_shared: int) -> tuple[str | None, list[Any]]:
    """(path of the file holding every array, results whose TagData became (offset, length));
    or (None, results) unchanged when small or when shared memory cannot be written."""
    total = sum(8 * len(d.steps) * len(_FIELDS) for ef in results for d in ef.scalars.values())
    if shm is None or total < min_shared:
        return None, results
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=shm, prefix="part-")
        with os.fdopen(fd, "wb") as fh:
            for ef in results:
                for d in ef.scalars.values():
                    for name in _FIELDS:
                        fh.write(np.ascontiguousarray(getattr(d, name)).data)
    except OSError:  # full or gone: pickle instead
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
        return None, results
    skeleton: list[Any] = []
    offset = 0
    for ef in results:
        where = {}
        for tag, d in ef.scalars.items():
            where[tag] = (offset, len(d.steps))
            offset += 8 * len(d.steps) * len(_FIELDS)
        skeleton.append(dataclasses.replace(ef, scalars=where))
    return path, skeleton


def _import(path: str | None, skeleton: list[Any]) -> list[EventFile]:
    """The worker's results, their arrays mapped (copy-on-write) from its shared-memory file."""
    if path is None:
        return skeleton
    try:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    finally:
        os.unlink(path)
    raw = np.frombuffer(mm, dtype=np.uint8)  # the arrays keep the mapping alive
    out = []
    for ef in skeleton:
        scalars = {}
        for tag, (offset, n) in ef.scalars.items():
            cols = [raw[offset + 8 * n * k : offset + 8 * n * (k + 1)] for k in range(len(_FIELDS))]
            scalars[tag] = TagData(cols[0].view(np.int64), cols[1].view(np.float64), cols[2].view(np.float64), cols[3].view(np.int64))
        out.append(dataclasses.replace(ef, scalars=scalars))
    return out


def _shared_dir() -> str | None:
    """A private directory in shared memory for this call's results, or None (pickle them)."""
    try:
        if os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK):
            _remove_stale(SHM_DIR)
            return tempfile.mkdtemp(dir=SHM_DIR, prefix=f"{SHM_PREFIX}{os.getpid()}-")
    except OSError:
        pass
    return None


def _remove_stale(root: str) -> None:
    """Remove the shared-memory directories of runs whose reader is dead (killed together with
    its workers, so that none cleaned up). Only those untouched for STALE_AFTER seconds: a
    /dev/shm shared across pid namespaces (containers) may hold a live run of a pid that is
    free here."""
    now = time.time()
    for name in os.listdir(root):
        owner = name[len(SHM_PREFIX) :].split("-", 1)[0] if name.startswith(SHM_PREFIX) else ""
        if owner.isdigit() and not _alive(int(owner)):
            path = os.path.join(root, name)
            try:
                if now - os.stat(path).st_mtime > STALE_AFTER:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process, alive
        pass
    return True


# --------------------------------------------------------------------------- workers' lifetime

PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: The signal a reader's worker gets when the reader dies (Linux). Its own signal, not SIGTERM:
#: a SIGTERM also comes from a live reader whose pool broke (the worker must then leave the
#: shared memory to it), and the worker cannot tell the two apart by its parent pid — a kernel
#: may send the parent-death signal before the worker is reparented (seen under gVisor: the
#: orphans left their results in /dev/shm in 3 kills of 20).
PARENT_DEATH_SIGNAL = getattr(signal, "SIGUSR1", signal.SIGTERM)  # no SIGUSR1 (nor the signal) on Windows


class PoolOwner(NamedTuple):
    """The process that started a pool, as its workers watch it (see :func:`pool_owner`)."""

    pid: int
    started: str | None  # its start time from /proc (None elsewhere): a reused pid is not it
    is_parent: bool  # False under a forkserver, whose workers are the server's children


def pool_owner(ctx: multiprocessing.context.BaseContext) -> PoolOwner:
    """This process as the owner of a pool started by ``ctx``: the workers' parent, except under
    a forkserver. Workers watch it itself as well — a forkserver does not exit when the reader
    dies while any worker is left (each holds the server's liveness pipe), and its workers, whose
    parent it is, would wait for it forever."""
    pid = os.getpid()
    return PoolOwner(pid, _start_time(pid), ctx.get_start_method() != "forkserver")


def _worker_init(owner: PoolOwner, shm: str | None) -> None:
    """First thing in each worker: make sure it dies with the pool's owner, and cleans up after it."""
    ppid = os.getppid()
    try:  # signals, not SIGKILL: an orphan removes the run's shared memory on its way out
        signal.signal(signal.SIGTERM, lambda *_: _exit(ppid, shm))
        if shm is None:  # nothing to clean up (and a trainer's own SIGUSR1 handler stays its own)
            _set_parent_death_signal(signal.SIGTERM)
        else:
            signal.signal(PARENT_DEATH_SIGNAL, lambda *_: _exit(ppid, shm, orphan=True))
            _set_parent_death_signal(PARENT_DEATH_SIGNAL)
    except ValueError:  # not this interpreter's main thread: the watcher thread alone
        pass
    if owner.is_parent and ppid != owner.pid:
        _exit(ppid, shm, orphan=True)  # the parent died before the signal was set
    threading.Thread(target=_watch_parent, args=(ppid, shm, owner), daemon=True, name="advisor-watch-parent").start()


def die_with_parent(owner: PoolOwner) -> None:
    """A pool initializer for any worker process: it ends when ``owner`` (:func:`pool_owner`)
    dies, by signal on Linux and by a watcher thread everywhere (a ``kill -9`` of ``advisor
    tune`` or ``analyze`` leaves no worker behind)."""
    _worker_init(owner, None)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None: no such
    process, or no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (Linux /proc), else None."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _owner_running(owner: PoolOwner) -> bool:
    """Whether the process that started the pool is still there: alive, not a zombie (killed,
    not yet reaped) and not another process under its reused pid."""
    if owner.started is None:  # no /proc: a signal 0 says whether the pid exists
        return _alive(owner.pid)
    fields = _proc_stat(owner.pid)
    return fields is not None and fields[0] not in ("Z", "X") and fields[19] == owner.started


def _set_parent_death_signal(sig: int) -> None:
    """Linux: have the kernel send ``sig`` to this process when its parent dies. Elsewhere a no-op
    (the watcher thread notices instead)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch_parent(ppid: int, shm: str | None, owner: PoolOwner) -> None:
    """A worker's watcher thread: a worker whose parent is gone (reparented), or whose pool's
    owner is, exits."""
    while os.getppid() == ppid and _owner_running(owner):
        time.sleep(WATCH_INTERVAL)
    _exit(ppid, shm, orphan=True)


def _exit(ppid: int, shm: str | None, orphan: bool = False) -> None:
    """Leave at once. An orphan (its parent is gone, so none will read the results) first removes
    the run's shared-memory directory; a worker stopped by a live parent (a pool shutting down
    after a broken worker) leaves it to the parent, which still reads from it."""
    if (orphan or os.getppid() != ppid) and shm is not None:
        shutil.rmtree(shm, ignore_errors=True)
    os._exit(1)


def _read_one(path: str, verify_crc: bool) -> EventFile:
    try:
        return read_event_file(path, verify_crc=verify_crc)
    except Exception as e:  # a bug must not cost the other files
        return EventFile(path, {}, {}, {}, None, (), 0, 0, 0, 0, 0, False, (f"unreadable: {type(e).__name__}: {e}",))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _balanced_chunks(sizes: list[int], n_chunks: int) -> list[list[int]]:
    """Deal file indices into at most ``n_chunks`` chunks of similar total size (largest first)."""
    n_chunks = max(1, min(n_chunks, len(sizes)))
    chunks: list[list[int]] = [[] for _ in range(n_chunks)]
    loads = [0] * n_chunks
    for i in sorted(range(len(sizes)), key=lambda k: -sizes[k]):
        k = loads.index(min(loads))
        chunks[k].append(i)
        loads[k] += sizes[i] + 4096  # a file costs something even when empty
    # Biggest chunks first, so the long ones start early.
    return sorted((sorted(c) for c in chunks if c), key=lambda c: -sum(sizes[i] for i in c))


#: Threads that a fork may leave behind: fsspec's event loop (remote logdirs), which fsspec
#: itself replaces in a forked child (os.register_at_fork; filesystems are re-created there),
#: and that loop's default executor (``asyncio_N``: idle name-resolution workers of the old loop).
FORK_SAFE_THREADS = ("fsspecIO",)


def _other_threads() -> bool:
    fsspec_loop = any(t.name in FORK_SAFE_THREADS for t in threading.enumerate())
    for t in threading.enumerate():
        if t is threading.main_thread() or t.name in FORK_SAFE_THREADS:
            continue
        if fsspec_loop and t.name.startswith("asyncio_"):
            continue
        return True
    return False


def pool_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (workers start instantly), else forkserver/spawn.

    Safe means no other Python thread and no multithreaded runtime loaded in this process: JAX,
    TensorFlow and PyTorch start native threads that ``threading`` cannot see, and a forked child
    may inherit a lock one of them held (JAX warns that this deadlocks)."""
    methods = multiprocessing.get_all_start_methods()
    threaded = _other_threads() or any(m in sys.modules for m in _THREADED_RUNTIMES)
    if "fork" in methods and not threaded:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
