"""Damaged framing is scanned past: every intact record after the damage is kept.

A flipped bit in a record header, or garbage between records, used to stop the file there (as
TensorBoard's own readers do); the reader now looks for the next position whose header (and,
with CRC checks on, payload) passes its CRC, goes on from there, and reports the bytes skipped.
Files of zeros and other absurd framing are rejected at once.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from iotest_helpers import assert_same, summary_event, write

from advisor.io import tfevents
from advisor.io.records import frame
from advisor.io.tfevents import EventFileReader, read_event_file
from advisor.io.writer import event_bytes, scalar_value

N = 1000


def records(n: int = N) -> list[bytes]:
    """A file_version record, then ``n`` one-scalar records of steps 1..n."""
    return [frame(event_bytes(1.0, file_version="brain.Event:2"))] + [frame(summary_event(1.0 + s, s, scalar_value("loss", s * 0.5))) for s in range(1, n + 1)]


def read_both(path: str, verify_crc: bool = True):
    fast, general = read_event_file(path, verify_crc), read_event_file(path, verify_crc, fast=False)
    assert_same(fast, general)
    return fast


def steps(ef) -> list[int]:
    return ef.scalars["loss"].steps.tolist() if "loss" in ef.scalars else []


@pytest.mark.parametrize("field", ["length", "length_high", "crc"])
@pytest.mark.parametrize("verify_crc", [True, False])
def test_one_flipped_header_bit_loses_one_record(tmp_path, field, verify_crc):
    recs = records()
    k = 500  # the record of step 500
    at = sum(len(r) for r in recs[:k])
    data = bytearray(b"".join(recs))
    byte, bit = {"length": (0, 0), "length_high": (5, 2), "crc": (9, 3)}[field]
    data[at + byte] ^= 1 << bit
    ef = read_both(write(str(tmp_path / "events.out.tfevents.flip"), bytes(data)), verify_crc)
    got = steps(ef)
    # Header CRCs are checked with payload CRC checks off too: a length off by one would
    # misframe what follows (the next records read as one bogus record).
    assert got == [s for s in range(1, N + 1) if s != k]
    assert ef.problems == (f"skipped {len(recs[k])} bytes of damage at byte {at}",)


@pytest.mark.parametrize("verify_crc", [True, False])
@pytest.mark.parametrize("garbage", [b"\x00", b"\xff" * 7, b"\x00" * 64, bytes(range(200)) * 3], ids=["zero", "ff7", "zeros64", "bytes600"])
def test_garbage_between_records_is_skipped(tmp_path, verify_crc, garbage):
    recs = records()
    at = sum(len(r) for r in recs[:300])
    data = b"".join(recs[:300]) + garbage + b"".join(recs[300:])
    ef = read_both(write(str(tmp_path / "events.out.tfevents.junk"), data), verify_crc)
    assert steps(ef) == list(range(1, N + 1)) and ef.records == N + 1
    assert ef.problems == (f"skipped {len(garbage)} bytes of damage at byte {at}",)


def test_damage_at_byte_zero_and_in_many_places(tmp_path):
    recs = records()
    data = bytearray(b"".join(recs))
    data[3] ^= 0x20  # the file_version record's header
    starts = np.cumsum([0] + [len(r) for r in recs])
    for k in (100, 200, 300, 400):
        data[int(starts[k]) + 10] ^= 0x01
    ef = read_both(write(str(tmp_path / "events.out.tfevents.many"), bytes(data)))
    assert steps(ef) == [s for s in range(1, N + 1) if s not in (100, 200, 300, 400)]
    assert ef.file_version is None  # its record was the damaged one
    skipped = len(recs[0]) + sum(len(recs[k]) for k in (100, 200, 300, 400))
    assert ef.problems == (f"skipped {skipped} bytes of damage in 5 places (the first at byte 0)",)


@pytest.mark.parametrize("chunk", [13, 64, 1000])
def test_damage_across_read_chunks(tmp_path, monkeypatch, chunk):
    """Chunked reads scan past damage that spans chunks exactly as one read of the whole."""
    recs = records(300)
    data = b"".join(recs[:100]) + os.urandom(3000) + b"".join(recs[100:200]) + b"\x00" * 500 + b"".join(recs[200:])
    path = write(str(tmp_path / "events.out.tfevents.chunks"), data)
    whole = read_both(path)
    assert steps(whole) == list(range(1, 301)) and len(whole.problems) == 2
    monkeypatch.setattr(tfevents, "READ_CHUNK", chunk)
    assert_same(read_both(path), whole)


def test_damaged_tail_then_appends(tmp_path):
    """Garbage at the end of a file being written is damage, not a truncated record; records
    appended after it are found at the next poll."""
    recs = records(20)
    path = write(str(tmp_path / "events.out.tfevents.live"), b"".join(recs[:10]) + b"\xde\xad\xbe\xef" * 5)
    r = EventFileReader(path)
    r.poll()
    ef = r.result()
    at = sum(len(x) for x in recs[:10])
    assert steps(ef) == list(range(1, 10)) and not ef.truncated
    assert ef.problems == (f"skipped 20 bytes of damage at byte {at}",)
    with open(path, "ab") as fh:
        fh.write(b"".join(recs[10:]))
    r.poll()
    ef = r.result()
    assert steps(ef) == list(range(1, 21)) and ef.problems == (f"skipped 20 bytes of damage at byte {at}",)


@pytest.mark.parametrize("verify_crc", [True, False])
def test_sparse_file_of_zeros_is_rejected_at_once(tmp_path, verify_crc):
    """2 GB of zeros (sparse: no disk used) read as 134M empty records with CRC checks off (58 s)."""
    path = str(tmp_path / "events.out.tfevents.zeros")
    with open(path, "wb") as fh:
        fh.truncate(2 << 30)
    t0 = time.perf_counter()
    ef = read_event_file(path, verify_crc)
    assert time.perf_counter() - t0 < 1.0
    assert ef.records == 0 and ef.problems == ("not a TFRecord event file (bad header at byte 0)",)


@pytest.mark.parametrize("verify_crc", [True, False])
def test_zeroed_tail_is_damage_not_records(tmp_path, verify_crc):
    """A crash can leave a file's last blocks zeroed: with CRC checks off they read as empty records."""
    recs = records(50)
    good = b"".join(recs)
    path = write(str(tmp_path / "events.out.tfevents.zt"), good + b"\x00" * (1 << 20))
    ef = read_both(path, verify_crc)
    assert ef.records == 51 and steps(ef) == list(range(1, 51))
    assert ef.problems == (f"skipped {1 << 20} bytes of damage at byte {len(good)}",)


def test_zeroed_sparse_tail_is_skipped_fast(tmp_path):
    """A 2 GB hole after the records (a preallocated or crash-zeroed file) is skipped, not scanned."""
    good = b"".join(records(50))
    path = write(str(tmp_path / "events.out.tfevents.hole"), good)
    with open(path, "r+b") as fh:
        fh.truncate(len(good) + (2 << 30))
    t0 = time.perf_counter()
    ef = read_event_file(path, verify_crc=False)
    assert time.perf_counter() - t0 < 2.0
    assert steps(ef) == list(range(1, 51)) and ef.problems == (f"skipped {2 << 30} bytes of damage at byte {len(good)}",)
    # Polled: records written after the hole are found, and the jump over the hole is no rewrite.
    r = EventFileReader(path)
    r.poll()
    more = records(60)[51:]
    with open(path, "ab") as fh:
        fh.write(b"".join(more))
    assert r.poll() == 10
    assert steps(r.result()) == list(range(1, 61)) and r.result().problems == ef.problems


@pytest.mark.parametrize("verify_crc", [True, False])
def test_torn_record_then_appends(tmp_path, verify_crc):
    """A writer killed mid-record, then restarted appending to the same file: the torn record's
    length runs into the records appended after it. Its payload fails its CRC and the header
    after it is damaged, so it is damage, and the appended records are found again (the first
    of them was swallowed as the torn record's payload). Read whole and polled as written."""
    recs = records(200)
    torn = recs[100][:-20]
    data = b"".join(recs[:100]) + torn + b"".join(recs[101:])
    path = write(str(tmp_path / "events.out.tfevents.torn"), data)
    ef = read_both(path, verify_crc)
    assert steps(ef) == [s for s in range(1, 201) if s != 100]
    assert ef.problems == (f"skipped {len(torn)} bytes of damage at byte {sum(len(r) for r in recs[:100])}",)
    live = write(str(tmp_path / "events.out.tfevents.live"), b"".join(recs[:100]) + torn)
    r = EventFileReader(live, verify_crc=verify_crc)
    r.poll()
    assert r.result().truncated and steps(r.result()) == list(range(1, 100))
    with open(live, "ab") as fh:
        fh.write(b"".join(recs[101:]))
    r.poll()
    assert steps(r.result()) == steps(ef) and r.result().problems == ef.problems


@pytest.mark.parametrize("verify_crc", [True, False])
def test_valid_header_claiming_past_the_end_before_records(tmp_path, verify_crc):
    """A header that passes its CRC but claims more than the file holds is a record still being
    written only when nothing whole follows it; with records after it, its length is damage."""
    from advisor.io.records import U32, U64, header_crc

    recs = records(100)
    bogus = U64.pack(10 << 20) + U32.pack(header_crc(10 << 20)) + b"\x01" * 30
    at = sum(len(r) for r in recs[:50])
    path = write(str(tmp_path / "events.out.tfevents.claim"), b"".join(recs[:50]) + bogus + b"".join(recs[50:]))
    ef = read_both(path, verify_crc)
    assert steps(ef) == list(range(1, 101)) and not ef.truncated
    assert ef.problems == (f"skipped {len(bogus)} bytes of damage at byte {at}",)
    # Nothing whole after it: a record being written, as before.
    tail = write(str(tmp_path / "events.out.tfevents.tail"), b"".join(recs[:50]) + bogus)
    ef = read_both(tail, verify_crc)
    assert ef.truncated and steps(ef) == list(range(1, 50))


def test_record_that_lost_exactly_the_next_records_size(tmp_path):
    """Bytes lost inside a record, exactly as many as the next record holds: its length now ends
    on a sound header, so the framing looks whole, but its payload fails its CRC and a whole
    record lies inside it. It is damage, and the record inside is read (it was swallowed).
    With CRC checks off nothing says so (the payload CRC is asked only before unsound framing)."""
    long_tag, short_tag = "layer/" + "x" * 120, "lr"
    recs = [frame(event_bytes(1.0, file_version="brain.Event:2"))]
    for s in range(1, 301):
        recs += [frame(summary_event(1.0 + s, s, scalar_value(long_tag, s))), frame(summary_event(1.0 + s, s, scalar_value(short_tag, s)))]
    k = 201  # the long record of step 101; the short one after it is swallowed
    at = sum(len(r) for r in recs[:k])
    torn = recs[k][:40] + recs[k][40 + len(recs[k + 1]) :]
    data = b"".join(recs[:k]) + torn + b"".join(recs[k + 1 :])
    ef = read_both(write(str(tmp_path / "events.out.tfevents.inner"), data))
    assert ef.scalars[short_tag].steps.tolist() == list(range(1, 301))
    assert ef.scalars[long_tag].steps.tolist() == [s for s in range(1, 301) if s != 101]
    assert ef.problems == (f"skipped {len(torn)} bytes of damage at byte {at}",) and ef.bad_crc == 0
