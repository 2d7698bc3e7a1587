"""Following a file as it is written: appends in any chunking give the same result as one read."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iotest_helpers import assert_same, random_event_file, write

from advisor.io.tfevents import EventFileReader, read_event_file
from advisor.io.writer import EventWriter
from benchmarks._corpus import run_data, torch_like_bytes


def append(path: str, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), cuts=st.lists(st.integers(1, 4000), min_size=1, max_size=12), fast=st.booleans())
def test_appends_in_any_chunks(tmp_path_factory, eager_fast, seed, cuts, fast):
    data = random_event_file(np.random.default_rng(seed), 150)
    d = tmp_path_factory.mktemp("inc")
    path = str(d / "events.out.tfevents.live")
    write(path, b"")
    reader = EventFileReader(path, fast=fast)
    pos = 0
    for c in sorted(set(cuts)):
        c = min(c, len(data))
        append(path, data[pos:c])
        pos = c
        reader.poll()
        now = reader.result()
        snapshot = read_event_file(write(str(d / "events.out.tfevents.snap"), data[:pos]), fast=False)
        if pos:
            assert_same_content(now, snapshot)
    append(path, data[pos:])
    reader.poll()
    assert_same_content(reader.result(), read_event_file(write(str(d / "events.out.tfevents.snap"), data), fast=False))
    assert reader.result().records > 100


def assert_same_content(a, b) -> None:
    """Same decoded content; the path differs and an empty prefix has no 'empty file' note."""
    b = b.__class__(**{**b.__dict__, "path": a.path})
    assert_same(a, b)


def test_record_split_mid_way(tmp_path):
    with EventWriter(str(tmp_path), filename="events.out.tfevents.w") as w:
        for s in range(1, 4):
            w.add_scalar("loss", s, s, wall_time=1.0)
    data = open(w.path, "rb").read()
    path = str(tmp_path / "events.out.tfevents.live")
    write(path, data[:-7])  # the last record lacks its last 7 bytes
    r = EventFileReader(path)
    r.poll()
    ef = r.result()
    assert ef.truncated and ef.scalars["loss"].steps.tolist() == [1, 2]
    assert r.poll() == 0  # nothing new
    append(path, data[-7:])
    assert r.poll() == 1
    ef = r.result()
    assert not ef.truncated and ef.problems == () and ef.scalars["loss"].steps.tolist() == [1, 2, 3]


def test_live_writer_and_reader(tmp_path):
    """A reader polling a file an EventWriter is flushing sees every point exactly once."""
    w = EventWriter(str(tmp_path), filename="events.out.tfevents.live", flush_secs=1e9)
    r = EventFileReader(w.path)
    seen = []
    for step in range(1, 301):
        w.add_scalars({"loss": 1.0 / step, "lr": 0.1}, step, wall_time=float(step))
        if step % 37 == 0:
            w.flush()
            r.poll()
            seen.append(len(r.result().scalars["loss"].steps))
    w.close()
    r.poll()
    ef = r.result()
    assert ef.scalars["loss"].steps.tolist() == list(range(1, 301))
    assert seen == sorted(seen) and seen[0] == 37
    assert_same(ef, read_event_file(w.path))


def test_large_appends_use_the_fast_path_incrementally(tmp_path):
    """Multi-MB appends (batched by the fast path) split at arbitrary bytes give the one-shot result."""
    data = torch_like_bytes(run_data(11, 12000))  # 60k scalars, ~3 MB
    path = str(tmp_path / "events.out.tfevents.big")
    write(path, b"")
    r = EventFileReader(path)
    cuts = [1_000_001, 1_000_002, 2_345_678, len(data)]
    pos = 0
    for c in cuts:
        append(path, data[pos:c])
        pos = c
        r.poll()
    assert_same_content(r.result(), read_event_file(write(str(tmp_path / "events.out.tfevents.whole"), data)))
    assert r.result().n_scalars == 60000


@pytest.mark.parametrize("how", ["replace", "shrink"])
def test_replaced_or_shrunk_file_is_read_again(tmp_path, how):
    path = str(tmp_path / "events.out.tfevents.rot")
    with EventWriter(str(tmp_path), filename="events.out.tfevents.rot") as w:
        for s in range(1, 50):
            w.add_scalar("old", s, s)
    r = EventFileReader(path)
    r.poll()
    assert "old" in r.result().scalars
    if how == "replace":
        tmp = str(tmp_path / "new")
        with EventWriter(tmp, filename="x") as w2:
            w2.add_scalar("new", 1.0, 1)
        os.replace(w2.path, path)
    else:
        with EventWriter(str(tmp_path), filename="other") as w2:
            w2.add_scalar("new", 1.0, 1)
        with open(path, "wb") as fh:
            fh.write(open(w2.path, "rb").read())
    r.poll()
    ef = r.result()
    assert list(ef.scalars) == ["new"] and ef.records == 2


def test_poll_of_a_vanished_file_reports(tmp_path):
    path = write(str(tmp_path / "events.out.tfevents.gone"), b"")
    r = EventFileReader(path)
    os.remove(path)
    assert r.poll() == 0
    assert r.result().problems[0].startswith("unreadable")


@pytest.mark.parametrize("chunk", [13, 100, 1000, 4096])
def test_chunked_reads_are_identical(tmp_path, eager_fast, chunk):
    """Files are read a chunk at a time: records across chunk boundaries, records larger than a
    chunk, and a truncated tail read exactly as in one piece."""
    from advisor.io import tfevents, wire
    from advisor.io.records import frame
    from advisor.io.writer import event_bytes

    rng = np.random.default_rng(chunk)
    blob = frame(event_bytes(1.0, 7, summary=wire.field_bytes(1, wire.field_str(1, "img") + wire.field_bytes(4, bytes(5000)))))
    data = random_event_file(rng, 200) + blob + random_event_file(rng, 100)
    for name, content in (("whole", data), ("cut", data[:-3])):
        path = write(str(tmp_path / f"events.out.tfevents.{name}"), content)
        ref_fast, ref_general = read_event_file(path), read_event_file(path, fast=False)
        saved = tfevents.READ_CHUNK
        tfevents.READ_CHUNK = chunk
        try:
            assert_same(read_event_file(path), ref_fast)
            assert_same(read_event_file(path, fast=False), ref_general)
        finally:
            tfevents.READ_CHUNK = saved
        assert ref_fast.truncated == (name == "cut")


def _scalar_file(tag: str, n: int, wall: float, scale: float) -> bytes:
    from iotest_helpers import summary_event

    from advisor.io.records import frame
    from advisor.io.writer import event_bytes, scalar_value

    head = frame(event_bytes(wall, file_version="brain.Event:2"))
    return head + b"".join(frame(summary_event(wall + s, s, scalar_value(tag, scale * s))) for s in range(1, n + 1))


@pytest.mark.parametrize("layout", ["same", "other"])
def test_rewrite_in_place_is_read_again(tmp_path, layout):
    """A file truncated and rewritten on the same inode that has already grown past the old offset
    before the next poll: neither the size nor the inode says so. The reader re-checks the first
    bytes and the bytes before its offset, and reads the new file from the start (it spliced old
    and new records of the same layout, and stopped at a false corrupt header otherwise)."""
    path = str(tmp_path / "events.out.tfevents.rw")
    write(path, _scalar_file("loss", 20, 100.0, 1.0))
    ino = os.stat(path).st_ino
    r = EventFileReader(path)
    r.poll()
    assert r.result().n_scalars == 20
    new = _scalar_file("loss", 45, 200.0, -1.0) if layout == "same" else _scalar_file("validation/accuracy_top5", 45, 200.0, 2.0)
    with open(path, "r+b") as fh:  # same inode: truncate, then write more than there was
        fh.truncate(0)
        fh.write(new)
    assert os.stat(path).st_ino == ino and len(new) > r.offset
    r.poll()
    ref = read_event_file(write(str(tmp_path / "events.out.tfevents.ref"), new))
    assert_same_content(r.result(), ref)
    assert r.result().problems == ()


def test_unchanged_file_is_not_read_again(tmp_path):
    """The rewrite check re-reads a few bytes, never the records: appends still cost only themselves."""
    path = write(str(tmp_path / "events.out.tfevents.app"), _scalar_file("loss", 20, 100.0, 1.0))
    r = EventFileReader(path)
    assert r.poll() == 21
    assert r.poll() == 0
    extra = _scalar_file("loss", 2, 300.0, 5.0)
    append(path, extra)
    assert r.poll() == 3 and r.result().n_scalars == 22
