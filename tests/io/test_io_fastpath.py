"""The vectorised fast path reads every input exactly as the general per-record decoder does."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iotest_helpers import (
    TENSOR_ENCODINGS,
    assert_same,
    random_event_file,
    realrun_files,
    summary_event,
    tensor_proto,
    tensor_value,
    write,
)

from advisor.io import _fast
from advisor.io.records import frame
from advisor.io.tfevents import read_event_file
from advisor.io.writer import EventWriter, event_bytes, scalar_value
from benchmarks._corpus import RunData, run_data, torch_like_bytes


def both(path: str, verify_crc: bool = True) -> tuple:
    return read_event_file(path, verify_crc, fast=True), read_event_file(path, verify_crc, fast=False)


def batched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the records the fast path decodes in batches (to prove a test exercises it)."""
    counts: list[int] = []
    orig = _fast._run_cycles

    def spy(*args, **kwargs):
        n, pos = orig(*args, **kwargs)
        counts.append(n)
        return n, pos

    monkeypatch.setattr(_fast, "_run_cycles", spy)
    return counts


@pytest.mark.parametrize("verify_crc", [True, False])
def test_torch_layout_is_batched_and_identical(tmp_path, monkeypatch, verify_crc):
    counts = batched(monkeypatch)
    path = write(str(tmp_path / "events.out.tfevents.1.torch"), torch_like_bytes(run_data(7, 3000)))
    fast, general = both(path, verify_crc)
    assert_same(fast, general)
    assert fast.n_scalars == 15000 and fast.records == 15001
    assert sum(counts) >= 14900  # everything but the file_version and step-0 records
    d = fast.scalars["train/loss"]
    assert d.steps.tolist() == list(range(3000))
    assert np.all(np.diff(d.seq) == 5)


@pytest.mark.parametrize(
    "tags",
    [
        [f"grad_norm/layer.{i:03d}" for i in range(100)],  # equal lengths: lengths repeat every record
        [f"grad_norm/{'block.' * (i % 7)}layer{i}" for i in range(100)],  # lengths repeat every 7
    ],
    ids=["equal-lengths", "periodic-lengths"],
)
def test_per_layer_tags_are_batched(tmp_path, monkeypatch, tags):
    """Many tags per step whose record lengths repeat faster than the tags do (per-layer norms):
    the cycle is found by content and batched, not handed record by record to the general path."""
    counts = batched(monkeypatch)
    steps = 120
    rng = np.random.default_rng(1)
    rd = RunData(tuple(tags), np.arange(steps), rng.random((steps, len(tags))).astype(np.float32), 1.7e9 + np.arange(steps)[:, None] + np.zeros(len(tags)))
    path = write(str(tmp_path / "events.out.tfevents.layers"), torch_like_bytes(rd))
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.n_scalars == steps * len(tags)
    assert sum(counts) >= 0.9 * fast.records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), verify_crc=st.booleans())
def test_random_files_identical(tmp_path, eager_fast, seed, verify_crc):
    rng = np.random.default_rng(seed)
    path = write(str(tmp_path / "events.out.tfevents.rand"), random_event_file(rng, int(rng.integers(20, 400))))
    assert_same(*both(path, verify_crc))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), verify_crc=st.booleans(), flips=st.integers(1, 6), cut=st.booleans())
def test_damaged_files_identical(tmp_path, eager_fast, seed, verify_crc, flips, cut):
    rng = np.random.default_rng(seed)
    data = bytearray(random_event_file(rng, 300))
    for _ in range(flips):
        i = int(rng.integers(0, len(data)))
        data[i] ^= 1 << int(rng.integers(0, 8))
    if cut:
        data = data[: int(rng.integers(0, len(data)))]
    path = write(str(tmp_path / "events.out.tfevents.bad"), bytes(data))
    fast, general = both(path, verify_crc)
    assert_same(fast, general)


@pytest.mark.parametrize("region", ["fixed", "value", "footer", "header", "length"])
def test_damage_inside_a_batch(tmp_path, eager_fast, region):
    """A flipped byte in the middle of a batched stretch: row falls back, CRC counts, or the
    damaged header's record is skipped."""
    rd = run_data(3, 400)
    data = bytearray(torch_like_bytes(rd))
    # Records of step 200 start after the file_version, step 0 (5 records) and 199 steps of 5.
    size0 = len(torch_like_bytes(run_data(3, 200)))
    rec = data[size0 : size0 + 100]
    length = int.from_bytes(rec[:8], "little")
    offset = {"fixed": 12 + length - 7, "value": 12 + length - 2, "footer": 12 + length + 1, "header": 9, "length": 0}[region]
    data[size0 + offset] ^= 0x10
    path = write(str(tmp_path / "events.out.tfevents.flip"), bytes(data))
    for verify_crc in (True, False):
        fast, general = both(path, verify_crc)
        assert_same(fast, general)
    fast = read_event_file(path)
    if region in ("fixed", "value", "footer"):
        assert fast.bad_crc == 1 and fast.n_scalars == 2000 - 1
    else:  # the damaged header's record is skipped, the batch goes on after it
        assert fast.n_scalars == 2000 - 1 and fast.bad_crc == 0
        assert fast.problems == (f"skipped {length + 16} bytes of damage at byte {size0}",)


@pytest.mark.parametrize("encoding", TENSOR_ENCODINGS)
@pytest.mark.parametrize("metadata", ["first", "always", "none"])
def test_tf2_tensor_encodings_identical(tmp_path, eager_fast, encoding, metadata):
    rng = np.random.default_rng(abs(hash((encoding, metadata))) % 2**32)
    recs = [frame(event_bytes(1.0, file_version="brain.Event:2"))]
    for step in range(300):
        for tag in ("epoch_loss", "epoch_accuracy"):
            meta = "scalars" if metadata == "always" or (metadata == "first" and step == 0) else None
            if "int" in encoding or "bool" in encoding or encoding in ("content_u1", "content_u8", "content_i2"):
                v: float = int(rng.integers(0, 200))
            else:
                v = float(rng.standard_normal())
            recs.append(frame(summary_event(1.6e9 + step, step, tensor_value(tag, tensor_proto(encoding, v), meta))))
    path = write(str(tmp_path / "events.out.tfevents.tf2.v2"), b"".join(recs))
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.n_scalars == 600


def test_first_metadata_decides_the_tag_for_the_whole_file(tmp_path, eager_fast):
    """A tag's first metadata (here a histogram in the middle of a run of plugin-less tensors)
    decides what the whole tag is, retroactively, as in TensorBoard: whichever path reads it."""
    recs = [frame(event_bytes(1.0, file_version="brain.Event:2"))]
    for step in range(1, 200):
        recs.append(frame(summary_event(2.0, step, tensor_value("t", tensor_proto("float_val", step * 0.5), None))))
        recs.append(frame(summary_event(2.0, step, tensor_value("u", tensor_proto("float_val", step * 0.5), None))))
        if step == 120:
            recs.append(frame(summary_event(2.0, step, histogram_value_like("t"))))
    path = write(str(tmp_path / "events.out.tfevents.mid"), b"".join(recs))
    fast, general = both(path)
    assert_same(fast, general)
    assert "t" not in fast.scalars and len(fast.scalars["u"].steps) == 199  # u has no metadata: read as scalars
    assert fast.non_scalar == 199 + 1


def histogram_value_like(tag: str) -> bytes:
    from iotest_helpers import histogram_value

    return histogram_value(tag, 1)


def test_writer_files_identical(tmp_path, eager_fast):
    with EventWriter(str(tmp_path), filename="events.out.tfevents.ours") as w:
        for step in range(500):
            w.add_scalars({"train/loss": 1.0 / (step + 1), "train/lr": 0.1, "grad_norm/layer.0": float(step)}, step, wall_time=1.7e9 + step)
            if step % 50 == 0:
                w.add_scalar("val/loss", 0.3, step, wall_time=1.7e9 + step)
            if step == 250:
                w.add_session_start(200, wall_time=1.7e9 + step)
                w.add_text("note", "restarted", step)
    fast, general = both(w.path)
    assert_same(fast, general)
    assert fast.restarts and fast.texts["note"] == "restarted"


def test_multi_value_summaries_keep_write_order(tmp_path, eager_fast):
    recs = [frame(summary_event(1.0, s, scalar_value("a", s), scalar_value("a", -s), scalar_value("b", 2 * s))) for s in range(1, 300)]
    path = write(str(tmp_path / "events.out.tfevents.multi"), b"".join(recs))
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.scalars["a"].values[:4].tolist() == [1, -1, 2, -2]


def _special_half_patterns(exponent_mask: int) -> np.ndarray:
    """16-bit patterns whose exponent is all zeros (subnormals) or all ones (inf, NaN payloads), plus a sample."""
    bits = np.arange(65536, dtype=np.uint32)
    exp = bits & exponent_mask
    special = bits[(exp == 0) | (exp == exponent_mask)]
    return np.concatenate([special, np.random.default_rng(0).choice(bits, 1000, replace=False)]).astype(np.uint16)


@pytest.mark.parametrize("enc", ["content_f2", "half_val_f16", "content_bf16", "half_val_bf16"])
def test_sixteen_bit_floats_convert_identically(tmp_path, eager_fast, enc):
    """Subnormals, infinities and NaN payloads of float16 and bfloat16 convert as numpy converts them."""
    bf16 = "bf16" in enc
    patterns = _special_half_patterns(0x7F80 if bf16 else 0x7C00)
    with np.errstate(all="ignore"):
        if bf16:
            expected = (patterns.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            expected = patterns.view(np.float16).astype(np.float64)
    recs = [frame(summary_event(0.0, 1 + i, tensor_value("h", tensor_proto(enc, v), None))) for i, v in enumerate(expected)]
    path = write(str(tmp_path / "events.out.tfevents.halves"), b"".join(recs))
    fast, general = both(path)
    assert_same(fast, general)
    assert fast.scalars["h"].values.tobytes() == expected.tobytes()


@pytest.mark.skipif(not realrun_files(), reason="shared realruns not present")
def test_real_runs_identical():
    total = 0
    for path in realrun_files():
        fast_off, general_off = both(path, verify_crc=False)
        assert_same(fast_off, general_off)
        fast_on = read_event_file(path)
        if os.path.getsize(path) < 400_000:
            assert_same(fast_on, read_event_file(path, fast=False))
        else:
            # The general decoder's pure-Python CRCs take seconds on the big files. Their
            # records are all intact, so with CRCs on the fast path must read what the general
            # decoder reads with CRCs off (the damaged tests cover CRC failures).
            assert fast_on.bad_crc == 0
            assert_same(fast_on, general_off)
        total += fast_on.n_scalars
    assert total > 100_000


@pytest.mark.skipif(not realrun_files(), reason="shared realruns not present")
def test_real_runs_damaged_identical(tmp_path, eager_fast):
    rng = np.random.default_rng(5)
    files = [p for p in realrun_files() if os.path.getsize(p) < 600_000]
    for path in files[:12]:
        data = bytearray(open(path, "rb").read())
        for _ in range(3):
            i = int(rng.integers(0, len(data)))
            data[i] ^= 1 << int(rng.integers(0, 8))
        bad = write(str(tmp_path / os.path.basename(path)), bytes(data))
        assert_same(*both(bad))


def test_many_distinct_tags_cost_linear_time(tmp_path, monkeypatch):
    """Records of thousands of distinct tags never form a cycle; the pending window the fast path
    keeps must forget them as it slides (it kept every tag it had ever seen, and rebuilt that
    map at each slide: quadratic in the number of tags). Short periods make the window slide
    every few records, so a few thousand tags show the difference between O(n) and O(n^2)."""
    import time

    monkeypatch.setattr(_fast, "MIN_BYTES", 0)
    monkeypatch.setattr(_fast, "MAX_PERIOD", 2)
    monkeypatch.setattr(_fast, "MIN_CYCLES", 2)
    n = 10000
    data = b"".join(frame(summary_event(1.0 + i, 1, scalar_value(f"layer{i}/grad_norm", i * 0.5))) for i in range(n))
    path = write(str(tmp_path / "events.out.tfevents.tags"), data)

    def cpu(fast: bool) -> tuple[float, object]:
        t0 = time.process_time()
        ef = read_event_file(path, fast=fast)
        return time.process_time() - t0, ef

    t_general, general = cpu(False)
    t_fast, fast = cpu(True)
    assert_same(fast, general)
    assert fast.n_scalars == n
    # Distinct tags go through the general decoder record by record either way: the fast path's
    # own bookkeeping must stay a fraction of that (it was 10x the decoding itself here).
    assert t_fast < 2 * t_general + 0.5, (t_fast, t_general)
