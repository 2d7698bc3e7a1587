"""Shapes (advisor.io._fast_shape): small files of one layout but any length (a sweep of Keras runs
stopped early at many epochs) read by the plan a shape makes for each, exactly as the general
decoder reads them; a file a shape does not cover (damage, a cut, a NaN, another layout, a file
still being written) is read as before."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from iotest_helpers import assert_same, flipped_bytes_read_as_general, scalar_value, summary_event, write

from advisor.io import _fast_file, _fast_learn, _fast_shape, wire
from advisor.io.crc32c import masked_crc32c
from advisor.io.records import HEADER, frame
from advisor.io.tfevents import EventFileReader, read_event_file
from advisor.io.writer import event_bytes
from benchmarks._layouts import keras


@pytest.fixture
def shaped(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each file a shape was asked about: True when one matched it."""
    seen: list[bool] = []
    orig = _fast_shape.find

    def spy(buf, data):
        got = orig(buf, data)
        if not _QUIET:
            seen.append(got is not None)
        return got

    monkeypatch.setattr(_fast_shape, "find", spy)
    return seen


_QUIET: list[bool] = []  # non-empty: the spy does not count (the reads _check compares with)


def _file(tmp_path, seed: int, epochs: int, which: int = 0) -> str:
    """One Keras file (0: train, 3 tags; 1: validation, 2 tags) of a run of ``epochs`` epochs."""
    rel, data = sorted(keras(seed, epochs).items())[which]
    return write(str(tmp_path / f"s{seed}-e{epochs}-{rel.replace('/', '-')}"), data)


def _check(path: str, verify_crc: bool = True) -> object:
    """The file read as a sweep reads it, by the record-by-record path (no plan, no shape) and by
    the general decoder: all identical, the first two in tag order too."""
    got = read_event_file(path, verify_crc)
    saved = dict(_fast_file._PLANS), dict(_fast_shape._SHAPES), _fast_learn.MAX_SHAPES
    _fast_file._PLANS.clear()
    _fast_shape._SHAPES.clear()
    _fast_learn.MAX_SHAPES = 0  # none learned either
    _QUIET.append(True)
    try:
        plain = read_event_file(path, verify_crc)
    finally:
        _QUIET.pop()
        _fast_learn.MAX_SHAPES = saved[2]
        for mine, kept in zip((_fast_file._PLANS, _fast_shape._SHAPES), saved):
            mine.clear()
            mine.update(kept)
    assert_same(got, read_event_file(path, verify_crc, fast=False))
    assert_same(got, plain)
    assert list(got.scalars) == list(plain.scalars)
    return got


@pytest.mark.parametrize("verify_crc", [True, False])
def test_ragged_runs_are_read_by_shapes_exactly(tmp_path, shaped, verify_crc):
    """Runs of 1 to 300 epochs (steps from 128 on take two varint bytes): each size once, so no
    size plan could read them; shapes learned from the first runs read the others."""
    lengths = [40, 200, 3, 1, 2, 17, 127, 128, 129, 130, 255, 300, 64, 150, 90, 5]
    files = []
    for seed, n in enumerate(lengths):
        for which in (0, 1):
            ef = _check(_file(tmp_path, seed, n, which), verify_crc)
            assert ef.n_scalars == n * (3 if which == 0 else 2) and not ef.problems
            files.append(ef)
    assert shaped.count(True) >= len(files) - 8, shaped  # all but the few that taught shapes
    assert _fast_shape._count[0] <= 6


def test_a_shape_makes_the_plan_of_each_new_size_once(tmp_path, shaped):
    for seed in range(3):
        _check(_file(tmp_path, seed, 50))
    sizes = len(_fast_file._PLANS)
    before = shaped.count(True)
    _check(_file(tmp_path, 7, 77))  # a new size: its plan made by the shape
    assert shaped.count(True) == before + 1
    assert len(_fast_file._PLANS) == sizes + 1
    _check(_file(tmp_path, 8, 77))  # the same size: read by that plan, the shape not asked
    assert shaped.count(True) == before + 1


def _records(data: bytes) -> list[tuple[int, int]]:
    """(start, payload length) of every record."""
    out, pos = [], 0
    while pos + HEADER <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, n))
        pos += HEADER + n + 4
    return out


def _learned(tmp_path) -> None:
    """Shapes for the train and validation files, learned from two runs."""
    for seed, n in ((0, 200), (1, 30)):
        for which in (0, 1):
            _check(_file(tmp_path, seed, n, which))
    assert _fast_shape._count[0] >= 2


@pytest.mark.parametrize("verify_crc", [True, False])
def test_damage_cuts_and_nans_fall_back(tmp_path, shaped, verify_crc):
    _learned(tmp_path)
    data = open(_file(tmp_path, 5, 160), "rb").read()
    recs = _records(data)
    middle = recs[len(recs) // 2]
    value = middle[0] + HEADER + middle[1] - 1  # the last value byte of a record mid-file
    variants = {}
    flip = bytearray(data)
    flip[value] ^= 0x01
    variants["bad payload CRC"] = (flip, 1)
    stored = bytearray(data)
    stored[value + 2] ^= 0x10
    variants["bad stored CRC"] = (stored, 1)
    variants["truncated"] = (bytearray(data[: recs[-1][0] + 20]), 0)
    nan = bytearray(data)
    nan[value - 3 : value + 1] = struct.pack("<f", float("nan"))
    nan[value + 1 : value + 5] = struct.pack("<I", masked_crc32c(bytes(nan[middle[0] + HEADER : value + 1])))
    variants["nan"] = (nan, 0)
    header = bytearray(data)
    header[middle[0]] ^= 0x04  # a record's length: framing damage
    variants["bad header"] = (header, 0)
    for name, (variant, bad) in variants.items():
        n_true = shaped.count(True)
        got = _check(write(str(tmp_path / f"v-{name.replace(' ', '-')}.v2"), bytes(variant)), verify_crc)
        if name in ("truncated", "bad header"):
            assert shaped.count(True) == n_true, name  # no shape matches it (a CRC or NaN: the plan it makes refuses)
        assert got.bad_crc == (bad if verify_crc else 0), name
        if name == "truncated":
            assert got.truncated
        if name == "nan":
            assert any(np.isnan(d.values).any() for d in got.scalars.values())


def test_random_changes_read_as_the_general_decoder(tmp_path, shaped):
    """Any byte of a file a shape covers changed: it is read by a shape only if it reads it exactly."""
    _learned(tmp_path)
    data = open(_file(tmp_path, 6, 140), "rb").read()
    before = shaped.count(True)
    flipped_bytes_read_as_general(str(tmp_path), data, 40, seed=3)
    assert shaped.count(True) > before  # changed values and wall times are still read by shapes


def test_other_layouts_with_the_same_first_records_are_not_misread(tmp_path, shaped):
    _learned(tmp_path)
    data = open(_file(tmp_path, 9, 60), "rb").read()
    renamed = data.replace(b"epoch_accuracy", b"epoch_accurazy")  # its CRCs fail: damaged records
    old = data.replace(b"brain.Event:2", b"brain.Event:1")  # steps going back would purge
    version = frame(event_bytes(1.0, 0, file_version="brain.Event:2"))
    start = frame(event_bytes(2.0, 5, session_log=wire.field_varint(1, 1)))  # a SessionLog START
    restarted = data + start + data[len(version) :]
    for name, variant in (("renamed", renamed), ("old", old), ("restarted", restarted)):
        n_true = shaped.count(True)
        _check(write(str(tmp_path / f"{name}.v2"), variant))
        assert shaped.count(True) == n_true, name


def test_a_growing_file_is_read_as_a_whole_read(tmp_path, shaped):
    _learned(tmp_path)
    data = open(_file(tmp_path, 4, 180), "rb").read()
    whole = write(str(tmp_path / "whole.v2"), data)
    recs = _records(data)
    epoch = [recs[4 + 3 * e][0] for e in (10, 40, 60)]  # cuts after whole epochs: whole files of fewer epochs so far
    for k, cuts in enumerate(((len(data) // 3, len(data) - 5, len(data)), (epoch[1], len(data) - 5, len(data)), (epoch[0], epoch[2], len(data)))):
        path = str(tmp_path / f"growing{k}.v2")
        reader = EventFileReader(path)
        before = shaped.count(True)
        for cut in cuts:
            write(path, data[:cut])
            reader.poll()
        assert_same(reader.result(), _with_path(read_event_file(whole), path))
        if k:
            assert shaped.count(True) > before  # its first poll was read by a shape's plan


def _with_path(ef, path):
    return type(ef)(**{**ef.__dict__, "path": path})


def test_simple_value_files_of_many_lengths(tmp_path, shaped):
    """tensorboardX / torch layout: a file_version, then a cycle of simple_value records."""
    version = frame(event_bytes(1.0, 0, file_version="brain.Event:2"))
    for k, n in enumerate((300, 20, 150, 7, 999, 128, 64)):
        recs = [frame(summary_event(2.0 + s, s, scalar_value(t, s * 0.25))) for s in range(n) for t in ("loss", "lr")]
        _check(write(str(tmp_path / f"tbx{k}.v2"), version + b"".join(recs)))
    assert shaped.count(True) >= 4


def test_runs_of_layouts():
    runs = _fast_learn._runs
    assert runs([0, 1, 2, 3, 4, 2, 3, 4, 2, 3, 4, 5, 6, 5, 6]) == [(0, 2, 1, True), (2, 3, 3, False), (11, 2, 2, False)]
    assert runs([0]) == [(0, 1, 1, True)]
    assert runs([0, 1, 1, 1, 2]) == [(0, 1, 1, True), (1, 1, 3, False), (4, 1, 1, True)]
    assert runs([0, 1, 2, 1, 2, 1]) == [(0, 1, 1, True), (1, 2, 2, False), (5, 1, 1, True)]


def test_learning_is_bounded(tmp_path, monkeypatch):
    """Files no shape can cover teach none after a couple of tries of their key."""
    calls = []
    orig = _fast_learn.learn
    monkeypatch.setattr(_fast_learn, "learn", lambda *a: calls.append(1) or orig(*a))
    version = frame(event_bytes(1.0, 0, file_version="brain.Event:2"))
    start = frame(event_bytes(2.0, 5, session_log=wire.field_varint(1, 1)))
    for k in range(8):
        recs = b"".join(frame(summary_event(2.0 + s, s, scalar_value("loss", s * 0.5))) for s in range(20 + k))
        _check(write(str(tmp_path / f"restart{k}.v2"), version + start + recs))
    assert len(calls) == _fast_learn.TRIES
    assert not _fast_shape._SHAPES


def test_shapes_hold_at_most_their_memory_budget(tmp_path, shaped, monkeypatch):
    """Past FRAMING_BYTES held by shapes, none is learned and no arrays are kept for sharing;
    files are still read exactly (by plans made each time)."""
    monkeypatch.setattr(_fast_shape, "FRAMING_BYTES", 1)
    for seed, n in enumerate((30, 50, 70, 90)):
        for which in (0, 1):
            _check(_file(tmp_path, seed, n, which))
    assert _fast_shape._count[0] == 1  # the first learned; its tiles use up the budget
    assert all(not s.framings and not s.pointings for shapes in _fast_shape._SHAPES.values() for s in shapes)
    assert shaped.count(True) >= 3  # the train files after the first: read by its plans
