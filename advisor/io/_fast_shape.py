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

from dataclasses import dataclass, field

import numpy as np

from advisor.io._fast_plan import STEP_KEEP, STEPS2, Field, FilePlan, fixed_words, merge_steps
from advisor.io._fast_template import STEP
from advisor.io.records import HEADER, U64


@dataclass(eq=False)
class _Piece:
    """One tag's points in one unit of a segment (bytes from the unit's start, records from its first)."""

    n: int  # points per unit
    seq: np.ndarray  # each point's record
    wall: np.ndarray | None  # each point's wall time (8 bytes), or none has one
    step: tuple[int, np.ndarray] | None  # (varint width, first byte of each), or none has a step (0)
    value: tuple[str, int, np.ndarray]  # (kind, width, first byte of each)
    meta: tuple[int, str] | None  # (record, plugin) of its first point with metadata


@dataclass(eq=False)
class Segment:
    fixed: bool  # once; else any number of times (a cycle)
    size: int  # bytes of one unit
    records: int  # records of one unit
    tmpl: np.ndarray  # the unit's bytes (uint8) & mask
    mask: np.ndarray  # its fixed bytes: 0xFF fixed, 0x80 a varint's continuation bit, 0 free
    after: int  # bytes the fixed segments after this one take
    cols: np.ndarray  # (K, records) each record's variable payload bytes (padded with 0s: any byte)
    index: np.ndarray  # (K, records) their CRC tables' offsets in the arena (padding: 0, zeros)
    foot: np.ndarray  # (records,) each record's payload CRC
    versions: tuple[tuple[int, str, float], ...]  # (record, text, parsed) of its file_versions
    pieces: dict[str, _Piece]
    tiles: _Tiles | None = None  # (see _tiles)
    fixed_bytes: bytes = b""  # tmpl's bytes


@dataclass(eq=False)
class Shape:
    segments: tuple[Segment, ...]
    order: tuple[str, ...]  # tag order, as the record-by-record path held the learned file's
    alike: bool = False  # every point has a wall time, every value one kind, every step <= 2 bytes
    framings: dict = field(default_factory=dict)  # (see _framing)
    pointings: dict = field(default_factory=dict)  # (see _shared_points)


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
    shapes = _SHAPES.get(k, ()) if k is not None else ()
    for i, shape in enumerate(shapes):
        counts = match(shape, data)
        if counts is not None:
            _KEYS[k][1] += 1  # type: ignore[index]
            if i:  # the last one used first next time (files of one layout come in runs)
                try:  # (another thread may be moving it too)
                    shapes.remove(shape)  # type: ignore[attr-defined]
                    shapes.insert(0, shape)  # type: ignore[attr-defined]
                except ValueError:
                    pass
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
            if pos + size + seg.after > n or np.bitwise_and(data[pos : pos + size], seg.mask).tobytes() != seg.fixed_bytes:
                return None
            c = 1
        else:
            most = (n - pos - seg.after) // size
            c = 0
            if most > 0:
                rows = data[pos : pos + most * size].reshape(most, size)
                bad = np.not_equal(np.bitwise_and(rows, seg.mask), seg.tmpl).any(axis=1)
                c = int(bad.argmax())
                c = c if bad[c] else most
        counts.append(c)
        pos += c * size
    return tuple(counts) if pos == n else None


def instantiate(shape: Shape, counts: tuple[int, ...], data: np.ndarray) -> FilePlan | None:
    """The plan of the file ``data``, which matches ``shape`` with ``counts`` (None: its first
    record is no version-2 file_version: steps going back would purge points)."""
    at, versions = [], []
    pos = rec = 0
    for seg, c in zip(shape.segments, counts):
        at.append((pos, rec, c))
        if c:
            _tiles(seg, c)
            if seg.versions:
                versions.extend((rec + i * seg.records + j, text, v) for i in range(c) for j, text, v in seg.versions)
        pos += c * seg.size
        rec += c * seg.records
    if not versions or versions[0][0] != 0 or any(v[2] < 2 for v in versions):
        return None
    cols, index, foot, mask, shared = _framing(shape, counts, at)
    words = fixed_words(data, mask[:pos])
    cols, index, foot = cols[:, :rec], index[:, :rec], foot[:rec]
    if shared:  # views of the shape's arrays
        shared = cols.nbytes + index.nbytes + foot.nbytes + words["mask64"].nbytes
    return FilePlan(
        records=rec,
        versions=tuple(versions),
        head=data[: len(data) % 8].tobytes(),
        **words,
        crc_cols=cols,
        crc_index=index,
        footers=foot,
        **(_shared_points(shape, counts, at) if shape.alike else _points(shape, at)),
        shared=shared,
    )


def _shared_points(shape: Shape, counts: tuple[int, ...], at: list[tuple[int, int, int]]) -> dict:
    """:func:`_points` (of an ``alike`` shape) cut from those of the longest file made with the
    same counts but the last segment's: each tag's points are a prefix of its points there."""
    last = max(i for i, c in enumerate(counts) if c)
    sig = counts[:last]
    got = shape.pointings.get(sig)
    if got is None or got[0] < counts[last]:
        out = _points(shape, at)
        size = _nbytes(out)
        old = shape.pointings.get(sig)
        if _framing_bytes[0] + size <= FRAMING_BYTES and (old is not None or len(shape.pointings) < MAX_FRAMINGS):
            _framing_bytes[0] += size - (_nbytes(old[1]) if old is not None else 0)
            shape.pointings[sig] = (counts[last], out)
        return out
    full = got[1]
    spans, tags = [], []
    start = 0
    for tag, a, _, meta in full["tags"]:
        n = sum(c * seg.pieces[tag].n for seg, c in zip(shape.segments, counts) if tag in seg.pieces)
        spans.append((a, a + n))
        tags.append((tag, start, start + n, meta))
        start += n

    def cut(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x[a:b] for a, b in spans])

    def cut_field(f: Field) -> Field:
        return Field(f.kind, f.width, None, cut(f.at), None if f.keep is None else cut(f.keep))

    return {
        "seqs": cut(full["seqs"]),
        "walls": cut_field(full["walls"]),
        "steps": tuple(cut_field(f) for f in full["steps"]),
        "values": tuple(cut_field(f) for f in full["values"]),
        "tags": tuple(tags),
    }


#: Record-major arrays (and points) kept per shape, at most (see _framing, _shared_points); bytes
#: all shapes may hold (those, and their tiles): beyond, none is learned and no more are kept.
MAX_FRAMINGS = 16
FRAMING_BYTES = 32 << 20
_framing_bytes = [0]


def _nbytes(points: dict) -> int:
    fields = [points["walls"], *points["steps"], *points["values"]]
    return points["seqs"].nbytes + sum(f.at.nbytes + (f.keep.nbytes if f.keep is not None else 0) for f in fields if f is not None)


def _framing(shape: Shape, counts: tuple[int, ...], at: list[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    """FilePlan's crc_cols, crc_index, footers and the file's mask, for ``counts`` or more units
    of the last segment that comes: files that differ only in that count (a sweep's runs of
    different lengths) have prefixes of the same arrays, which their plans share (views); and
    whether they are shared (kept by the shape: 1) or the plan's own (0)."""
    last = max(i for i, c in enumerate(counts) if c)
    sig = counts[:last]
    got = shape.framings.get(sig)
    if got is not None and got[0] >= counts[last]:
        return (*got[1:], 1)
    cols, index, foot, masks = [], [], [], []
    for seg, c, (pos, _, _) in zip(shape.segments, counts, at):
        if c:
            tiles = seg.tiles
            m = c * seg.records
            cols.append(tiles.cols[:, :m] + pos)
            index.append(tiles.index[:, :m])
            foot.append(tiles.foot[:m] + pos)
            masks.append(tiles.mask[: c * seg.size])
    out = (np.concatenate(cols, axis=1), np.concatenate(index, axis=1), np.concatenate(foot), np.concatenate(masks))
    size = sum(a.nbytes for a in out)
    old = shape.framings.get(sig)
    if _framing_bytes[0] + size > FRAMING_BYTES or (old is None and len(shape.framings) >= MAX_FRAMINGS):
        return (*out, 0)
    _framing_bytes[0] += size - (sum(a.nbytes for a in old[1:]) if old is not None else 0)
    shape.framings[sig] = (counts[last], *out)
    return (*out, 1)


def _points(shape: Shape, at: list[tuple[int, int, int]]) -> dict:
    """FilePlan's seqs, walls, steps, values and tags: each tag's points in record order, tag by
    tag in the shape's order; ``at``: each segment's first byte, first record and units."""
    parts, tags = [], []  # parts: (points, tiles, piece, first byte, first record)
    start = 0
    for tag in shape.order:
        first, meta = start, None
        for seg, (pos, rec, c) in zip(shape.segments, at):
            pc = seg.pieces.get(tag)
            if pc is None or not c:
                continue
            if meta is None and pc.meta is not None:
                meta = (rec + pc.meta[0], pc.meta[1])
            m = c * pc.n
            parts.append((m, seg.tiles.pieces[tag], pc, pos, rec))  # (tiles made by instantiate)
            start += m
        if start > first:
            tags.append((tag, first, start, meta))
    if not parts:
        return {"seqs": np.zeros(0, dtype=np.int64), "walls": None, "steps": (), "values": (), "tags": ()}
    out = _alike(parts) if shape.alike else _unlike(parts, start)
    out["tags"] = tuple(tags)
    return out




def _alike(parts: list[tuple]) -> dict:
    """:func:`_points` when every point has a wall time, every value one kind and every step at
    most two bytes (``Shape.alike``): each field gathered whole, in a few numpy calls."""
    lens = [p[0] for p in parts]
    at = np.repeat(np.array([p[3] for p in parts]), lens)  # each point's segment's first byte
    recs = np.repeat(np.array([p[4] for p in parts]), lens)
    seqs = np.concatenate([t.seq[:m] for m, t, _, _, _ in parts]) + recs
    walls = np.concatenate([t.wall[:m] for m, t, _, _, _ in parts]) + at
    kind, width, _ = parts[0][2].value
    values = np.concatenate([t.value[2][:m] for m, t, _, _, _ in parts]) + at
    widths = [pc.step[0] if pc.step is not None else 0 for _, _, pc, _, _ in parts]
    if not any(widths):
        steps: tuple[Field, ...] = ()
    else:
        # (a point without a step reads any byte, its wall time's: masked to 0)
        where = np.concatenate([(t.step[1] if pc.step is not None else t.wall)[:m] for m, t, pc, _, _ in parts]) + at
        if min(widths) == max(widths):
            steps = (Field(STEP, widths[0], None, where),)
        else:
            steps = (Field(STEPS2, 2, None, where, STEP_KEEP[np.repeat(np.array(widths), lens)]),)
    return {"seqs": seqs, "walls": Field("<f8", 8, None, walls), "steps": steps, "values": (Field(kind, width, None, values),)}


def _unlike(parts: list[tuple], n: int) -> dict:
    """:func:`_points` in general: one Field per kind of value and width of step."""
    seqs, walls, steps, values = [], [], [], []
    start = 0
    for m, t, pc, pos, rec in parts:
        span = (start, start + m)
        seqs.append(("", 0, span, t.seq[:m], rec))
        if pc.wall is not None:
            walls.append(("<f8", 8, span, t.wall[:m], pos))
        if pc.step is not None:
            steps.append((STEP, pc.step[0], span, t.step[1][:m], pos))
        values.append((pc.value[0], pc.value[1], span, t.value[2][:m], pos))
        start = span[1]
    w = _fields(walls, n)
    return {
        "seqs": _fields(seqs, n)[0].at,
        "walls": w[0] if w else None,
        "steps": merge_steps(_fields(steps, n), n),
        "values": tuple(_fields(values, n)),
    }


def _fields(items: list[tuple[str, int, tuple[int, int], np.ndarray, int]], n: int) -> list[Field]:
    """(kind, width, points [a, b), first bytes less ``base``, base) in point order -> one Field
    per (kind, width)."""
    classes: dict[tuple[str, int], list[tuple[tuple[int, int], np.ndarray, int]]] = {}
    for kind, width, span, rel, base in items:
        classes.setdefault((kind, width), []).append((span, rel, base))
    out = []
    for (kind, width), members in classes.items():
        if len(members) == 1:
            (a, b), rel, base = members[0]
            at = rel + base
        else:
            lens = [b - a for (a, b), _, _ in members]
            at = np.concatenate([rel for _, rel, _ in members])
            at += np.repeat(np.array([base for _, _, base in members]), lens)
        if len(classes) == 1 and len(at) == n:
            sel = None  # every point, in order
        else:
            sel = np.concatenate([np.arange(a, b) for (a, b), _, _ in members])
        out.append(Field(kind, width, sel, at))
    return out


@dataclass(eq=False)
class _Tiles:
    """A segment's arrays for ``units`` units one after the other (bytes from the first unit's
    start, records from its first record): a file's are slices of them."""

    units: int
    cols: np.ndarray
    index: np.ndarray
    foot: np.ndarray
    mask: np.ndarray
    pieces: dict[str, _Piece]


def _tiles(seg: Segment, c: int) -> _Tiles:
    """``seg``'s tiles for at least ``c`` units (grown as needed, to twice as many)."""
    t = seg.tiles
    if t is not None and t.units >= c:
        return t
    c = max(c, 2 * t.units) if t is not None else c
    offs, recs = seg.size * np.arange(c), seg.records * np.arange(c)

    def tile(rel: np.ndarray, by: np.ndarray) -> np.ndarray:
        return (by[:, None] + rel).ravel()

    pieces = {
        tag: _Piece(
            pc.n,
            tile(pc.seq, recs),
            tile(pc.wall, offs) if pc.wall is not None else None,
            (pc.step[0], tile(pc.step[1], offs)) if pc.step is not None else None,
            (pc.value[0], pc.value[1], tile(pc.value[2], offs)),
            pc.meta,
        )
        for tag, pc in seg.pieces.items()
    }
    k = len(seg.cols)
    cols = (seg.cols[:, None, :] + offs[None, :, None]).reshape(k, -1)
    new = _Tiles(c, cols, np.tile(seg.index, (1, c)), tile(seg.foot, offs), np.tile(seg.mask, c), pieces)
    _framing_bytes[0] += _tiles_bytes(new) - (_tiles_bytes(t) if t is not None else 0)
    seg.tiles = new
    return new


def _tiles_bytes(t: _Tiles) -> int:
    arrays = [t.cols, t.index, t.foot, t.mask]
    for pc in t.pieces.values():
        arrays += [pc.seq, pc.value[2]] + ([pc.wall] if pc.wall is not None else []) + ([pc.step[1]] if pc.step is not None else [])
    return sum(a.nbytes for a in arrays)
