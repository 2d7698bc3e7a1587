"""Property-based round trips: what EventWriter writes, the reader gives back exactly."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from iotest_helpers import assert_same

from advisor.io.tfevents import read_event_file
from advisor.io.writer import EventWriter

INT64 = st.integers(-(2**63), 2**63 - 1)
STEPS = st.one_of(st.integers(0, 300), st.sampled_from([127, 128, 16383, 16384, 2**21, -1, -(2**63), 2**63 - 1]), INT64)
VALUES = st.one_of(
    st.floats(width=32),  # NaN and +-inf included
    st.floats(allow_nan=True, allow_infinity=True),  # doubles: stored as float32 (beyond its range: inf)
    st.sampled_from([0.0, -0.0, 1e-45, 3.4028234663852886e38, 1e39, -1e300]),
)
TAGS = st.one_of(st.sampled_from(["loss", "train/loss", "val/loss", "lr"]), st.text(max_size=12), st.text(alphabet="λ∂😀/é", min_size=1, max_size=6))
HP_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))

OPS = st.one_of(
    st.tuples(st.just("scalar"), TAGS, VALUES, STEPS),
    st.tuples(st.just("scalars"), st.dictionaries(TAGS, VALUES, min_size=1, max_size=4), STEPS),
    st.tuples(st.just("text"), TAGS, st.text(max_size=30)),
    st.tuples(st.just("hparams"), st.dictionaries(st.text(min_size=1, max_size=6), HP_VALUES, max_size=4)),
    st.tuples(st.just("start"), st.integers(-5, 400)),
    # A block of steps repeated: the layout real writers produce, which the fast path batches.
    st.tuples(st.just("block"), st.lists(TAGS, min_size=1, max_size=4, unique=True), st.integers(0, 200), st.integers(4, 40)),
)


def as_float32(v: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.float32(v))


def expected_from(ops: list, wall: float) -> tuple[dict, dict, dict, list]:
    """What a reader must return for ``ops``: per tag (steps, values, seqs) after restart purges."""
    points: list[tuple[str, int, float, int]] = []
    texts: dict[str, str] = {}
    hparams: dict = {}
    restarts: list[tuple[int, int]] = []
    hp_seen = False
    text_points: list[tuple[str, int, str]] = []
    first_kind: dict[str, str] = {}  # a tag is what its first value is (TensorBoard's reading)
    seq = 1  # record 0 is file_version
    for op in ops:
        if op[0] in ("scalar", "text"):
            first_kind.setdefault(op[1], "scalars" if op[0] == "scalar" else "text")
        elif op[0] in ("scalars", "block"):
            for tag in op[1]:
                first_kind.setdefault(tag, "scalars")
        if op[0] == "scalar":
            points.append((op[1], op[3], as_float32(op[2]), seq))
            seq += 1
        elif op[0] == "scalars":
            for tag, v in op[1].items():
                points.append((tag, op[2], as_float32(v), seq))
                seq += 1
        elif op[0] == "text":
            text_points.append((op[1], seq, op[2]))  # written at step 0
            seq += 1
        elif op[0] == "hparams":
            if not hp_seen:  # the first session's hyperparameters are the run's (TensorBoard's reading)
                hparams = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in op[1].items()}
                hp_seen = True
            seq += 3
        elif op[0] == "start":
            restarts.append((seq, op[1]))
            seq += 1
        elif op[0] == "block":
            tags, start, n = op[1], op[2], op[3]
            for k in range(n):
                for i, tag in enumerate(tags):
                    points.append((tag, start + k, as_float32(0.5 * k - i), seq))
                    seq += 1
    # The first START starts the session (as TensorBoard reads it); each later one is a restart.
    kept = [p for p in points if not any(p[3] < s and p[1] >= step for s, step in restarts[1:]) and first_kind[p[0]] == "scalars"]
    for tag, q, text in text_points:  # the last text standing of each text tag
        if first_kind[tag] == "text" and not any(q < s and 0 >= step for s, step in restarts[1:]):
            texts[tag] = text
    per_tag: dict[str, tuple[list, list, list]] = {}
    for tag, step, value, q in kept:
        s, v, qs = per_tag.setdefault(tag, ([], [], []))
        s.append(step)
        v.append(value)
        qs.append(q)
    return per_tag, texts, hparams, restarts


def write_ops(logdir: str, ops: list, wall: float) -> str:
    with EventWriter(logdir, filename="events.out.tfevents.prop", flush_secs=1e9) as w:
        for op in ops:
            if op[0] == "scalar":
                w.add_scalar(op[1], op[2], op[3], wall_time=wall)
            elif op[0] == "scalars":
                w.add_scalars(op[1], op[2], wall_time=wall)
            elif op[0] == "text":
                w.add_text(op[1], op[2], wall_time=wall)
            elif op[0] == "hparams":
                w.add_hparams(op[1], wall_time=wall)
            elif op[0] == "start":
                w.add_session_start(op[1], wall_time=wall)
            elif op[0] == "block":
                for k in range(op[3]):
                    w.add_scalars({tag: 0.5 * k - i for i, tag in enumerate(op[1])}, op[2] + k, wall_time=wall)
    return w.path


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=12), wall=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(1.7e9)))
@example(ops=[("scalar", "loss", 1.0, 5), ("start", 3)], wall=1.0)  # a first START purges nothing
@example(ops=[("start", 0), ("scalar", "loss", 1.0, 5), ("scalar", "lr", 2.0, 9), ("start", 3), ("scalar", "loss", 3.0, 4)], wall=1.0)
@example(ops=[("block", ["a", "b"], 0, 30), ("start", 0), ("block", ["a", "b"], 10, 30), ("start", 20), ("scalar", "a", 1.0, 25)], wall=2.0)
@example(ops=[("scalar", "loss", 0.0, 0), ("text", "notes", "x"), ("start", 0), ("start", 0)], wall=1.0)  # texts purge too
def test_writer_reader_round_trip(tmp_path_factory, eager_fast, ops, wall):
    path = write_ops(str(tmp_path_factory.mktemp("rt")), ops, wall)
    per_tag, texts, hparams, restarts = expected_from(ops, wall)
    fast = read_event_file(path)
    assert_same(fast, read_event_file(path, fast=False))
    assert fast.problems == () and fast.bad_crc == 0 and fast.bad_records == 0 and not fast.truncated
    assert fast.file_version == "brain.Event:2"
    assert sorted(fast.scalars) == sorted(per_tag)
    for tag, (steps, values, seqs) in per_tag.items():
        d = fast.scalars[tag]
        assert d.steps.tolist() == steps
        assert d.seq.tolist() == seqs
        assert np.array_equal(d.values, np.array(values), equal_nan=True)
        assert d.wall_times.tobytes() == np.full(len(steps), wall).tobytes()
    assert fast.texts == texts
    assert fast.restarts == tuple(restarts)
    assert fast.hparams.keys() == hparams.keys()
    for k, v in hparams.items():
        got = fast.hparams[k]
        assert got == v or (isinstance(v, float) and math.isnan(v) and math.isnan(got)), (k, v, got)


def test_many_tags_round_trip(tmp_path, eager_fast):
    """A hundred and fifty tags per step (per-layer norms): long cycles, each tag intact."""
    tags = [f"grad_norm/layer{i:03d}" for i in range(150)]
    with EventWriter(str(tmp_path), filename="events.out.tfevents.many") as w:
        for step in range(8):
            w.add_scalars({t: i + step / 100 for i, t in enumerate(tags)}, step, wall_time=float(step))
    ef = read_event_file(w.path)
    assert len(ef.scalars) == 150
    assert ef.scalars["grad_norm/layer149"].values.tolist() == [np.float32(149 + s / 100) for s in range(8)]
    assert_same(ef, read_event_file(w.path, fast=False))


def test_out_of_range_values_become_infinite(tmp_path):
    with EventWriter(str(tmp_path), filename="events.out.tfevents.inf") as w:
        w.add_scalar("big", 1e39, 1)
        w.add_scalar("big", -1e300, 2)
    assert read_event_file(w.path).scalars["big"].values.tolist() == [math.inf, -math.inf]
