"""Whole-file plans (advisor.io._fast_file): a sweep of small files of one layout (Keras per-epoch
files) read by a plan gives exactly what the record-by-record path gives: the same points, the
same tag order, the same counts; a damaged record is still found by its CRC, and anything a plan
does not cover (a NaN, another layout of the same size, a file still being written) is read as
before."""

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
def plans(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every plan verdict on a file (True: read by its plan)."""
    seen: list[bool] = []
    orig = _fast_file._apply

    def spy(plan, data, acc, verify_crc):
        got = orig(plan, data, acc, verify_crc)
        seen.append(got)
        return got

    monkeypatch.setattr(_fast_file, "_apply", spy)
    return seen


def _sweep(tmp_path, n_runs: int, epochs: int) -> list[str]:
    """The train/ and validation/ files of ``n_runs`` Keras runs (different values, one size each)."""
    paths = []
    for seed in range(n_runs):
        for rel, data in sorted(keras(seed, epochs).items()):
            paths.append(write(str(tmp_path / f"run{seed}-{rel.replace('/', '-')}"), data))
    return paths


def _check_plan_reads(paths: list[str], verify_crc: bool) -> list[object]:
    """Each file of a sweep read by its plan (the sweep read once first, so that plans are
    built as sizes repeat), record by record (no plan) and by the general decoder: all three
    identical, the first two in tag order too."""
    for p in paths:
        read_event_file(p, verify_crc)
    out = []
    for p in paths:
        planned = read_event_file(p, verify_crc)
        kept = dict(_fast_file._PLANS)
        _fast_file._PLANS.clear()
        unplanned = read_event_file(p, verify_crc)
        _fast_file._PLANS.update(kept)
        general = read_event_file(p, verify_crc, fast=False)
        assert_same(planned, general)
        assert_same(planned, unplanned)
        assert list(planned.scalars) == list(unplanned.scalars)
        out.append(planned)
    return out


@pytest.mark.parametrize("verify_crc", [True, False])
@pytest.mark.parametrize("epochs", [1, 30, 200])  # 200: steps from 128 on take two varint bytes
def test_a_sweep_reads_by_plans_as_record_by_record(tmp_path, plans, epochs, verify_crc):
    paths = _sweep(tmp_path, 4, epochs)
    files = _check_plan_reads(paths, verify_crc)
    assert all(ef.n_scalars == epochs * (3 if "train" in ef.path else 2) and not ef.problems for ef in files)
    assert plans.count(True) >= len(paths), "the sweep's files were not read by plans"
    assert _fast_file.BUILD_AT <= 4  # (each size is seen 4 times before the plans are asked)
    assert len(_fast_file._PLANS) == 2  # one per size: train and validation


def _value_offsets(data: bytes) -> list[int]:
    """The last payload byte (a float32 value's sign and exponent) of every record but the first."""
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        out.append(pos + HEADER + length - 1)
        pos += HEADER + length + 4
    return out[1:]


def _payload_at(data: bytearray, last: int) -> bytes:
    """The payload of the record whose last payload byte is at ``last``."""
    pos = 0
    while True:
        (length,) = struct.unpack_from("<Q", data, pos)
        if pos + HEADER + length - 1 == last:
            return bytes(data[pos + HEADER : pos + HEADER + length])
        pos += HEADER + length + 4


@pytest.mark.parametrize("verify_crc", [True, False])
def test_damage_and_nan_are_found_as_before(tmp_path, plans, verify_crc):
    paths = _sweep(tmp_path, 4, 40)
    _check_plan_reads(paths, verify_crc)  # the plans exist now
    assert any(plans)
    data = open(paths[0], "rb").read()
    at = _value_offsets(data)
    rng = np.random.default_rng(5)
    variants = {}
    for k in rng.choice(len(at), 4, replace=False).tolist():
        one = bytearray(data)
        one[at[k]] ^= 0x01  # the payload CRC now fails
        variants[f"flip{k}"] = (one, 1)
    two = bytearray(data)
    for k in (5, 6):  # the same change in two records of one template: their CRC changes cancel in a XOR
        two[at[k]] ^= 0x01
    variants["twins"] = (two, 2)
    crc = bytearray(data)
    crc[at[9] + 2] ^= 0x80  # a stored payload CRC
    variants["stored"] = (crc, 1)
    nan = bytearray(data)
    nan[at[7] - 3 : at[7] + 1] = struct.pack("<f", float("nan"))
    nan[at[7] + 1 : at[7] + 5] = struct.pack("<I", masked_crc32c(_payload_at(nan, at[7])))  # a sound record
    variants["nan"] = (nan, 0)
    for name, (variant, bad) in variants.items():
        path = write(str(tmp_path / f"{name}.v2"), bytes(variant))
        fast, general = read_event_file(path, verify_crc), read_event_file(path, verify_crc, fast=False)
        assert_same(fast, general)
        assert fast.bad_crc == (bad if verify_crc else 0), name
        checked = read_event_file(path)  # CRCs checked, whichever reads built the plans
        assert_same(checked, read_event_file(path, fast=False))
        assert checked.bad_crc == bad, name
        if name == "nan":
            assert any(np.isnan(d.values).any() for d in fast.scalars.values())


def test_random_damage_reads_as_the_general_decoder(tmp_path, plans):
    """Any byte of a planned file changed: the plan reads it only if it reads it exactly."""
    paths = _sweep(tmp_path, 4, 12)
    _check_plan_reads(paths, True)
    data = open(paths[2], "rb").read()
    before = plans.count(True)
    flipped_bytes_read_as_general(str(tmp_path), data, 60, seed=11)
    assert plans.count(True) > before  # some changes are values or wall times, which plans read


def test_other_files_of_the_same_size_are_not_misread(tmp_path, plans):
    """Same size, other bytes: another tag, another file_version; the plan is not used."""
    paths = _sweep(tmp_path, 4, 20)
    _check_plan_reads(paths, True)
    data = open(paths[0], "rb").read()
    renamed = data.replace(b"epoch_loss", b"epoch_lost")  # its header and payload CRCs now fail
    old = data.replace(b"brain.Event:2", b"brain.Event:1")  # steps going back purge: not planned
    n_true = plans.count(True)
    for name, variant in (("renamed", renamed), ("old", old)):
        assert len(variant) == len(data)
        path = write(str(tmp_path / f"{name}.v2"), variant)
        assert_same(read_event_file(path), read_event_file(path, fast=False))
    assert plans.count(True) == n_true


def test_growing_files_and_later_polls_read_as_before(tmp_path, plans):
    """A reader that polls a file as it grows reads as one read of the whole file."""
    paths = _sweep(tmp_path, 4, 25)
    _check_plan_reads(paths, True)
    data = open(paths[0], "rb").read()
    path = str(tmp_path / "growing.v2")
    reader = EventFileReader(path)
    for cut in (len(data) // 3, len(data) - 5, len(data)):
        write(path, data[:cut])
        reader.poll()
    assert_same(reader.result(), read_event_file(paths[0]))


def test_a_plan_needs_plain_scalar_records(tmp_path, plans):
    """A file of plain scalars and a file_version is planned; with a SessionLog START among its
    records (no template covers it) it is not, and reads as before."""
    version = frame(event_bytes(1.0, 0, file_version="brain.Event:2"))
    scalars = b"".join(frame(summary_event(3.0 + i, i, scalar_value("loss", 0.5 * i))) for i in range(30))
    start = frame(event_bytes(2.0, 5, session_log=wire.field_varint(1, 1)))  # SessionLog{status: START}
    for name, data in (("plain", version + scalars), ("restarted", version + scalars + start + scalars)):
        for i in range(4):
            path = write(str(tmp_path / f"{name}{i}.v2"), data)
            assert_same(read_event_file(path), read_event_file(path, fast=False))
        assert (len(data) in _fast_file._PLANS) == (name == "plain"), name
    assert any(plans)


def test_a_poll_after_a_failed_one_goes_on_from_its_offset(tmp_path, monkeypatch):
    """A poll whose open failed is retried by the next from where reading stopped, not from the
    start (the reader then holds points already: nothing is read twice)."""
    (_, data), _ = sorted(keras(2, 60).items())
    path = str(tmp_path / "flaky.v2")
    reader = EventFileReader(path)
    write(path, data[: len(data) // 2])
    reader.poll()
    real_open = open

    def deny(file, *args, **kwargs):
        if str(file) == path:
            raise PermissionError(13, "Permission denied", path)
        return real_open(file, *args, **kwargs)

    write(path, data[: 3 * len(data) // 4])
    monkeypatch.setattr("builtins.open", deny)
    reader.poll()
    monkeypatch.undo()
    write(path, data)
    reader.poll()
    got, whole = reader.result(), read_event_file(path)
    assert got.problems == ("unreadable: Permission denied",)
    assert_same(got, _with_problems(whole, got.problems))


def _with_problems(ef, problems):
    return type(ef)(**{**ef.__dict__, "problems": problems})


def test_plans_are_built_for_repeated_sizes_only_while_used(tmp_path, plans, monkeypatch):
    """The 4th file of a size builds a plan; a full cache builds none; plans that are seldom used
    raise the bar to 4x as many files of a size (shapes, which would make them sooner, off)."""
    monkeypatch.setattr(_fast_learn, "MAX_SHAPES", 0)
    paths = _sweep(tmp_path, 4, 10)
    for p in paths[:6]:  # three runs: each size seen 3 times
        read_event_file(p)
    assert not _fast_file._PLANS
    for p in paths[6:]:  # the 4th of each size
        read_event_file(p)
    assert len(_fast_file._PLANS) == 2
    monkeypatch.setattr(_fast_file, "_PLANS", {})
    monkeypatch.setattr(_fast_file, "_SEEN", {})
    monkeypatch.setattr(_fast_file, "CACHE_BYTES", _fast_file._held)  # full
    for p in paths:
        read_event_file(p)
    assert not _fast_file._PLANS
    assert _fast_file._build_at() == _fast_file.BUILD_AT
    monkeypatch.setattr(_fast_file, "_stats", [8, 3 * 8 - 1])  # 8 plans built, read 23 files in all
    assert _fast_file._build_at() == 4 * _fast_file.BUILD_AT


def test_results_are_whole_dataclasses(tmp_path):
    """EventFile and TagData, made without their __init__ on the fast path, hold every field and
    equal (and pickle as) the same ones made by it."""
    import dataclasses
    import pickle

    (_, data), _ = sorted(keras(1, 20).items())
    ef = read_event_file(write(str(tmp_path / "one.v2"), data))
    for obj in (ef, *ef.scalars.values()):
        names = [f.name for f in dataclasses.fields(obj)]
        assert sorted(vars(obj)) == sorted(names)
        assert dataclasses.replace(obj) == obj
    again = pickle.loads(pickle.dumps(ef))
    assert_same(again, ef)
