"""Reading many files across processes: input order kept, bad files reported, same results."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from iotest_helpers import REPO, assert_same, write

from advisor.io import parallel
from advisor.io.parallel import read_event_files
from advisor.io.tfevents import read_event_file
from benchmarks._corpus import write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    paths = write_corpus(str(root), 12, 300)
    bad_dir = root / "events.out.tfevents.dir"
    bad_dir.mkdir()
    junk = write(str(root / "events.out.tfevents.junk"), b"not an event file at all")
    empty = write(str(root / "events.out.tfevents.empty"), b"")
    # Bad files in between the good ones: the order of results must follow the input.
    return paths[:5] + [str(bad_dir), junk, str(root / "missing.tfevents"), empty] + paths[5:]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_in_input_order_and_identical(corpus, workers):
    results = read_event_files(corpus, workers=workers)
    assert [r.path for r in results] == corpus
    for path, got in zip(corpus, results):
        assert_same(got, read_event_file(path))
    assert sum(r.n_scalars for r in results) == 12 * 300 * 5
    assert results[5].problems[0].startswith("unreadable")
    assert results[6].problems == ("not a TFRecord event file (bad header at byte 0)",)
    assert results[8].problems == ("empty file",)


def test_serial_cases(corpus, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_pool)
    assert read_event_files([]) == []
    assert len(read_event_files(corpus[:1], workers=4)) == 1  # one file: serial
    assert len(read_event_files(corpus, workers=1)) == len(corpus)
    assert len(read_event_files(corpus)) == len(corpus)  # small total: serial


def test_broken_pool_falls_back_to_serial(corpus, monkeypatch):
    class Broken:
        def __init__(self, *args, **kwargs):
            raise OSError("no processes for you")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Broken)
    results = read_event_files(corpus, workers=2)
    assert [r.path for r in results] == corpus and sum(r.n_scalars for r in results) == 18000


def test_a_reader_bug_costs_only_its_file(corpus, monkeypatch):
    def explode(path, verify_crc=True):
        if path == corpus[0]:
            raise RuntimeError("boom")
        return read_event_file(path, verify_crc)

    monkeypatch.setattr(parallel, "read_event_file", explode)
    results = read_event_files(corpus, workers=1)
    assert results[0].problems == ("unreadable: RuntimeError: boom",) and results[1].n_scalars == 1500


def test_balanced_chunks_cover_every_file_once():
    sizes = [5, 100, 1, 1, 50, 7, 0, 300, 2]
    chunks = parallel._balanced_chunks(sizes, 4)
    assert sorted(i for c in chunks for i in c) == list(range(len(sizes)))
    assert len(chunks) == 4 and all(c == sorted(c) for c in chunks)


def test_verify_crc_passed_through(corpus, tmp_path):
    data = bytearray(open(corpus[0], "rb").read())
    data[40 + 12 + 1] ^= 1  # the wall time of the record after file_version (40 bytes)
    bad = write(str(tmp_path / os.path.basename(corpus[0])), bytes(data))
    on, off = read_event_files([bad, corpus[1]], workers=2, verify_crc=True)[0], read_event_files([bad, corpus[1]], workers=2, verify_crc=False)[0]
    assert on.bad_crc == 1 and off.bad_crc == 0


@pytest.mark.parametrize("shm", ["shared", "unavailable"])
def test_results_through_shared_memory(corpus, monkeypatch, tmp_path, shm):
    """Workers hand arrays back through a shared-memory file (or, without one, pickled): same
    results, writable arrays, and nothing left behind."""
    monkeypatch.setattr(parallel, "MIN_SHARED_BYTES", 0)
    if shm == "unavailable":
        monkeypatch.setattr(parallel, "SHM_DIR", str(tmp_path / "no-such-dir"))
    else:  # a private directory: other test processes read in parallel through the real one
        (tmp_path / "shm").mkdir()
        monkeypatch.setattr(parallel, "SHM_DIR", str(tmp_path / "shm"))
    before = set(os.listdir(parallel.SHM_DIR)) if os.path.isdir(parallel.SHM_DIR) else set()
    shared = []
    real_import = parallel._import

    def spy(path, skeleton):
        shared.append(path is not None)
        return real_import(path, skeleton)

    monkeypatch.setattr(parallel, "_import", spy)
    results = read_event_files(corpus, workers=2)
    assert shared and all(shared) == (shm == "shared")
    for path, got in zip(corpus, results):
        assert_same(got, read_event_file(path))
    d = results[0].scalars["train/loss"]
    d.values[0] = 123.0  # copy-on-write: the caller may modify its arrays
    assert d.values[0] == 123.0 and d.steps.dtype.name == "int64"
    after = set(os.listdir(parallel.SHM_DIR)) if os.path.isdir(parallel.SHM_DIR) else set()
    assert after == before


@pytest.mark.parametrize("runtime", ["jax", "torch"])
def test_no_fork_once_a_threaded_runtime_is_loaded(monkeypatch, runtime):
    """JAX/torch threads are invisible to `threading`; forking under them can deadlock the child."""
    import sys
    import types

    for name in parallel._THREADED_RUNTIMES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    clean = parallel.pool_context().get_start_method()
    monkeypatch.setitem(sys.modules, runtime, types.ModuleType(runtime))
    assert parallel.pool_context().get_start_method() != "fork"
    if "fork" in __import__("multiprocessing").get_all_start_methods():
        assert clean == "fork" or __import__("threading").active_count() > 1


def test_cpu_count_follows_the_affinity_mask(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert parallel.cpu_count() == len(os.sched_getaffinity(0))
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert parallel.cpu_count() == 1
        monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # the OS cannot say
    assert parallel.cpu_count() == 1


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry))
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead worker reparented to a PID 1 that never reaps stays one)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


_KILLED_READER = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
from advisor.io import parallel
if sys.argv[3] == "forkserver":  # another thread running: the pool is started by a forkserver
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
parallel.SHM_DIR = sys.argv[2]  # private: tests reading in parallel beside this one use the real one
parallel.MIN_SHARED_BYTES = 0  # every result through shared memory
while True:
    parallel.read_event_files(sys.argv[4:], workers=2)
"""


def _files_under(root: str) -> list[str]:
    return [os.path.join(d, f) for d, dirs, files in os.walk(root) for f in dirs + files]


def _results_under(root: str) -> list[str]:
    return [f for f in _files_under(root) if os.path.isfile(f)]


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        kids = _children(todo.pop()) - out
        out |= kids
        todo.extend(kids)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir(parallel.SHM_DIR), reason="Linux /proc and /dev/shm")
@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_killed_reader_leaves_no_workers_and_no_shared_memory(tmp_path, start):
    """kill -9 of a process mid-read: its workers die with it and its shared memory goes too (the
    workers kept running, blocked on a queue no one would write, and their result files stayed
    in /dev/shm). Under a forkserver (a reader with a threaded runtime loaded) the workers are
    the server's children, and the server outlived the reader while they did: every process the
    reader started goes."""
    paths = write_corpus(str(tmp_path / "big"), 8, 6000)
    shm = os.path.join(parallel.SHM_DIR, f"advisor-test-{uuid.uuid4().hex[:12]}")
    os.mkdir(shm)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_READER, REPO, shm, start, *paths])
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not (len(started) >= 2 and any(os.path.isfile(f) for f in _files_under(shm))):
            if time.monotonic() > deadline:  # until the workers run and a result file is out
                pytest.fail(f"no worker result in shared memory (processes seen: {started})")
            started |= _descendants(proc.pid)
            time.sleep(0.002)
        started |= _descendants(proc.pid)
        proc.kill()
        proc.wait()
        # generous: a loaded CI machine (the suite runs beside other work) can take seconds to
        # schedule the workers that notice their reader is gone; without the cleanup they never go
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (any(_running(w) for w in started) or _results_under(shm)):
            time.sleep(0.05)
        assert not [w for w in started if _running(w)], "processes outlived the reader"
        assert not _results_under(shm), "shared memory outlived the run"
        # a run directory the reader made just before it died, before any worker started, may stay
        # (empty, named after the dead reader: the next run removes it — see below)
        assert {os.path.basename(d).split("-")[2] for d in _files_under(shm)} <= {str(proc.pid)}
    finally:
        proc.kill()
        for w in started:
            if _running(w):
                os.kill(w, signal.SIGKILL)
        shutil.rmtree(shm, ignore_errors=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_a_pool_owner_is_known_by_its_pid_and_start_time():
    """Workers watch the process that started their pool: gone, a zombie (killed, not reaped yet)
    or another process under its reused pid all count as gone."""
    me = parallel.pool_owner(multiprocessing.get_context("spawn"))
    assert me.is_parent and parallel._owner_running(me)
    assert not parallel.pool_owner(multiprocessing.get_context("forkserver")).is_parent
    assert not parallel._owner_running(me._replace(started=str(int(me.started) + 1)))  # a reused pid
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = parallel.PoolOwner(child.pid, parallel._start_time(child.pid), True)
    deadline = time.monotonic() + 30
    while _running(child.pid) and time.monotonic() < deadline:  # exited, not reaped: a zombie
        time.sleep(0.01)
    assert os.path.exists(f"/proc/{child.pid}") and not parallel._owner_running(gone)
    child.wait()
    assert not parallel._owner_running(gone)


_SIGNALLED_WORKER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from advisor.io import parallel
parallel._worker_init(parallel.PoolOwner(os.getppid(), parallel._start_time(os.getppid()), True), sys.argv[2])
with open(os.path.join(sys.argv[2], "part-x"), "wb") as fh:
    fh.write(b"x" * 100)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("sig, removed", [(parallel.PARENT_DEATH_SIGNAL, True), (signal.SIGTERM, False)], ids=["parent-death", "sigterm"])
def test_a_workers_signal_says_whether_its_parent_is_gone(tmp_path, sig, removed):
    """The parent-death signal removes the run's shared memory even while the worker still sees
    its parent (a kernel may send it before reparenting the worker: the orphans then left their
    results behind); a SIGTERM, which a live reader sends when its pool broke, leaves them to it."""
    run = tmp_path / "advisor-read-run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _SIGNALLED_WORKER, REPO, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, sig)
        assert proc.wait(30) == 1
        assert run.exists() is not removed
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_next_run_removes_a_dead_readers_shared_memory(tmp_path, monkeypatch, corpus):
    """Where a reader and its workers were killed at once (no one left to clean up), the next run
    removes what they left: directories named after a dead pid, untouched for a while."""
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(parallel, "SHM_DIR", str(shm))
    monkeypatch.setattr(parallel, "MIN_SHARED_BYTES", 0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old, fresh, alive, other = (shm / f"advisor-read-{dead.pid}-old", shm / f"advisor-read-{dead.pid}-new", shm / f"advisor-read-{os.getppid()}-x", shm / "unrelated")
    for d in (old, fresh, alive, other):
        d.mkdir()
        (d / "part-1").write_bytes(b"x" * 100)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    for d in (alive, other):
        os.utime(d, (time.time() - 3600, time.time() - 3600))
    read_event_files(corpus, workers=2)
    assert sorted(os.listdir(shm)) == sorted(d.name for d in (fresh, alive, other))
