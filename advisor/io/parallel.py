"""Read many event files at once: one process per core, files dealt out in size-balanced chunks.

Decoding is CPU-bound numpy and Python, so threads would serialise on the GIL; processes
scale with cores. Results come back in input order, and a file that cannot be read yields an
:class:`~advisor.io.tfevents.EventFile` whose ``problems`` say why: nothing here raises
because of a bad file (or because the pool itself broke: the rest is then read serially).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Sequence

from advisor.io.tfevents import EventFile, read_event_file

#: Chunks per worker: more balances uneven files better, fewer costs less overhead.
CHUNKS_PER_WORKER = 4
#: Below this many bytes in all, starting processes costs more than it saves.
MIN_PARALLEL_BYTES = 4 << 20


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
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
    sizes = [_size(p) for p in files]
    n = min(workers if workers is not None else available_cores(), len(files))
    if n <= 1 or (workers is None and sum(sizes) < MIN_PARALLEL_BYTES):
        return _read_chunk(files, verify_crc)
    chunks = _balanced_chunks(sizes, n * CHUNKS_PER_WORKER)
    results: list[EventFile | None] = [None] * len(files)
    try:
        with ProcessPoolExecutor(n, mp_context=_context()) as pool:
            futures = [(chunk, pool.submit(_read_chunk, [files[i] for i in chunk], verify_crc)) for chunk in chunks]
            for chunk, fut in futures:
                try:
                    for i, ef in zip(chunk, fut.result()):
                        results[i] = ef
                except Exception:  # a worker died or a result failed to pickle: read those here
                    for i in chunk:
                        results[i] = _read_one(files[i], verify_crc)
    except Exception:  # the pool could not start (no /dev/shm, process limits, ...)
        pass
    return [ef if ef is not None else _read_one(files[i], verify_crc) for i, ef in enumerate(results)]


def _read_chunk(paths: Sequence[str], verify_crc: bool) -> list[EventFile]:
    return [_read_one(p, verify_crc) for p in paths]


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


def _context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (no threads yet: workers start instantly), else forkserver/spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
