"""Shapes, learned (see :mod:`advisor.io._fast_shape`): from a file the record-by-record path read,
the layout of its records as segments (fixed units, and cycles whose count is left open), each
unit's bytes, mask, CRC tables and points; and how often a key may teach one."""

from __future__ import annotations

import numpy as np

from advisor.io._fast_plan import _Group, _in_arena, file_mask, groups_of
from advisor.io import _fast_shape
from advisor.io._fast_shape import Segment, Shape, _Piece, key
from advisor.io.records import HEADER

#: Records of one unit of a cycle, at most (a per-layer sweep logs one record per layer and step).
MAX_UNIT = 64
#: Shapes kept per key (the first two record lengths), and in all.
MAX_PER_KEY = 8
MAX_SHAPES = 256
#: A key whose shapes are seldom used is not taught more: a new shape is learned while it has
#: fewer than TRIES tries, or while its uses are at least USES_PER_TRY per try.
TRIES = 4
USES_PER_TRY = 2




def wants(buf: memoryview, size: int) -> bool:
    """Whether a file that no shape read should teach one (see TRIES, USES_PER_TRY)."""
    k = key(buf, size)
    if k is None or _fast_shape._count[0] >= MAX_SHAPES or len(_fast_shape._SHAPES.get(k, ())) >= MAX_PER_KEY or _fast_shape._framing_bytes[0] >= _fast_shape.FRAMING_BYTES:
        return False
    tries, uses = _fast_shape._KEYS.get(k, (0, 0))
    return tries < TRIES or uses >= USES_PER_TRY * tries


def learn(buf: memoryview, data: np.ndarray, order: list[str]) -> tuple[Shape, tuple[int, ...]] | None:
    """The shape of the file ``data`` (its tags in ``order``) and its counts in it; None when the
    file is not of plain scalar records and file_versions, or a tag's points in a unit are not
    alike. Counted as a try of its key. (Adds CRC tables to the arena: call under its lock.)"""
    k = key(buf, len(data))
    if k is None:
        return None
    _fast_shape._KEYS.setdefault(k, [0, 0])[0] += 1
    groups = groups_of(buf, data)
    if groups is None:
        return None
    n_rec = sum(len(g.seqs) for g in groups)
    ids = np.empty(n_rec, dtype=np.intp)
    starts = np.empty(n_rec + 1, dtype=np.intp)
    arena_at = []
    for i, g in enumerate(groups):
        ids[g.seqs] = i
        starts[g.seqs] = g.p0s - HEADER
        arena_at.append(_in_arena(g.tables))
    if None in arena_at:
        return None
    starts[n_rec] = len(data)
    mask = file_mask(len(data), groups)
    width = max(len(g.var_cols) for g in groups)
    segments, counts = [], []
    for r0, p, c, fixed in _runs(ids.tolist()):
        b0, b1 = int(starts[r0]), int(starts[r0 + p])
        recs = [(groups[i], int(starts[r0 + j]) + HEADER - b0, arena_at[i]) for j, i in enumerate(ids[r0 : r0 + p].tolist())]
        seg = _segment(recs, width, b1 - b0)
        if seg is None:
            return None
        seg.fixed, seg.mask = fixed, mask[b0:b1].copy()
        seg.tmpl = np.bitwise_and(data[b0:b1], seg.mask)
        seg.fixed_bytes = seg.tmpl.tobytes()
        segments.append(seg)
        counts.append(c)
    after = 0
    for seg in reversed(segments):
        seg.after = after
        after += seg.size if seg.fixed else 0
    pieces = [pc for seg in segments for pc in seg.pieces.values()]
    alike = all(pc.wall is not None and pc.value[:2] == pieces[0].value[:2] and (pc.step is None or pc.step[0] <= 2) for pc in pieces)
    return Shape(tuple(segments), tuple(order), alike), tuple(counts)


def _segment(recs: list[tuple[_Group, int, int]], width: int, size: int) -> Segment | None:
    """A unit's records (group, payload start, its tables' offset in the arena) -> its Segment
    (without tmpl, mask, after); None when a tag's points in it are not alike (one value kind,
    one step width, all with wall times or none)."""
    p = len(recs)
    cols = np.zeros((width, p), dtype=np.intp)
    index = np.zeros((width, p), dtype=np.intp)
    foot = np.empty(p, dtype=np.intp)
    versions = []
    points: dict[str, list[tuple]] = {}
    for j, (g, p0, at) in enumerate(recs):
        v = len(g.var_cols)
        cols[:v, j] = g.var_cols + p0
        index[:v, j] = at + 256 * np.arange(v)
        foot[j] = p0 + g.n
        if g.version is not None:
            versions.append((j, *g.version))
            continue
        tp = g.tp
        wall = None if tp.wall is None else p0 + tp.wall
        step = None if tp.step is None else (tp.step[1], p0 + tp.step[0])
        for out in tp.outputs:
            points.setdefault(out.tag, []).append((j, wall, step, (out.kind, out.width, p0 + out.col), out.meta))
    pieces = {}
    for tag, pts in points.items():
        walls = {w is None for _, w, _, _, _ in pts}
        widths = {s[0] if s else 0 for _, _, s, _, _ in pts}
        kinds = {v[:2] for _, _, _, v, _ in pts}
        if len(walls) > 1 or len(widths) > 1 or len(kinds) > 1:
            return None
        meta = next(((j, m) for j, _, _, _, m in pts if m is not None), None)
        pieces[tag] = _Piece(
            n=len(pts),
            seq=np.array([x[0] for x in pts], dtype=np.int64),
            wall=None if True in walls else np.array([x[1] for x in pts], dtype=np.intp),
            step=None if pts[0][2] is None else (pts[0][2][0], np.array([x[2][1] for x in pts], dtype=np.intp)),
            value=(*pts[0][3][:2], np.array([x[3][2] for x in pts], dtype=np.intp)),
            meta=meta,
        )
    empty = np.zeros(0, dtype=np.uint8)
    return Segment(True, size, p, empty, empty, 0, cols, index, foot, tuple(versions), pieces)


def keep(buf: memoryview, size: int, shape: Shape) -> None:
    """Keep ``shape``, learned from the file ``buf`` of ``size`` bytes."""
    k = key(buf, size)
    if k is not None:
        _fast_shape._SHAPES.setdefault(k, []).append(shape)
        _fast_shape._count[0] += 1


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
