"""Damaged, foreign and unreadable inputs: the reader reports, keeps what it can, never raises."""

from __future__ import annotations

import builtins
import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iotest_helpers import assert_same, summary_event, tensor_proto, tensor_value, write

from advisor.io.crc32c import masked_crc32c
from advisor.io.records import frame
from advisor.io.tfevents import EventFileReader, read_event_file
from advisor.io.writer import event_bytes, hparams_values, scalar_value, text_value


def small_file() -> tuple[bytes, list[int]]:
    """A file of every record kind and the byte offset where each record ends."""
    payloads = [event_bytes(1.0, file_version="brain.Event:2")]
    payloads += [summary_event(2.0, s, scalar_value("loss", 1.0 / s)) for s in range(1, 5)]
    payloads.append(summary_event(3.0, 5, text_value("note", "hi")))
    payloads += [summary_event(4.0, 0, v) for v in hparams_values({"lr": 0.1})]
    payloads.append(summary_event(5.0, 6, tensor_value("acc", tensor_proto("content_f4", 0.5))))
    payloads.append(event_bytes(6.0, 3, session_log=b"\x08\x01"))
    payloads.append(summary_event(7.0, 4, scalar_value("loss", 9.0)))
    ends, out = [], b""
    for p in payloads:
        out += frame(p)
        ends.append(len(out))
    return out, ends


def read_both(path: str, verify_crc: bool = True):
    a = read_event_file(path, verify_crc)
    b = read_event_file(path, verify_crc, fast=False)
    assert_same(a, b)
    return a


def test_truncation_at_every_byte(tmp_path, eager_fast):
    data, ends = small_file()
    path = str(tmp_path / "events.out.tfevents.cut")
    prefixes: dict[int, object] = {}  # bytes of complete records -> the general read of exactly those
    for cut in range(len(data) + 1):
        write(path, data[:cut])
        ef = read_both(path)  # fast path == general path
        complete = sum(1 for e in ends if e <= cut)
        assert ef.records == complete
        assert ef.bytes_read == (ends[complete - 1] if complete else 0)
        assert ef.truncated == (cut not in ends and cut != 0)
        if ef.truncated:
            assert any("truncated record" in p for p in ef.problems)
        if cut == 0:
            assert ef.problems == ("empty file",)
        # What was read is exactly what the complete prefix holds (restart purges included).
        if ef.bytes_read not in prefixes:
            prefixes[ef.bytes_read] = read_event_file(write(str(tmp_path / "events.out.tfevents.pre"), data[: ef.bytes_read]), fast=False)
        prefix = prefixes[ef.bytes_read]
        assert sorted(ef.scalars) == sorted(prefix.scalars)
        for tag, d in ef.scalars.items():
            assert d.seq.tolist() == prefix.scalars[tag].seq.tolist()
            assert d.values.tobytes() == prefix.scalars[tag].values.tobytes()
        assert (ef.texts, ef.hparams, ef.restarts) == (prefix.texts, prefix.hparams, prefix.restarts)
    assert len(prefixes) == len(ends) + 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_single_bit_flip(tmp_path_factory, pos, bit):
    data, ends = small_file()
    pos %= len(data)
    bad = bytearray(data)
    bad[pos] ^= 1 << bit
    path = write(str(tmp_path_factory.mktemp("flip") / "events.out.tfevents.flip"), bytes(bad))
    ef = read_both(path)
    k = next(i for i, e in enumerate(ends) if pos < e)  # the record the flip hit
    start = ends[k - 1] if k else 0
    offset = pos - start
    payload_len = ends[k] - start - 16
    if offset < 12:  # header: that record is skipped as damage, every other one read
        assert ef.records == len(ends) - 1 and ef.bad_crc == 0
        assert ef.problems == (f"skipped {ends[k] - start} bytes of damage at byte {start}",)
    else:  # payload or footer: that record is skipped and counted, the rest read
        assert ef.records == len(ends)
        assert ef.bad_crc == 1
        assert any("failed their CRC" in p for p in ef.problems)
        assert 12 <= offset < 16 + payload_len


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), verify_crc=st.booleans())
def test_random_garbage_never_raises(tmp_path_factory, data, verify_crc):
    path = write(str(tmp_path_factory.mktemp("junk") / "events.out.tfevents.junk"), data)
    ef = read_both(path, verify_crc)
    assert ef.records == 0 or not verify_crc  # random bytes never pass a header CRC
    assert ef.problems or ef.records >= 0
    if data and verify_crc:
        assert ef.problems


def _header(length: int, good_crc: bool = True) -> bytes:
    h = struct.pack("<Q", length)
    return h + struct.pack("<I", masked_crc32c(h) if good_crc else 0)


@pytest.mark.parametrize("verify_crc", [True, False])
@pytest.mark.parametrize("length", [2**29, 2**40, 2**64 - 1])
def test_absurd_lengths_do_not_allocate(tmp_path, verify_crc, length):
    ok = frame(summary_event(1.0, 1, scalar_value("loss", 1.0)))
    path = write(str(tmp_path / "events.out.tfevents.huge"), ok + _header(length) + b"x" * 100)
    tracemalloc.start()
    try:
        ef = read_both(path, verify_crc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    assert ef.records == 1 and ef.scalars["loss"].values.tolist() == [1.0]
    if length > 2**30:  # no record claims that much: damage, scanned past to the end
        assert ef.problems == (f"skipped 112 bytes of damage at byte {len(ok)}",) and not ef.truncated
    else:  # believable but past the end: a writer may still be writing it
        assert ef.truncated


def test_empty_file(tmp_path):
    ef = read_both(write(str(tmp_path / "events.out.tfevents.empty"), b""))
    assert ef.records == 0 and ef.problems == ("empty file",) and not ef.is_event_file


def test_text_file_named_like_an_event_file(tmp_path):
    ef = read_both(write(str(tmp_path / "events.out.tfevents.notes.txt"), b"these are my training notes, not events\n"))
    assert ef.records == 0
    assert ef.problems == ("not a TFRecord event file (bad header at byte 0)",)


def test_directory_passed_as_a_file(tmp_path):
    d = tmp_path / "events.out.tfevents.dir"
    d.mkdir()
    ef = read_event_file(str(d))
    assert ef.records == 0 and len(ef.problems) == 1 and ef.problems[0].startswith("unreadable")


def test_missing_file(tmp_path):
    ef = read_event_file(str(tmp_path / "nope.tfevents"))
    assert ef.records == 0 and ef.problems[0].startswith("unreadable")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_permissions(tmp_path):
    path = write(str(tmp_path / "events.out.tfevents.secret"), frame(event_bytes(1.0)))
    os.chmod(path, 0)
    try:
        ef = read_event_file(path)
    finally:
        os.chmod(path, 0o644)
    assert ef.records == 0 and ef.problems[0].startswith("unreadable")


def test_unreadable_file_open_fails(tmp_path, monkeypatch):
    """The permission error itself (simulated: the tests may run as root)."""
    path = write(str(tmp_path / "events.out.tfevents.secret"), frame(event_bytes(1.0)))
    real_open, real_os_open = builtins.open, os.open

    def denying(real):
        def deny(file, *args, **kwargs):
            if str(file) == path:
                raise PermissionError(13, "Permission denied", path)
            return real(file, *args, **kwargs)

        return deny

    monkeypatch.setattr(builtins, "open", denying(real_open))
    monkeypatch.setattr(os, "open", denying(real_os_open))  # the reader opens a file by either
    ef = read_event_file(path)
    assert ef.records == 0 and ef.problems == ("unreadable: Permission denied",)


def test_verify_crc_off_reads_damaged_payloads(tmp_path):
    payload = summary_event(1.0, 1, scalar_value("loss", 1.0))
    rec = bytearray(frame(payload))
    rec[-5] ^= 0x01  # the value's last byte (its sign/exponent): the stored CRC no longer matches
    path = write(str(tmp_path / "events.out.tfevents.nocrc"), bytes(rec) * 3)
    off = read_both(path, verify_crc=False)
    on = read_both(path, verify_crc=True)
    assert off.bad_crc == 0 and off.n_scalars == 3 and off.scalars["loss"].values[0] != 1.0
    assert on.bad_crc == 3 and on.n_scalars == 0


def test_header_corruption_after_good_records(tmp_path):
    good = b"".join(frame(summary_event(1.0, s, scalar_value("loss", s))) for s in range(1, 4))
    path = write(str(tmp_path / "events.out.tfevents.hdr"), good + _header(40, good_crc=False) + b"\0" * 44)
    ef = read_both(path)
    assert ef.records == 3 and ef.scalars["loss"].steps.tolist() == [1, 2, 3]
    assert ef.problems == (f"skipped 56 bytes of damage at byte {len(good)}",) and not ef.truncated


def test_undecodable_payload_counted(tmp_path):
    junk = frame(b"\x0f\xff\xff")  # valid frame, not an Event
    path = write(str(tmp_path / "events.out.tfevents.junk"), junk + frame(summary_event(1.0, 2, scalar_value("a", 1.0))))
    ef = read_both(path)
    assert ef.bad_records == 1 and ef.n_scalars == 1
    assert "1 record(s) were not decodable events and were skipped" in ef.problems


def test_deeply_nested_hparams_do_not_raise(tmp_path):
    from advisor.io import wire
    from advisor.io.writer import _plugin_metadata

    value = wire.field_varint(4, 1)
    for _ in range(3000):  # ListValue{values: [Value{list_value: ...}]} nested far beyond recursion limits
        value = wire.field_bytes(6, wire.field_bytes(1, value))
    start = wire.field_bytes(1, wire.field_str(1, "deep") + wire.field_bytes(2, value))
    content = wire.field_bytes(3, start)
    v = wire.field_str(1, "_hparams_/session_start_info") + wire.field_bytes(9, _plugin_metadata("hparams", content))
    path = write(str(tmp_path / "events.out.tfevents.deep"), frame(summary_event(1.0, 0, v)))
    ef = read_both(path)
    assert ef.records == 1 and (ef.bad_records == 1 or "deep" in ef.hparams)


def test_large_records_use_the_numpy_crc(tmp_path):
    """A multi-MB record (an image, a graph) is checked and counted, not decoded as a scalar."""
    blob = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    from advisor.io import wire

    big = event_bytes(1.0, 1, summary=wire.field_bytes(1, wire.field_str(1, "img") + wire.field_bytes(4, blob)))
    rec = frame(big)
    path = write(str(tmp_path / "events.out.tfevents.big"), rec + frame(summary_event(1.0, 2, scalar_value("a", 1.0))))
    ef = read_both(path)
    assert ef.records == 2 and ef.non_scalar == 1 and ef.bad_crc == 0
    bad = bytearray(rec)
    bad[len(rec) // 2] ^= 4
    ef = read_both(write(path, bytes(bad)))
    assert ef.bad_crc == 1


def test_reader_never_raises_on_a_shrinking_file(tmp_path):
    data, ends = small_file()
    path = write(str(tmp_path / "events.out.tfevents.shrink"), data)
    r = EventFileReader(path)
    r.poll()
    write(path, data[: ends[2] + 5])
    r.poll()
    ef = r.result()
    assert ef.records == 3 and ef.truncated
