"""The vectorised reader's whole-file plans: a small event file read in a few numpy operations.

Sweeps of small files (Keras' per-epoch ``train/`` and ``validation/`` files: a few hundred
records each) spend most of their time on what every file costs once: peeking at headers until
a cycle shows, the leading records decoded one by one, a batch per cycle. But the files of one
writer and one configuration are alike byte for byte, except the wall times, steps, values and
CRCs: the same records at the same offsets, the same tags, the same lengths.

A plan is the layout of one such file: its bytes with a mask of the fixed ones (every record
header, and each payload's fixed bytes as its template says: :mod:`advisor.io._fast_template`),
and where each record's wall time, step and value(s) lie. A file of the plan's size whose fixed
bytes all match it has exactly the plan's framing and records, so it is decoded at once: every
payload CRC from its variable bytes alone (CRC is linear: one table lookup per variable byte),
each field gathered for every record at once, each tag's points handed over in one piece.

When: a plan is built (:mod:`advisor.io._fast_plan`) from the BUILD_AT-th file of one size
(a size seen a few times only costs nothing), from what the record-by-record
path just read of it, and only while plans built so far are used (a sweep of runs of many
lengths, whose sizes seldom repeat, builds plans for its commonest sizes only). Building one
costs about two record-by-record reads of its file; reading a file by it, a fraction of one.

Exactness: a plan is kept only if it reads the file it was built from exactly as the
record-by-record path did, point for point, tag order included. A file is read by its plan
only when everything is plain: every fixed byte matches, every CRC passes (when checked), no
value is NaN (its bits are the general decoder's business, see :mod:`advisor.io._fast_single`;
wall times are copied as they are), and the file starts with a version-2 file_version. Anything
else returns False before the accumulator is touched, and the caller reads the file as before.
"""

from __future__ import annotations

import threading

import numpy as np

from advisor.io import _fast_learn, _fast_shape
from advisor.io._fast_plan import STEP_OF, STEPS2, Field, FilePlan, arena, build
from advisor.io._fast_template import STEP, convert
from advisor.io.accumulator import Accumulator, TagData
from advisor.io.crc32c import mask
from advisor.io.records import Damage

#: Files up to this size get plans (larger ones amortise their fixed cost over their cycles).
MAX_FILE = 256 << 10
#: Bytes of plans kept in all; when full, no more are built (those kept stay).
CACHE_BYTES = 64 << 20
#: Bytes of a plan per byte of its file, about (16 per variable byte of a record, 2 per byte).
PLAN_BYTES = 6
#: A plan is built when this many files of one size came without one (when none is kept, the
#: next try comes after 4x as many): building one costs about what reading two or three such
#: files record by record does, so a sweep whose sizes seldom repeat builds few it would not use.
BUILD_AT = 4
#: Files read by plans per plan built below which plans are built only for sizes 4x as common.
REUSED = 3
#: Sizes remembered without a plan, at most (then forgotten all at once).
SEEN_LIMIT = 4096

#: Value kinds whose bytes an overlapping strided view reads as they are.
_VIEWS = frozenset({"<f8", "<f4", "<f2", "<i4", "<i8", "<i2", "i1", "u1", "<u2", "<u4", "<u8"})
_FLOATS = frozenset({"<f4", "<f2"})  # converted to float64 (a float64 value is copied as it is)


_PLANS: dict[int, list[FilePlan]] = {}
_SEEN: dict[int, int] = {}
_held = 0  # bytes of plans kept
_stats = [0, 0]  # plans built (tried), files read by a plan
_LOCK = threading.Lock()


def applies(pos: int, end: int, base: int, acc: Accumulator, eof: bool) -> bool:
    """Whether buf[pos:end] is a whole small file and ``acc`` a fresh one (a plan's case)."""
    return pos == 0 and base == 0 and eof and 0 < end <= MAX_FILE and not acc.records and acc.damage.open_at is None


def decode_file(buf: memoryview, data: np.ndarray, acc: Accumulator, verify_crc: bool) -> bool:
    """Read the whole file ``data`` (``buf``'s bytes) into the fresh ``acc`` by a cached plan, or
    by the plan a kept shape makes for it; False (``acc`` untouched) when none reads it exactly."""
    plans = _PLANS.get(len(data))
    if plans:
        r = len(data) % 8
        words = np.ndarray((len(data) // 8,), dtype="<u8", buffer=data, offset=r)
        for plan in plans:
            if buf[:r] == plan.head and np.bitwise_and(words, plan.mask64).tobytes() == plan.fixed:
                _stats[1] += 1
                return _apply(plan, data, acc, verify_crc)
    found = _fast_shape.find(buf, data)
    if found is None:
        return False
    plan = _fast_shape.instantiate(*found, data)
    if plan is None:
        return False
    if _held + plan.nbytes <= CACHE_BYTES:
        _keep(len(data), plan)  # the next file of this size and layout: read by it at once
    return _apply(plan, data, acc, verify_crc)


_DELTA = np.uint32(mask(0))  # the constant a masked CRC adds


def _apply(plan: FilePlan, data: np.ndarray, acc: Accumulator, verify_crc: bool) -> bool:
    """Decode the file ``data``, whose fixed bytes match ``plan``'s (False: a CRC fails or a value is NaN)."""
    if verify_crc:
        rot = np.bitwise_xor.reduce(arena().take(np.add(data[plan.crc_cols], plan.crc_index)), axis=0)
        stored = np.ndarray((len(data) - 3,), dtype="<u4", buffer=data, strides=(1,))[plan.footers]
        if np.subtract(stored, _DELTA, out=stored).tobytes() != rot.tobytes():
            return False
    n = len(plan.seqs)
    values = _gather(data, n, plan.values, np.float64)
    if values is None:
        return False  # a NaN: its bits are the general decoder's business (wall times are copied as they are)
    walls = _gather(data, n, (plan.walls,) if plan.walls else (), np.float64)
    steps = _gather(data, n, plan.steps, np.int64)
    seqs = plan.seqs.copy()
    # A fresh accumulator: each tag's points are its one chunk, its first metadata the plan's.
    for tag, a, b, meta in plan.tags:
        if meta is not None:
            acc.first_meta[tag] = meta
        acc.chunks[tag] = [(steps[a:b], values[a:b], walls[a:b], seqs[a:b])]
    for seq, text, version in plan.versions:
        acc.file_version = text
        acc.versions.append((seq, version))
    acc.records = plan.records
    return True


def _gather(data: np.ndarray, n: int, fields: tuple[Field, ...], dtype: type) -> np.ndarray | None:
    """One array of ``n`` points: each field's values where it is, zeros elsewhere (None: a NaN)."""
    if len(fields) == 1 and fields[0].sel is None:
        return _read(data, fields[0])
    out = np.zeros(n, dtype=dtype)
    for f in fields:
        got = _read(data, f)
        if got is None:
            return None
        out[f.sel] = got
    return out


def _read(data: np.ndarray, f: Field) -> np.ndarray | None:
    """A field's values, converted exactly as :func:`advisor.io._fast_template.convert` does
    (None: a value is NaN; wall times, copied as they are, are not asked)."""
    if f.kind in _VIEWS:
        view = np.ndarray((len(data) - f.width + 1,), dtype=f.kind, buffer=data, strides=(1,))
        raw = view[f.at]
        if f.kind in _FLOATS and f.width != 8 and np.count_nonzero(np.isnan(raw)):
            return None  # (checked before converting: a NaN never converts, nor warns)
        return raw.astype(np.float64, copy=False)
    if f.kind == STEP and f.width == 1:
        return data[f.at].astype(np.int64)  # one byte: its continuation bit is clear (a fixed bit)
    if f.kind == STEPS2:  # (see merge_steps) each varint looked up whole
        w = np.ndarray((len(data) - 1,), dtype="<u2", buffer=data, strides=(1,))[f.at]
        return STEP_OF.take(np.bitwise_and(w, f.keep))
    if f.kind == STEP and f.width == 2:  # (steps 128-16383) the first byte's continuation bit set, the second's clear: fixed bits
        w = np.ndarray((len(data) - 1,), dtype="<u2", buffer=data, strides=(1,))[f.at]
        return np.bitwise_or(np.bitwise_and(w, 0x7F), np.left_shift(np.right_shift(w, 8), 7)).astype(np.int64)
    with np.errstate(all="ignore"):
        out = convert(data[f.at[:, None] + np.arange(f.width)], f.kind)
    return None if f.kind != STEP and np.isnan(out).any() else out


# --------------------------------------------------------------------------- learning


def learn(buf: memoryview, data: np.ndarray, acc: Accumulator) -> None:
    """Note a file that no plan read, ``acc`` holding what the record-by-record path read of it:
    learn its shape (:mod:`advisor.io._fast_shape`) while its key wants one; else, at the
    :func:`_build_at`-th file of its size, build a plan from it. Either is kept only if its plan
    reads the file exactly as ``acc`` holds it, every CRC checked (so a read with CRC checks off,
    which reads a file whose CRCs all pass as a read with them on does, may build one too)."""
    size = len(data)
    if _fast_learn.wants(buf, size) and _learn_shape(buf, data, acc):
        return
    if len(_SEEN) >= SEEN_LIMIT:
        _SEEN.clear()
    count = _SEEN[size] = _SEEN.get(size, 0) + 1
    if count < _build_at() or _held + PLAN_BYTES * size > CACHE_BYTES:
        return  # (a full cache: plans already kept stay, no churn)
    _SEEN[size] = -3 * count  # unless a plan is kept, the next try comes after 4x as many files
    _stats[0] += 1
    ref = _snapshot(acc)
    expected = ref.tag_data()
    with _LOCK:  # (the arena of CRC tables grows in place)
        plan = build(buf, data, list(ref.chunks))
        mine = Accumulator()
        if plan is not None and _apply(plan, data, mine, True) and _same(ref, expected, mine, mine.tag_data()):
            _keep(size, plan)


def _learn_shape(buf: memoryview, data: np.ndarray, acc: Accumulator) -> bool:
    """Learn the shape of the file ``data`` (read into ``acc``); kept (with the plan it makes for
    this file) if that plan reads the file exactly as ``acc`` holds it. Whether it was kept."""
    ref = _snapshot(acc)
    expected = ref.tag_data()
    with _LOCK:
        got = _fast_learn.learn(buf, data, list(ref.chunks))
        if got is None:
            return False
        plan = _fast_shape.instantiate(*got, data)
        mine = Accumulator()
        if plan is None or not _apply(plan, data, mine, True) or not _same(ref, expected, mine, mine.tag_data()):
            return False
        _fast_learn.keep(buf, len(data), got[0])
        if _held + plan.nbytes <= CACHE_BYTES:
            _keep(len(data), plan)
    return True


def _build_at() -> int:
    """Files of one size read without a plan before one is built: BUILD_AT, or 4x that while the
    plans built so far were seldom used (a sweep whose sizes seldom repeat: plans cost more
    than they save)."""
    built, used = _stats
    return BUILD_AT if built < 8 or used >= REUSED * built else 4 * BUILD_AT


def _snapshot(acc: Accumulator) -> Accumulator:
    """A copy of ``acc`` whose tag_data() and resolve() leave ``acc`` as it is (they replace or
    append to its containers, never change the arrays)."""
    out = object.__new__(Accumulator)
    out.__dict__.update({k: _copied(v) for k, v in acc.__dict__.items()})
    return out


def _copied(v: object) -> object:
    if isinstance(v, dict):
        return {k: list(x) if isinstance(x, list) else x for k, x in v.items()}
    if isinstance(v, list):
        return list(v)
    if isinstance(v, Damage):
        return Damage(list(v.ranges), v.open_at)
    return v


def _keep(size: int, plan: FilePlan) -> None:
    global _held
    _PLANS.setdefault(size, []).append(plan)
    _held += plan.nbytes
    _SEEN.pop(size, None)


def _same(ref: Accumulator, a: dict[str, TagData], mine: Accumulator, b: dict[str, TagData]) -> bool:
    """Whether two accumulators (and their tag_data) hold the same results, tag order, dtypes
    and bits included."""
    if list(a) != list(b) or list(ref.chunks) != list(mine.chunks):
        return False
    for tag, da in a.items():
        db = b[tag]
        for x, y in ((da.steps, db.steps), (da.values, db.values), (da.wall_times, db.wall_times), (da.seq, db.seq)):
            if x.dtype != y.dtype or x.tobytes() != y.tobytes():
                return False
    ref.resolve()
    mine.resolve()
    keys = ("records", "file_version", "versions", "first_meta", "restarts", "hparams", "texts", "non_scalar", "bad_crc", "bad_records")
    return all(getattr(ref, k) == getattr(mine, k) for k in keys) and ref.damage == mine.damage
