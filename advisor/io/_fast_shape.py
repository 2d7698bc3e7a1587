"""Shapes: whole-file plans for small files of any length (see :mod:`advisor.io._fast_file`).

A plan (:mod:`advisor.io._fast_plan`) is the layout of one file of one size. But the small files
of a sweep differ in size when its runs differ in length (early stopping: a Keras run of 37
epochs, the next of 112), and a plan then seldom finds a second file of its size. Their layout
is the same all the same: a few records at the start (the file_version, each tag's first record,
with its metadata), then one cycle of records per step or epoch, the same bytes every time but
for the wall time, step and values; then the same cycle with two-byte steps from step 128 on.

A shape is that layout with the counts left open: a list of segments, each a unit of records
(its bytes and the mask of the fixed ones, cut from the file the shape is learned from) and
whether it comes once (``fixed``) or any number of times, 0 included (a cycle). A file matches
a shape when its bytes are the segments' units one after the other, each cycle as many times as
its units match (one numpy comparison over all of them), and they end where the file ends.
Every record header is a fixed byte, so a file that matches is framed exactly as the units say,
record by record, each record of its group's layout: the shape then makes the plan of that file
(:func:`instantiate`: the groups' records placed at their offsets, then
:func:`advisor.io._fast_plan.assemble`), which reads it and is kept for the next file of its
size. A file that matches no shape is read as before, and may teach a new one.

Exactness is the plans': each template reads its records as the general decoder does, and what
depends on order across records (each tag's first metadata, the file_version, tag order) is
derived by :func:`advisor.io._fast_plan.assemble` from the record indices of the file at hand. A
shape is kept only if the plan it makes for the file it was learned from reads that file exactly
as the record-by-record path did (:func:`advisor.io._fast_file.learn`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from advisor.io._fast_plan import FilePlan, _Group, assemble, file_mask, groups_of
from advisor.io.records import HEADER, U64

#: Records of one unit of a cycle, at most (a per-layer sweep logs one record per layer and step).
MAX_UNIT = 64
#: Shapes kept per key (the first two record lengths), and in all.
MAX_PER_KEY = 8
MAX_SHAPES = 256
#: A key whose shapes are seldom used is not taught more: a new shape is learned while it has
#: fewer than TRIES tries, or while its uses are at least USES_PER_TRY per try.
TRIES = 2
USES_PER_TRY = 4


@dataclass(eq=False)
class _Member:
    """One group's records in a unit: their payload starts and record indices, from the unit's start."""

    group: int
    p0: np.ndarray
    seq: np.ndarray


@dataclass(eq=False)
class Segment:
    fixed: bool  # once; else any number of times (a cycle)
    size: int  # bytes of one unit
    records: int  # records of one unit
    tmpl: np.ndarray  # the unit's bytes (uint8)
    mask: np.ndarray  # its fixed bytes: 0xFF fixed, 0x80 a varint's continuation bit, 0 free
    members: tuple[_Member, ...]
    after: int  # bytes the fixed segments after this one take


@dataclass(eq=False)
class Shape:
    segments: tuple[Segment, ...]
    groups: tuple[_Group, ...]  # the layouts of its records (their p0s and seqs: the learned file's)
    tags: tuple[tuple[str, ...], ...]  # each group's tags
    order: tuple[str, ...]  # tag order, as the record-by-record path held the learned file's


_SHAPES: dict[tuple[int, int], list[Shape]] = {}
_KEYS: dict[tuple[int, int], list[int]] = {}  # key -> [shapes tried, files read by its shapes]
_count = [0]  # shapes kept in all


def key(buf: memoryview, size: int) -> tuple[int, int] | None:
    """The lengths of the file's first two records (as their headers claim), or None."""
    if size < HEADER:
        return None
    first = U64.unpack_from(buf, 0)[0]
    second = HEADER + first + 4
    return (first, U64.unpack_from(buf, second)[0] if second + HEADER <= size else -1)


def find(buf: memoryview, data: np.ndarray) -> tuple[Shape, tuple[int, ...]] | None:
    """A kept shape that the whole file ``data`` matches, and its segments' counts."""
    k = key(buf, len(data))
    for shape in _SHAPES.get(k, ()) if k is not None else ():
        counts = match(shape, data)
        if counts is not None:
            _KEYS[k][1] += 1  # type: ignore[index]
            return shape, counts
    return None


def match(shape: Shape, data: np.ndarray) -> tuple[int, ...] | None:
    """How many times each segment comes in ``data`` when it is exactly the shape's units one
    after the other (every fixed byte as the unit has it), to its end; else None."""
    n = len(data)
    pos = 0
    counts = []
    for seg in shape.segments:
        size = seg.size
        if seg.fixed:
            if pos + size + seg.after > n or np.bitwise_and(np.bitwise_xor(data[pos : pos + size], seg.tmpl), seg.mask).any():
                return None
            c = 1
        else:
            most = (n - pos - seg.after) // size
            c = 0
            if most > 0:
                rows = data[pos : pos + most * size].reshape(most, size)
                bad = np.bitwise_and(np.bitwise_xor(rows, seg.tmpl), seg.mask).any(axis=1)
                c = int(bad.argmax()) if bad.any() else most
        counts.append(c)
        pos += c * size
    return tuple(counts) if pos == n else None


def instantiate(shape: Shape, counts: tuple[int, ...], data: np.ndarray) -> FilePlan | None:
    """The plan of the file ``data``, which matches ``shape`` with ``counts``."""
    p0s: list[list[np.ndarray]] = [[] for _ in shape.groups]
    seqs: list[list[np.ndarray]] = [[] for _ in shape.groups]
    pos = rec = 0
    for seg, c in zip(shape.segments, counts):
        if c:
            offs = pos + seg.size * np.arange(c)
            recs = rec + seg.records * np.arange(c)
            for m in seg.members:
                p0s[m.group].append((offs[:, None] + m.p0).ravel())
                seqs[m.group].append((recs[:, None] + m.seq).ravel())
        pos += c * seg.size
        rec += c * seg.records
    groups, present = [], set()
    for g, tags, at, seq in zip(shape.groups, shape.tags, p0s, seqs):
        if at:
            at_, seq_ = (at[0], seq[0]) if len(at) == 1 else (np.concatenate(at), np.concatenate(seq))
            groups.append(dataclasses.replace(g, p0s=at_, seqs=seq_))
            present.update(tags)
    return assemble(data, groups, [t for t in shape.order if t in present])


# --------------------------------------------------------------------------- learning


def wants(buf: memoryview, size: int) -> bool:
    """Whether a file that no shape read should teach one (see TRIES, USES_PER_TRY)."""
    k = key(buf, size)
    if k is None or _count[0] >= MAX_SHAPES or len(_SHAPES.get(k, ())) >= MAX_PER_KEY:
        return False
    tries, uses = _KEYS.get(k, (0, 0))
    return tries < TRIES or uses >= USES_PER_TRY * tries


def learn(buf: memoryview, data: np.ndarray, order: list[str]) -> tuple[Shape, tuple[int, ...]] | None:
    """The shape of the file ``data`` (its tags in ``order``) and its counts in it; None when the
    file is not of plain scalar records and file_versions. Counted as a try of its key."""
    k = key(buf, len(data))
    if k is None:
        return None
    _KEYS.setdefault(k, [0, 0])[0] += 1
    groups = groups_of(buf, data)
    if groups is None:
        return None
    n_rec = sum(len(g.seqs) for g in groups)
    ids = np.empty(n_rec, dtype=np.intp)
    starts = np.empty(n_rec + 1, dtype=np.intp)
    for i, g in enumerate(groups):
        ids[g.seqs] = i
        starts[g.seqs] = g.p0s - HEADER
    starts[n_rec] = len(data)
    mask = file_mask(len(data), groups)
    segments: list[Segment] = []
    counts = []
    for r0, p, c, fixed in _runs(ids.tolist()):
        b0, b1 = int(starts[r0]), int(starts[r0 + p])
        unit = ids[r0 : r0 + p]
        members = []
        for gi in sorted(set(unit.tolist())):
            rel = np.flatnonzero(unit == gi)
            members.append(_Member(gi, starts[r0 + rel] + HEADER - b0, rel))
        segments.append(Segment(fixed, b1 - b0, p, data[b0:b1].copy(), mask[b0:b1].copy(), tuple(members), 0))
        counts.append(c)
    after = 0
    for seg in reversed(segments):
        seg.after = after
        after += seg.size if seg.fixed else 0
    tags = tuple(tuple(o.tag for o in g.tp.outputs) if g.tp is not None else () for g in groups)
    return Shape(tuple(segments), tuple(groups), tags, tuple(order)), tuple(counts)


def keep(buf: memoryview, size: int, shape: Shape) -> None:
    """Keep ``shape``, learned from the file ``buf`` of ``size`` bytes."""
    k = key(buf, size)
    if k is not None:
        empty = np.zeros(0, dtype=np.intp)  # (the learned file's records are not kept)
        shape.groups = tuple(dataclasses.replace(g, p0s=empty, seqs=empty) for g in shape.groups)
        _SHAPES.setdefault(k, []).append(shape)
        _count[0] += 1


def _runs(ids: list[int]) -> list[tuple[int, int, int, bool]]:
    """Records by layout ids -> (first record, records per unit, units, fixed): cycles where a
    unit of at most MAX_UNIT records repeats (the one covering the most records), the records
    between them as fixed units."""
    out: list[tuple[int, int, int, bool]] = []
    n = len(ids)
    i = single = 0
    while i < n:
        best_p = best_c = 0
        for p in range(1, min(MAX_UNIT, (n - i) // 2) + 1):
            if ids[i + p] != ids[i]:
                continue
            unit = ids[i : i + p]
            if ids[i + p : i + 2 * p] != unit:
                continue
            c = 2
            while ids[i + c * p : i + (c + 1) * p] == unit:
                c += 1
            if p * c > best_p * best_c:
                best_p, best_c = p, c
        if not best_c:
            i += 1
            continue
        if single < i:
            out.append((single, i - single, 1, True))
        out.append((i, best_p, best_c, False))
        i += best_p * best_c
        single = i
    if single < n:
        out.append((single, n - single, 1, True))
    return out
