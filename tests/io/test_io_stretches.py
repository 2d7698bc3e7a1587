"""Mixed cadences on the fast path: stretches of one cycle with other records between them
(tensorboardX validation scalars every 100 steps among per-step ones) are batched together,
and the result is exactly the general decoder's, damaged or not."""

from __future__ import annotations

import numpy as np
import pytest
from iotest_helpers import assert_same, write

from advisor.io import _fast
from advisor.io.tfevents import read_event_file
from benchmarks._layouts import tbx_mixed, tf2


def both(path: str, verify_crc: bool = True) -> tuple:
    return read_event_file(path, verify_crc, fast=True), read_event_file(path, verify_crc, fast=False)


def mixed(n_steps: int = 1200) -> bytes:
    (data,) = tbx_mixed(5, n_steps).values()
    return data


@pytest.fixture
def stretches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(stretches, records) of every multi-stretch batch."""
    seen: list[tuple[int, int]] = []
    orig = _fast._decode_stretches

    def spy(buf, data, segs, gaps, *rest):
        got = orig(buf, data, segs, gaps, *rest)
        if got is not None:
            seen.append((len(segs), got[0]))
        return got

    monkeypatch.setattr(_fast, "_decode_stretches", spy)
    orig_gaps = _fast._decode_gaps_batched

    def spy_gaps(buf, data, gap_seq, *rest):
        done = orig_gaps(buf, data, gap_seq, *rest)
        if done:
            seen.append((0, len(gap_seq)))  # the records between stretches, batched too
        return done

    monkeypatch.setattr(_fast, "_decode_gaps_batched", spy_gaps)
    return seen


@pytest.mark.parametrize("verify_crc", [True, False])
def test_mixed_cadences_are_batched_across_validation_records(tmp_path, stretches, verify_crc):
    path = write(str(tmp_path / "events.out.tfevents.1.tbx"), mixed())
    fast, general = both(path, verify_crc)
    assert_same(fast, general)
    assert fast.n_scalars == 1200 * 4 + 12 * 2
    assert fast.scalars["val/loss"].steps.tolist() == list(range(99, 1200, 100))
    assert sum(n for k, n in stretches if k) > 0.95 * fast.records and max(k for k, _ in stretches) >= 10
    assert sum(n for k, n in stretches if not k) >= 20  # the validation records: all but the stretch ends
    seq = np.concatenate([d.seq for d in fast.scalars.values()])
    assert sorted(seq.tolist()) == list(range(1, fast.records))  # every record index once, in file order


def _record_starts(data: bytes) -> list[int]:
    out, q = [], 0
    while q + 12 <= len(data):
        out.append(q)
        q += 16 + int.from_bytes(data[q : q + 8], "little")
    return out


@pytest.mark.parametrize("where", ["gap-value", "gap-length", "gap-header", "row-after-gap", "row-length-after-gap", "last-row"])
def test_damage_in_and_between_stretches_reads_as_the_general_decoder(tmp_path, eager_fast, where):
    data = bytearray(mixed(700))
    starts = _record_starts(bytes(data))
    # Record index of the first validation record (after the file_version and steps 0..99).
    first_val = 1 + 100 * 4
    rec = {"gap-value": first_val, "gap-length": first_val + 1, "gap-header": first_val, "row-after-gap": first_val + 5, "row-length-after-gap": first_val + 5, "last-row": len(starts) - 1}[where]
    at = starts[rec]
    length = int.from_bytes(data[at : at + 8], "little")
    offset = {"gap-value": 12 + length - 2, "gap-length": 0, "gap-header": 9, "row-after-gap": 12 + length - 3, "row-length-after-gap": 1, "last-row": 12 + length - 1}[where]
    data[at + offset] ^= 0x08
    path = write(str(tmp_path / "events.out.tfevents.flip"), bytes(data))
    for verify_crc in (True, False):
        assert_same(*both(path, verify_crc))


@pytest.mark.parametrize("cut", [1, 7, 40])
def test_truncated_mixed_file_reads_as_the_general_decoder(tmp_path, cut):
    data = mixed(500)
    path = write(str(tmp_path / "events.out.tfevents.cut"), data[:-cut])
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.truncated


def test_tf2_tensor_layout_identical(tmp_path):
    (data,) = tf2(3, 800).values()
    path = write(str(tmp_path / "events.out.tfevents.tf2"), data)
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.n_scalars == 800 * 4
