"""The one-record template path (advisor.io._fast_single): the records no batch covers (a small
file's leading records, Keras' per-epoch files) decoded by a cached template give exactly what
the general decoder gives, on every writer layout, damaged or not."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from iotest_helpers import assert_same, histogram_value, random_event_file, scalar_value, summary_event, tensor_proto, tensor_value, write

from advisor.io import _fast, _fast_batch, _fast_single
from advisor.io.accumulator import Accumulator
from advisor.io.events import decode_event
from advisor.io.records import HEADER, frame
from advisor.io.tfevents import read_event_file
from benchmarks._corpus import run_data, torch_like_bytes
from benchmarks._layouts import keras, tbx_mixed, tf2


@pytest.fixture
def singles(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every decode_single verdict (True: decoded there)."""
    seen: list[bool] = []
    orig = _fast.decode_single

    def spy(*args):
        got = orig(*args)
        seen.append(got)
        return got

    monkeypatch.setattr(_fast, "decode_single", spy)
    return seen


def _layout_files(n_steps: int) -> list[tuple[str, bytes]]:
    out = [(f"keras-{rel}", data) for rel, data in keras(3, n_steps).items()]
    out += [(f"tf2-{rel}", data) for rel, data in tf2(4, n_steps).items()]
    out += [(f"tbx-{rel}", data) for rel, data in tbx_mixed(5, n_steps).items()]
    out.append(("torch", torch_like_bytes(run_data(6, n_steps))))
    return out


@pytest.mark.parametrize("verify_crc", [True, False])
@pytest.mark.parametrize("n_steps", [5, 40, 300])
def test_every_layout_reads_as_the_general_decoder(tmp_path, singles, n_steps, verify_crc):
    for name, data in _layout_files(n_steps):
        path = write(str(tmp_path / name.replace("/", "_")), data)
        fast, general = read_event_file(path, verify_crc, fast=True), read_event_file(path, verify_crc, fast=False)
        assert_same(fast, general)
        assert fast.n_scalars > 0 and not fast.problems
    if n_steps >= 40:
        assert any(singles), "no record went through the one-record path"


def _leading_value_offsets(data: bytes) -> list[int]:
    """Byte offsets of the last payload byte of a Keras file's first records (its value)."""
    out, pos = [], 0
    while pos < len(data) and len(out) < 4:
        (length,) = struct.unpack_from("<Q", data, pos)
        out.append(pos + HEADER + length - 1)
        pos += HEADER + length + 4
    return out[1:]  # after the file_version record


@pytest.mark.parametrize("verify_crc", [True, False])
def test_damaged_or_nan_leading_records_fall_back(tmp_path, singles, verify_crc):
    (train, data), _ = sorted(keras(7, 60).items())
    for i, at in enumerate(_leading_value_offsets(data)):
        flipped = bytearray(data)
        flipped[at] ^= 0x01  # the payload CRC now fails: counted, skipped, as the general decoder does
        nan = bytearray(data)
        nan[at - 3 : at + 1] = struct.pack("<f", float("nan"))
        for kind, variant in (("flip", flipped), ("nan", nan)):
            path = write(str(tmp_path / f"{kind}{i}.v2"), bytes(variant))
            fast, general = read_event_file(path, verify_crc, fast=True), read_event_file(path, verify_crc, fast=False)
            assert_same(fast, general)
            if kind == "flip" and verify_crc:
                assert fast.bad_crc == 1
    assert any(singles)


@pytest.mark.parametrize(
    "payload",
    [
        summary_event(12.5, 3, scalar_value("loss", 0.25)),
        summary_event(12.5, 300, tensor_value("acc", tensor_proto("content_f4", 0.75))),
        summary_event(1e9, 2**40, tensor_value("acc", tensor_proto("double_val", -1.5), plugin=None)),
        summary_event(12.5, 0, scalar_value("a", 1.0), scalar_value("b", 2.0)),
    ],
    ids=["simple_value", "content_f4", "double_val_no_metadata", "two_values"],
)
def test_one_record_equals_the_general_decoder(payload):
    buf = memoryview(frame(payload))
    p0, p1 = HEADER, HEADER + len(payload)
    # The first look builds the template; the second reads from the cache.
    for _ in range(2):
        mine, ref = Accumulator(), Accumulator()
        assert _fast_single.decode_single(buf, p0, p1, 5, mine, True)
        decode_event(buf, p0, p1, 5, ref)
        assert mine.first_meta == ref.first_meta
        for name in ("steps", "values", "walls", "seqs"):
            got, want = getattr(mine, name), getattr(ref, name)
            assert {t: np.asarray(v).tobytes() for t, v in got.items()} == {t: np.asarray(v).tobytes() for t, v in want.items()}, name


def test_a_failing_crc_or_another_layout_is_left_alone():
    payload = summary_event(12.5, 3, scalar_value("loss", 0.25))
    good = frame(payload)
    assert _fast_single.decode_single(memoryview(good), HEADER, HEADER + len(payload), 0, Accumulator(), True)
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # the stored CRC
    acc = Accumulator()
    assert not _fast_single.decode_single(memoryview(bytes(bad)), HEADER, HEADER + len(payload), 0, acc, True)
    assert not acc.steps and not acc.first_meta
    assert _fast_single.decode_single(memoryview(bytes(bad)), HEADER, HEADER + len(payload), 0, Accumulator(), False)
    other = summary_event(12.5, 3, scalar_value("lossy", 0.25))  # one byte longer: another template
    assert _fast_single.decode_single(memoryview(frame(other)), HEADER, HEADER + len(other), 0, Accumulator(), True)
    hist = summary_event(12.5, 3, histogram_value("weights", 5))
    acc = Accumulator()
    assert not _fast_single.decode_single(memoryview(frame(hist)), HEADER, HEADER + len(hist), 0, acc, True)
    assert not acc.steps and not acc.non_scalar


@pytest.mark.parametrize("text", [b"brain.Event:2", b"brain.Event:1", b"not a version \xff"])
def test_file_version_records_read_as_the_general_decoder(text):
    for wall in (1.0, 1.7e9, -0.0):
        payload = b"\x09" + struct.pack("<d", wall) + b"\x1a" + bytes([len(text)]) + text
        rec = frame(payload)
        mine, ref = Accumulator(), Accumulator()
        assert _fast_single.decode_single(memoryview(rec), HEADER, HEADER + len(payload), 3, mine, True)
        decode_event(memoryview(rec), HEADER, HEADER + len(payload), 3, ref)
        assert (mine.file_version, mine.versions) == (ref.file_version, ref.versions)
        bad = bytearray(rec)
        bad[HEADER + 2] ^= 0x40  # a wall-time byte: the CRC fails
        assert not _fast_single.decode_single(memoryview(bytes(bad)), HEADER, HEADER + len(payload), 3, Accumulator(), True)


@pytest.mark.parametrize("few_rows", [0, 1 << 20])
def test_both_batch_crc_routes_read_as_the_general_decoder(tmp_path, monkeypatch, few_rows):
    """Small batches check CRCs in fewer calls (_fast_batch.FEW_ROWS); both routes, damaged files."""
    monkeypatch.setattr(_fast_batch, "FEW_ROWS", few_rows)
    rng = np.random.default_rng(11)
    files = [random_event_file(rng, 300) for _ in range(4)]
    (_, data), _ = sorted(keras(8, 100).items())
    for at in (len(data) // 2, len(data) // 3, len(data) - 7):
        damaged = bytearray(data)
        damaged[at] ^= 0x10
        files.append(bytes(damaged))
    for i, data in enumerate(files):
        path = write(str(tmp_path / f"f{i}"), data)
        for verify_crc in (True, False):
            assert_same(read_event_file(path, verify_crc, fast=True), read_event_file(path, verify_crc, fast=False))
