"""Fuzzing the reader: damaged, truncated, odd and foreign event files, in a seeded mutation loop.

Every case is a small generated file, mutated (bytes flipped, headers damaged, garbage or zeros
inserted, absurd lengths written, bytes deleted, the file cut), then read fast and general,
with CRC checks on and off, whole, in small chunks and incrementally. The oracle:

* no exception escapes ``read_event_file`` and no read takes longer than HANG_S (a hang);
* the fast and the general decoders agree exactly, and chunked and incremental reads agree
  with one read of the whole;
* records lost: on clean files, against TensorBoard's own reader (its raw record count and its
  EventAccumulator's scalar points); on damaged ones, every record whose bytes survived intact
  must be read (its points are all there), with CRC checks on. TensorBoard's count on the
  damaged files is reported beside ours.

CI-sized by default (well under a minute); ``ADVISOR_FUZZ_LONG=1`` runs 20x the cases. Counts
are printed (cases, crashes, hangs, records lost) whether the tests pass or not.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from iotest_helpers import TENSOR_ENCODINGS, assert_same, random_event_file, summary_event, tensor_proto, tensor_value, write

from advisor.io import _fast, tfevents, wire
from advisor.io.records import DAMAGED, HEADER, MAX_RECORD, OK, U32, U64, check_frame, frame, header_crc, payload_ok
from advisor.io.tfevents import EventFileReader, read_event_file
from advisor.io.writer import event_bytes, scalar_value

LONG = os.environ.get("ADVISOR_FUZZ_LONG") == "1"
SCALE = 20 if LONG else 1
HANG_S = 20.0  # one read of a file of a few KB: anything near this is a hang

# A value of every awkward kind, and steps at every edge (int64 extremes, negative, varint widths).
ODD_VALUES = (float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308, -1e-45, 3.0)
ODD_STEPS = (-(2**63), 2**63 - 1, -1, 0, 1, 127, 128, 16383, 16384, 2**31, -(2**31) - 1, 2**62)


class Hang(Exception):
    pass


@dataclass
class Tally:
    """What one fuzz test saw, printed at its end."""

    name: str
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def report(self) -> str:
        counts = dict(self.counts)
        for key in ("crashes", "hangs", "disagreements"):
            counts.setdefault(key, 0)
        return f"fuzz {self.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@pytest.fixture
def tally(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]):
    t = Tally(request.node.name)
    yield t
    with capsys.disabled():
        print("\n" + t.report(), file=sys.stderr)
    assert not t.failures, "\n\n".join(t.failures[:5])


def guarded(t: Tally, case: str, fn: Callable[[], object]) -> object:
    """Run one read under a time bound; count a crash or a hang instead of raising."""
    use_alarm = hasattr(signal, "SIGALRM")

    def on_alarm(*_: object) -> None:
        raise Hang()

    if use_alarm:
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
    t0 = time.perf_counter()
    try:
        return fn()
    except Hang:
        t.counts["hangs"] += 1
        t.failures.append(f"{case}: no result after {HANG_S} s")
    except AssertionError:  # the comparisons: fast and general, chunked, polled, TensorBoard
        t.counts["disagreements"] += 1
        t.failures.append(f"{case}:\n{traceback.format_exc(limit=6)}")
    except Exception:  # the oracle: nothing escapes the reader
        t.counts["crashes"] += 1
        t.failures.append(f"{case}:\n{traceback.format_exc(limit=6)}")
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        if time.perf_counter() - t0 > HANG_S:
            t.counts["hangs"] += 1
            t.failures.append(f"{case}: took {time.perf_counter() - t0:.1f} s")
    return None


# --------------------------------------------------------------------------- files with markers


def marked_file(rng: np.random.Generator, n_records: int) -> tuple[bytes, list[tuple[int, int, list[tuple[str, int]]]]]:
    """A file of scalar records whose layout changes midway, and per record (start, end, points).

    Steps only grow and nothing restarts, so no purge can remove a point: every point of every
    intact record must come back, whatever damage is around it."""
    recs: list[tuple[bytes, list[tuple[str, int]]]] = [(frame(event_bytes(1.0, file_version="brain.Event:2")), [])]
    step = int(rng.choice([0, 1, 120, 16370, 2**21 - 5, 2**35, 2**62]))
    while len(recs) < n_records:
        kinds = _kinds(rng)
        for _ in range(int(rng.integers(3, 40))):  # a stretch of one layout, then another
            for make in kinds:
                payload, points = make(step, float(rng.random() * 1e9))
                recs.append((frame(payload), points))
            step += int(rng.choice([1, 1, 1, 7, 1000]))
    out, spans, at = [], [], 0
    for rec, points in recs[:n_records]:
        out.append(rec)
        spans.append((at, at + len(rec), points))
        at += len(rec)
    return b"".join(out), spans


def _kinds(rng: np.random.Generator) -> list[Callable[[int, float], tuple[bytes, list[tuple[str, int]]]]]:
    """1-4 record layouts: simple_values, TF2 tensors of any encoding, several values per event."""
    kinds = []
    for i in range(int(rng.integers(1, 5))):
        tag = f"{['loss', 'train/acc', 'métrique/λ', 'x' * 130, 'lr'][int(rng.integers(0, 5))]}/{i}"
        r = rng.random()
        if r < 0.5:
            kinds.append(lambda s, w, tag=tag: (summary_event(w, s, scalar_value(tag, float(rng.choice(ODD_VALUES)))), [(tag, s)]))
        elif r < 0.85:
            enc = str(rng.choice([e for e in TENSOR_ENCODINGS if e.startswith(("float", "double", "content_f", "half"))]))
            kinds.append(lambda s, w, tag=tag, enc=enc: (summary_event(w, s, tensor_value(tag, tensor_proto(enc, float(rng.choice(ODD_VALUES))))), [(tag, s)]))
        else:
            tags = [f"{tag}/a", f"{tag}/b"]
            kinds.append(lambda s, w, tags=tags: (summary_event(w, s, *(scalar_value(t, 1.5) for t in tags)), [(t, s) for t in tags]))
    return kinds


# --------------------------------------------------------------------------- mutations


class Mutant:
    """A file being damaged, and for each of its bytes the original offset it came from (-1: not
    original), so that the records that survived intact can be found afterwards."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.orig = np.arange(len(data), dtype=np.int64)

    def overwrite(self, at: int, new: bytes) -> None:
        at = min(at, len(self.data))
        self.data[at : at + len(new)] = new  # grows the file when it runs past the end
        if len(self.data) > len(self.orig):
            self.orig = np.concatenate([self.orig, np.full(len(self.data) - len(self.orig), -1)])
        self.orig[at : at + len(new)] = -1

    def insert(self, at: int, new: bytes) -> None:
        self.data[at:at] = new
        self.orig = np.concatenate([self.orig[:at], np.full(len(new), -1), self.orig[at:]])

    def delete(self, a: int, b: int) -> None:
        del self.data[a:b]
        self.orig = np.concatenate([self.orig[:a], self.orig[b:]])

    def intact(self, start: int, end: int) -> bool:
        hits = np.flatnonzero(self.orig == start)
        return bool(len(hits)) and int(hits[0]) + end - start <= len(self.orig) and bool(
            (self.orig[int(hits[0]) : int(hits[0]) + end - start] == np.arange(start, end)).all()
        )


def mutate(rng: np.random.Generator, m: Mutant, starts: list[int]) -> str:
    """One random mutation; returns its name."""
    n = len(m.data)
    op = str(rng.choice(["flip", "header", "garbage", "zeros", "absurd", "delete", "cut"], p=[0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1]))
    k = int(rng.integers(0, len(starts)))
    if op == "flip":
        p = int(rng.integers(0, n))
        m.overwrite(p, bytes([m.data[p] ^ (1 << int(rng.integers(0, 8)))]))
    elif op == "header":  # a bit of some record's length or header CRC
        p = min(_now_at(m, starts[k]) + int(rng.integers(0, HEADER)), n - 1)
        m.overwrite(p, bytes([m.data[p] ^ (1 << int(rng.integers(0, 8)))]))
    elif op == "garbage":
        at = _now_at(m, starts[k]) if rng.random() < 0.5 else int(rng.integers(0, n + 1))
        m.insert(at, rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes())
    elif op == "zeros":
        at, size = int(rng.integers(0, n + 1)), int(rng.integers(1, 400))
        m.insert(at, bytes(size)) if rng.random() < 0.5 else m.overwrite(at, bytes(size))
    elif op == "absurd":  # a length no record has, with a header CRC that checks or not
        lengths = (MAX_RECORD + 1, 2**40, 2**63, 2**64 - 1, n * 4)
        length = lengths[int(rng.integers(0, len(lengths)))]
        crc = header_crc(length) if rng.random() < 0.5 else int(rng.integers(0, 2**32))
        m.overwrite(_now_at(m, starts[k]), U64.pack(length) + U32.pack(crc))
    elif op == "delete":
        a = int(rng.integers(0, n))
        m.delete(a, min(n, a + int(rng.integers(1, 60))))
    else:
        m.delete(int(rng.integers(0, n + 1)), n)
    return op


def _now_at(m: Mutant, original: int) -> int:
    """Where original byte ``original`` is now (or a random place, if it is gone)."""
    hits = np.flatnonzero(m.orig == original)
    return int(hits[0]) if len(hits) else len(m.data) // 2


# --------------------------------------------------------------------------- reads compared


def read_everywhere(path: str, verify_crc: bool, rng: np.random.Generator, data: bytes) -> tfevents.EventFile:
    """The file read fast and general, whole, in small chunks and polled as it grows: all equal."""
    fast = read_event_file(path, verify_crc)
    assert_same(fast, read_event_file(path, verify_crc, fast=False))
    saved = tfevents.READ_CHUNK
    tfevents.READ_CHUNK = int(rng.integers(13, 600))
    try:
        assert_same(read_event_file(path, verify_crc), fast)
    finally:
        tfevents.READ_CHUNK = saved
    live = path + ".live"
    write(live, b"")
    reader = EventFileReader(live, verify_crc=verify_crc, fast=bool(rng.random() < 0.5))
    pos = 0
    for cut in sorted(_poll_point(data, int(c)) for c in rng.integers(0, len(data) + 1, int(rng.integers(1, 4)))) + [len(data)]:
        with open(live, "ab") as fh:
            fh.write(data[pos:cut])
        pos = cut
        reader.poll()
    polled = reader.result()
    whole = read_event_file(live, verify_crc)
    assert_same(polled, whole)
    os.unlink(live)
    return fast


def _poll_point(data: bytes, cut: int) -> int:
    """``cut``, or past it while a poll ending there cannot decide as a read of the whole does:
    where damage begins, or where a record failing its CRC ends (whether its length was wrong
    shows only in the bytes after it: records.check_record decides it as damaged in place when
    the file ends right after it, the documented limit of a live read)."""
    while cut < len(data) and (check_frame(memoryview(data), cut, len(data))[0] == DAMAGED or _ends_failing_record(data, cut)):
        cut += 1
    return cut


def _ends_failing_record(data: bytes, cut: int) -> bool:
    """Whether a record whose header checks but whose payload fails its CRC ends exactly at ``cut``."""
    lo = max(0, cut - 4096)
    n = cut - HEADER - 4 - lo + 1
    if n <= 0:
        return False
    arr = np.frombuffer(data, dtype=np.uint8)
    lengths = np.ndarray((n,), dtype="<u8", buffer=arr, offset=lo, strides=(1,))
    for p in (np.flatnonzero(lengths == cut - 16 - np.arange(lo, lo + n, dtype=np.uint64)) + lo).tolist():
        if check_frame(memoryview(data), p, cut)[0] == OK and not payload_ok(memoryview(data), p + HEADER, cut - 4):
            return True
    return False


def tensorboard_records(path: str) -> int | None:
    """Records TensorBoard's own raw loader yields (it stops at the first damage); None without it."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    except ImportError:
        return None
    import logging

    logging.getLogger("tensorboard").setLevel(logging.CRITICAL)
    n = 0
    try:
        for _ in RawEventFileLoader(path).Load():
            n += 1
    except Exception:  # its pure-Python reader raises on some damage (an absurd length): stopped there
        return -n - 1
    return n


# --------------------------------------------------------------------------- the tests


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch even small files, so that the fast path's seams meet the damage."""
    monkeypatch.setattr(_fast, "MIN_BYTES", 0)
    monkeypatch.setattr(_fast, "FIRST_WINDOW", 2)
    monkeypatch.setattr(_fast, "BATCH_BYTES", 512)


def test_fuzz_damaged_files(tmp_path, small_batches, tally):
    """Flips, header damage, garbage, zeros, absurd lengths, deletions, cuts: 1-4 per file. With CRC
    checks on, every intact record is read; with them off, what is lost is counted."""
    for case in range(150 * SCALE):
        rng = np.random.default_rng([1, case])
        data, spans = marked_file(rng, int(rng.integers(20, 250)))
        m = Mutant(data)
        ops = [mutate(rng, m, [s[0] for s in spans]) for _ in range(int(rng.integers(1, 5)))]
        tally.counts.update(ops)
        path = write(str(tmp_path / "events.out.tfevents.fuzz"), bytes(m.data))
        intact = [s for s in spans if m.intact(s[0], s[1])]
        for verify_crc in (True, False):
            tally.counts["cases"] += 1
            ef = guarded(tally, f"damage case {case} crc={verify_crc} ops={ops}", lambda: read_everywhere(path, verify_crc, rng, bytes(m.data)))
            if ef is None:
                continue
            got = {(tag, int(s)) for tag, d in ef.scalars.items() for s in d.steps.tolist()}
            lost = sum(1 for s in intact if not all(p in got for p in s[2]))
            key = "on" if verify_crc else "off"
            tally.counts[f"intact records (crc {key})"] += len(intact)
            tally.counts[f"intact records lost (crc {key})"] += lost
            if verify_crc and lost:
                tally.failures.append(f"damage case {case} ops={ops}: {lost} of {len(intact)} intact records lost; problems {ef.problems}")
            if verify_crc and case % 5 == 0:
                tb = tensorboard_records(path)
                if tb is not None:
                    tally.counts["records read, sampled (ours)"] += ef.records
                    tally.counts["records read, sampled (tensorboard)"] += tb if tb >= 0 else -tb - 1
                    tally.counts["tensorboard's reader raised"] += tb < 0


def test_fuzz_truncation_at_every_offset(tmp_path, small_batches, tally):
    """Small files cut at every byte: exactly the complete records are read, fast == general."""
    for case in range(2 * SCALE):
        rng = np.random.default_rng([2, case])
        data, spans = marked_file(rng, int(rng.integers(6, 12)))
        ends = [s[1] for s in spans]
        path = str(tmp_path / "events.out.tfevents.cut")
        for cut in range(len(data) + 1):
            write(path, data[:cut])
            tally.counts["cases"] += 1

            def check() -> None:
                ef = read_event_file(path)
                assert_same(ef, read_event_file(path, fast=False))
                complete = sum(1 for e in ends if e <= cut)
                assert ef.records == complete and ef.truncated == (cut not in ends and cut != 0), (cut, ef.problems)

            guarded(tally, f"truncation case {case} cut {cut}", check)


def test_fuzz_clean_files_against_tensorboard(tmp_path, small_batches, tally):
    """Valid framing throughout: every record kind, CRC-valid random payloads, restarts, layouts
    changing midway, odd values and steps (NaN, inf, int64 extremes, negative). Nothing may be
    lost against TensorBoard: same record count, same scalar points per tag."""
    pytest.importorskip("tensorboard")
    from test_interop import accumulator, tb_plugin, tb_scalars

    for case in range(30 * SCALE):
        rng = np.random.default_rng([3, case])
        junk = case % 3 == 0  # TensorBoard's accumulator raises on those: its raw loader only
        data = random_event_file(rng, int(rng.integers(20, 200)), junk=junk) + odd_records(rng, junk)
        path = write(str(tmp_path / f"events.out.tfevents.clean{case}"), data)
        tally.counts["cases"] += 1

        def check() -> None:
            ef = read_everywhere(path, True, rng, data)
            tb_n = tensorboard_records(path)
            tally.counts["records (ours)"] += ef.records
            tally.counts["records (tensorboard)"] += tb_n or 0
            assert ef.records == tb_n, (ef.records, tb_n)
            if not junk:
                tb_points = {tag: len(p) for tag, p in tb_scalars(path).items()}
                ours = {tag: len(d.steps) for tag, d in ef.scalars.items() if tag in tb_points}
                tally.counts["points (ours)"] += sum(ours.values())
                tally.counts["points (tensorboard)"] += sum(tb_points.values())
                assert ours == tb_points, (ours, tb_points)
                # Beyond TensorBoard's scalar dashboard we read only tensors without a plugin.
                acc = accumulator(path)
                assert all(tb_plugin(acc, tag) is None for tag in set(ef.scalars) - set(tb_points))

        guarded(tally, f"clean case {case}", check)


def odd_records(rng: np.random.Generator, junk: bool) -> bytes:
    """Records of odd values at odd steps, and (``junk``) CRC-valid payloads of random bytes."""
    out = []
    for _ in range(int(rng.integers(1, 30))):
        r = rng.random()
        step, value = int(rng.choice(ODD_STEPS)), float(rng.choice(ODD_VALUES))
        if r < 0.6 or (r >= 0.8 and not junk):
            out.append(frame(summary_event(float(rng.random()), step, scalar_value("odd", value))))
        elif r < 0.8:
            out.append(frame(summary_event(1.0, step, tensor_value("odd_tensor", tensor_proto("int64_val", int(rng.choice([-(2**63), 2**63 - 1, 0])))))))
        else:  # valid framing around random bytes (a protobuf-looking prefix half the time)
            noise = rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
            out.append(frame((wire.field_varint(2, step) + noise) if rng.random() < 0.5 else noise))
    return b"".join(out)
