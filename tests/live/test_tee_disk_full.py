"""The tee on a full disk: never a partial record, never a record twice, nothing lost once space returns."""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np
import pytest

import advisor.io.writer as writer_module
from advisor.io.tfevents import read_event_file
from advisor.live import Monitor

from .helpers import healthy


class FullDisk:
    """A file on a disk with ``room`` bytes left (None: plenty).

    ``short`` (what ``write(2)`` does): a write that does not fit writes what fits and returns
    that count, the next one fails with ENOSPC. Otherwise (what a buffered layer may do) the write
    puts what fits in the file and then fails, without saying how much it wrote. Truncating gives
    the space back, as on a real disk.
    """

    def __init__(self, raw: Any, short: bool) -> None:
        self.raw, self.short = raw, short
        self.room: int | None = None

    def write(self, data: Any) -> int:
        data = bytes(data)
        if self.room is None or len(data) <= self.room:
            self.room = None if self.room is None else self.room - len(data)
            return self.raw.write(data)
        if self.room == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.raw.write(data[: self.room])
        self.raw.flush()
        self.room = 0
        if self.short:
            return n
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def truncate(self, size: int) -> int:
        self.raw.flush()
        before = os.fstat(self.raw.fileno()).st_size
        out = self.raw.truncate(size)
        if self.room is not None:
            self.room += max(before - size, 0)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@pytest.fixture
def disks(monkeypatch):
    """Every file the event writer opens sits on a FullDisk (short writes unless set)."""
    opened: list[FullDisk] = []
    mode = {"short": True}

    def fake_open(path: Any, *a: Any, **k: Any) -> FullDisk:
        d = FullDisk(open(path, *a, **k), mode["short"])  # noqa: SIM115 - the writer closes it
        opened.append(d)
        return d

    monkeypatch.setattr(writer_module, "open", fake_open, raising=False)
    return opened, mode


def read_back(logdir) -> Any:
    (name,) = os.listdir(logdir)
    return read_event_file(os.path.join(logdir, name))


@pytest.mark.parametrize("short", [True, False], ids=["short-write", "write-then-raise"])
def test_tee_on_a_full_disk_writes_each_record_once_and_whole(tmp_path, disks, short):
    opened, mode = disks
    mode["short"] = short
    logdir = tmp_path / "run"
    loss = healthy(3000)
    mon = Monitor(every=50, on_finding=None, tee=str(logdir))
    (disk,) = opened
    for step, v in enumerate(loss):
        if step == 1000:
            disk.room = 777  # the disk fills up in the middle of a record
        if step == 2000:
            ef = read_back(logdir)  # while it is full: whole records only, none twice
            assert ef.problems == () and not ef.truncated
            steps = ef.scalars["train/loss"].steps
            # the drain at step 1000 met the full disk
            assert len(steps) == len(set(steps.tolist())) and 900 <= len(steps) < 1000
            disk.room = None  # space returns
        mon.log(step, loss=float(v))
    mon.close()
    ef = read_back(logdir)
    assert ef.problems == () and not ef.truncated and ef.bad_crc == 0
    got = ef.scalars["train/loss"]
    assert got.steps.tolist() == list(range(3000))
    np.testing.assert_array_equal(got.values, loss.astype(np.float32))
    assert "tee" in mon.recorder.failures


def test_tee_gives_up_on_a_disk_that_stays_full_without_growing_memory(tmp_path, disks, monkeypatch):
    import advisor.live.tee as tee_module

    monkeypatch.setattr(tee_module, "TEE_BACKLOG", 500)
    opened, _ = disks
    logdir = tmp_path / "run"
    mon = Monitor(every=50, on_finding=None, tee=str(logdir))
    (disk,) = opened
    disk.room = 0
    for step in range(2000):
        mon.log(step, loss=1.0)
    assert mon.recorder.tee.backlog <= 500
    disk.room = None
    for step in range(2000, 2100):
        mon.log(step, loss=1.0)
    mon.close()
    ef = read_back(logdir)
    assert ef.problems == ()
    steps = ef.scalars["train/loss"].steps.tolist()
    # points were left out while the disk was full, and the file is whole again after
    assert steps == sorted(set(steps)) and steps[-100:] == list(range(2000, 2100))
    assert {"tee", "tee backlog"} <= mon.recorder.failures
    assert len(mon.recorder.series["train/loss"]) == 2100  # the monitor itself lost nothing
