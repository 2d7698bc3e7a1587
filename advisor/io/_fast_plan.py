"""Whole-file plans, built: the layout of one small event file as arrays (see :mod:`advisor.io._fast_file`).

A plan is the file's bytes with a mask of the fixed ones (every record header; each payload's
fixed bytes as its template says, :mod:`advisor.io._fast_template`), where each record's
variable bytes lie and their CRC tables, and where each point's wall time, step and value lie,
tag by tag. It is built from one file in a few numpy operations per template (not per record):
the records are framed, grouped by length, and each group is split by the templates its
records match; a file with any record that is neither a plain scalar record nor a
file_version gets no plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.io._fast_template import STEP, Template, crc_tables, fields_cover, template_for
from advisor.io.events import parse_file_version
from advisor.io.records import FOOTER, HEADER, HEADER_CRCS, U32, U64, header_crc

#: Templates one plan may hold, at most (a file of many layouts is not a sweep's file).
MAX_TEMPLATES = 64
#: Payloads longer than this are not planned (a plain scalar record is short).
MAX_PAYLOAD = 4096


@dataclass(eq=False)
class Field:
    """One kind of field at some points: where (all points when ``sel`` is None) and at which bytes."""

    kind: str
    width: int
    sel: np.ndarray | None  # point indices
    at: np.ndarray  # first byte of each (intp)
    keep: np.ndarray | None = None  # STEPS2: (points,) uint16 mask of each point's two bytes


#: Every point's step at once, each a varint of at most two bytes or none (step 0): the 16 bits
#: at ``at`` masked by ``keep`` (0xFFFF two bytes, 0x00FF one, 0 none: the continuation bits
#: are fixed bytes of a plan, so which bytes a varint has is known), looked up in STEP_OF.
STEPS2 = "steps2"
#: A varint of at most two bytes (the second's bits 8-15, when the first's continuation bit is
#: set) -> its value.
STEP_OF = np.arange(1 << 16, dtype=np.int64)
STEP_OF = np.where(STEP_OF & 0x80, (STEP_OF & 0x7F) | ((STEP_OF >> 8) & 0x7F) << 7, STEP_OF & 0x7F)
#: STEPS2 masks by varint width (0: no step).
STEP_KEEP = np.array([0, 0x00FF, 0xFFFF], dtype=np.uint16)


def merge_steps(steps: list[Field], n: int) -> tuple[Field, ...]:
    """A plan's step fields as one STEPS2 field when there are several (or some points have
    none) and none is longer than two bytes: one gather instead of one per width."""
    if not steps or (len(steps) == 1 and steps[0].sel is None) or any(f.width > 2 for f in steps):
        return tuple(steps)
    at = np.zeros(n, dtype=np.intp)
    keep = np.zeros(n, dtype=np.uint16)
    for f in steps:
        where = f.sel if f.sel is not None else slice(None)
        at[where] = f.at
        keep[where] = STEP_KEEP[f.width]
    return (Field(STEPS2, 2, None, at, keep),)


@dataclass(eq=False)
class FilePlan:
    records: int
    versions: tuple[tuple[int, str, float], ...]  # (record index, text, parsed) of each file_version
    head: bytes  # the file's first size % 8 bytes (fixed: the first record's length)
    # The rest of the file the plan was built from, and the mask of its fixed bytes (0xFF fixed,
    # 0x80 a varint's continuation bit only, 0 free), as uint64 words.
    fixed: bytes  # the template's bytes & mask, as the words (mask64) are
    mask64: np.ndarray
    # Payload CRCs: crc_cols (K, R) are the variable bytes of each record (a column per record,
    # padded with a table of zeros), crc_index the offset of each one's table in the arena
    # (:func:`arena`: every template's tables once, each entry rotated as the CRC mask rotates:
    # rotation is linear, so their XOR is the masked CRC less the mask's constant).
    crc_cols: np.ndarray
    crc_index: np.ndarray
    footers: np.ndarray  # (R,) byte of each record's payload CRC
    seqs: np.ndarray  # (P,) record index of each point, tag by tag
    walls: Field | None
    steps: tuple[Field, ...]
    values: tuple[Field, ...]
    tags: tuple[tuple[str, int, int, tuple[int, str] | None], ...]  # (tag, first point, end, first metadata)
    shared: int = 0  # bytes of its arrays that are views of arrays a shape holds (not counted here)

    @property
    def nbytes(self) -> int:
        arrays = [self.mask64, self.crc_cols, self.crc_index, self.footers, self.seqs]
        fields = (*self.steps, *self.values, *((self.walls,) if self.walls else ()))
        arrays += [f.at for f in fields] + [f.keep for f in fields if f.keep is not None]
        return len(self.fixed) + sum(a.nbytes for a in arrays) - self.shared


def frames(buf: memoryview, end: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(starts, payload lengths) of every record, framing the whole buffer exactly; else None."""
    starts, lengths = [], []
    q = 0
    unpack64, unpack32, crcs = U64.unpack_from, U32.unpack_from, HEADER_CRCS
    add_start, add_length = starts.append, lengths.append
    while q + HEADER <= end:
        length = unpack64(buf, q)[0]
        if length > MAX_PAYLOAD or unpack32(buf, q + 8)[0] != (crcs.get(length) or header_crc(length)):
            return None
        add_start(q)
        add_length(length)
        q += HEADER + length + FOOTER
    if q != end:
        return None
    return np.array(starts, dtype=np.intp), np.array(lengths, dtype=np.intp)


_WALL_COLS = np.arange(1, 9)


@dataclass(eq=False)
class _Group:
    """Records of one layout: a template, or a file_version (``version``: its text and value)."""

    p0s: np.ndarray  # payload starts
    seqs: np.ndarray  # record indices
    n: int
    tmpl: np.ndarray  # payload bytes of the group's first record
    mask: np.ndarray
    var_cols: np.ndarray
    tables: np.ndarray
    tp: Template | None
    version: tuple[str, float] | None


def _version_group(buf: memoryview, data: np.ndarray, p0: int, n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, float]] | None:
    """A file_version record (a wall time and a file_version, nothing else): its mask, CRC tables, (text, value)."""
    if n < 11 or buf[p0] != 0x09 or buf[p0 + 9] != 0x1A or buf[p0 + 10] != n - 11:
        return None
    tail = bytes(buf[p0 + 9 : p0 + n])
    known = _VERSIONS.get(tail)
    if known is None:
        if len(_VERSIONS) >= 64:
            _VERSIONS.clear()
        text = tail[2:].decode("utf-8", "replace")
        mask = np.full(n, 0xFF, dtype=np.uint8)
        mask[1:9] = 0
        known = _VERSIONS[tail] = (mask, crc_tables(data[p0 : p0 + n].copy(), _WALL_COLS), (text, parse_file_version(text)))
    return known


#: file_version records by their bytes after the wall time: (mask, CRC tables, (text, value)).
_VERSIONS: dict[bytes, tuple[np.ndarray, np.ndarray, tuple[str, float]]] = {}


def _groups(buf: memoryview, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> list[_Group] | None:
    """Every record in a group of one layout, each group found by its first record; None when a
    record is of no plannable layout."""
    out: list[_Group] = []
    for n in sorted(set(lengths.tolist())):
        left = np.flatnonzero(lengths == n)
        while len(left):
            if len(out) >= MAX_TEMPLATES:
                return None
            p0 = int(starts[left[0]]) + HEADER
            version = _version_group(buf, data, p0, n)
            tp = None
            if version is not None:
                mask, tables, value = version
                var_cols = _WALL_COLS
            else:
                tp = template_for(data[p0 : p0 + n])
                if tp is None or not fields_cover(tp) or not len(tp.var_cols):
                    return None
                mask, tables, value, var_cols = tp.mask, tp.tables, None, tp.var_cols
            tmpl = data[p0 : p0 + n]
            p0s = starts[left] + HEADER
            rows = data[p0s[:, None] + np.arange(n)]
            ok = ~np.bitwise_and(rows ^ tmpl, mask).any(axis=1)
            if not ok[0]:
                return None
            out.append(_Group(p0s[ok], left[ok], n, tmpl.copy(), mask, var_cols, tables, tp, value))
            left = left[~ok]
    return out


def build(buf: memoryview, data: np.ndarray, order: list[str]) -> FilePlan | None:
    """The plan of the file ``data`` (``buf``'s bytes), its tags in ``order`` (as the file read
    record by record holds them); None: not a file of plain scalar records and file_versions,
    with a version-2 file_version first."""
    got = groups_of(buf, data)
    return None if got is None else assemble(data, got, order)


def groups_of(buf: memoryview, data: np.ndarray) -> list[_Group] | None:
    """The file's records framed and grouped by layout (None: not framed whole, or a record of
    no plannable layout)."""
    framed = frames(buf, len(data))
    if framed is None or not len(framed[0]):
        return None
    return _groups(buf, data, *framed)


def file_mask(size: int, groups: list[_Group]) -> np.ndarray:
    """The mask of a file's fixed bytes (0xFF fixed, 0x80 a varint's continuation bit only, 0
    free), its records grouped as ``groups`` say."""
    mask = np.full(size, 0xFF, dtype=np.uint8)
    for g in groups:
        free = np.flatnonzero(g.mask != 0xFF)  # (the rest stays fixed: 0xFF)
        cols = np.concatenate((free, np.arange(g.n, g.n + FOOTER)))  # and the payload CRC's bytes
        mask[g.p0s[:, None] + cols] = np.concatenate((g.mask[free], np.zeros(FOOTER, dtype=np.uint8)))
    return mask


def assemble(data: np.ndarray, groups: list[_Group], order: list[str]) -> FilePlan | None:
    """The plan of the file ``data`` whose records are ``groups`` (every record in one; see
    :func:`groups_of`), its tags in ``order``; None: no version-2 file_version first, or tables
    the arena cannot hold."""
    versions = sorted((int(s), *g.version) for g in groups if g.version is not None for s in g.seqs.tolist())
    if not versions or versions[0][0] != 0 or any(v[2] < 2 for v in versions):
        return None  # without a version-2 file_version first, steps going back purge points
    n_rec = sum(len(g.seqs) for g in groups)
    k = max(len(g.var_cols) for g in groups)
    if k * n_rec > 2 * sum(len(g.var_cols) * len(g.seqs) for g in groups):
        return None  # (records of very different numbers of variable bytes: too much padding)
    crc_cols = np.zeros((k, n_rec), dtype=np.intp)
    crc_index = np.zeros((k, n_rec), dtype=np.intp)  # padding: the arena's first table, zeros
    footers = np.zeros(n_rec, dtype=np.intp)
    for g in groups:
        at = _in_arena(g.tables)
        if at is None:
            return None
        v = len(g.var_cols)
        crc_cols[:v, g.seqs] = g.var_cols[:, None] + g.p0s
        crc_index[:v, g.seqs] = (at + 256 * np.arange(v))[:, None]
        footers[g.seqs] = g.p0s + g.n
    points = _points(groups, order)
    if points is None:
        return None
    r = len(data) % 8
    return FilePlan(
        records=n_rec,
        versions=tuple(versions),  # type: ignore[arg-type]
        head=data[:r].tobytes(),
        **fixed_words(data, file_mask(len(data), groups)),
        crc_cols=crc_cols,
        crc_index=crc_index,
        footers=footers,
        **points,
    )


def fixed_words(data: np.ndarray, mask: np.ndarray) -> dict:
    """FilePlan's ``fixed`` and ``mask64`` of the file ``data`` (its fixed bytes: ``mask``)."""
    r = len(data) % 8
    mask64 = mask[r:].view("<u8")  # (a view of mask, aligned or not)
    return {"fixed": np.bitwise_and(data[r:].view("<u8"), mask64).tobytes(), "mask64": mask64}


#: Every CRC table plans use, once (flat, rotated): entries 0-255 are zeros (the padding's).
_ARENA = np.zeros(1 << 16, dtype=np.uint32)
_arena_used = 256
#: Offset of each table in the arena, by its identity (a template's tables, a file_version's:
#: both cached, so the same few come back; the tables are kept alive here).
_ARENA_AT: dict[int, tuple[np.ndarray, int]] = {}
#: Entries the arena may hold (4 bytes each); when full, no more plans are built.
ARENA_LIMIT = 1 << 22


def arena() -> np.ndarray:
    """The CRC tables plans index into (one array: it may be replaced as it grows)."""
    return _ARENA


def _in_arena(tables: np.ndarray) -> int | None:
    """Offset of ``tables`` (flat, each entry rotated right by 15 bits as the CRC mask rotates)
    in the arena, added if new; None when the arena is full."""
    global _ARENA, _arena_used
    got = _ARENA_AT.get(id(tables))
    if got is not None and got[0] is tables:
        return got[1]
    flat = tables.reshape(-1).astype(np.uint32)
    at, end = _arena_used, _arena_used + len(flat)
    if end > ARENA_LIMIT:
        return None
    if end > len(_ARENA):
        grown = np.zeros(max(2 * len(_ARENA), end), dtype=np.uint32)
        grown[:at] = _ARENA[:at]
        _ARENA = grown
    _ARENA[at:end] = (flat >> np.uint32(15)) | (flat << np.uint32(17))
    _ARENA_AT[id(tables)] = (tables, at)
    _arena_used = end
    return at


def _points(groups: list[_Group], order: list[str]) -> dict | None:
    """Every point's record index and fields, tag by tag in ``order``, each tag's in record
    order (a record's values in their order): FilePlan's seqs, walls, steps, values and tags."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, tuple]]] = {}  # tag -> (sort keys, seqs, fields)
    most = max((len(g.tp.outputs) for g in groups if g.tp is not None), default=1)
    for g in groups:
        tp = g.tp
        if tp is None:
            continue
        for o, out in enumerate(tp.outputs):
            wall = g.p0s + tp.wall if tp.wall is not None else None
            step = (g.p0s + tp.step[0], tp.step[1]) if tp.step is not None else None
            parts.setdefault(out.tag, []).append((g.seqs * most + o, g.seqs, (wall, step, out.kind, out.width, g.p0s + out.col, out.meta)))
    if sorted(parts) != sorted(order):
        return None
    seqs, tags, cols = [], [], []  # cols: per piece of points, (wall, step, kind, width, value at)
    metas: dict[str, tuple[int, str]] = {}
    start = 0
    for tag in order:
        pieces = sorted(parts[tag], key=lambda p: int(p[0][0]))
        n = sum(len(p[1]) for p in pieces)
        for j, (_, s, (wall, step, kind, width, value, meta)) in enumerate(pieces):
            if meta is not None and (tag not in metas or int(s[0]) < metas[tag][0]):
                metas[tag] = (int(s[0]), meta)
        if all(a[0][-1] < b[0][0] for a, b in zip(pieces, pieces[1:])):
            # Pieces one after the other (the usual case): their points in place, as they are.
            at = start
            for keys, s, (wall, step, kind, width, value, _) in pieces:
                cols.append((np.arange(at, at + len(s)), wall, step, kind, width, value))
                at += len(s)
            seqs.extend(p[1] for p in pieces)
        else:
            keys = np.concatenate([p[0] for p in pieces])
            perm = np.argsort(keys, kind="stable")
            bounds = np.cumsum([0] + [len(p[1]) for p in pieces])
            piece = np.searchsorted(bounds, perm, side="right") - 1  # each sorted point's piece
            seqs.append(np.concatenate([p[1] for p in pieces])[perm])
            for j, (_, s, (wall, step, kind, width, value, _)) in enumerate(pieces):
                where = start + np.flatnonzero(piece == j)  # these points' places
                idx = perm[piece == j] - bounds[j]  # and their indices in the piece
                cols.append((where, wall[idx] if wall is not None else None, (step[0][idx], step[1]) if step else None, kind, width, value[idx]))
        tags.append((tag, start, start + n, metas.get(tag)))
        start += n
    walls = _fields([(w, "<f8", 8, a) for w, a, _, _, _, _ in cols if a is not None], start)
    if len(walls) > 1:
        return None
    return {
        "seqs": np.concatenate(seqs).astype(np.int64) if seqs else np.zeros(0, dtype=np.int64),
        "walls": walls[0] if walls else None,
        "steps": merge_steps(_fields([(w, STEP, s[1], s[0]) for w, _, s, _, _, _ in cols if s is not None], start), start),
        "values": tuple(_fields([(w, kind, width, v) for w, _, _, kind, width, v in cols], start)),
        "tags": tuple(tags),
    }


def _fields(items: list[tuple[np.ndarray, str, int, np.ndarray]], n: int) -> list[Field]:
    """(points, kind, width, first bytes) -> one field per (kind, width), its points in order."""
    groups: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    for where, kind, width, at in items:
        groups.setdefault((kind, width), []).append((where, at))
    out = []
    for (kind, width), members in groups.items():
        where = np.concatenate([m[0] for m in members])
        at = np.concatenate([m[1] for m in members])
        order = np.argsort(where, kind="stable")
        where, at = where[order], at[order]
        whole = len(groups) == 1 and len(where) == n
        out.append(Field(kind, width, None if whole else where.astype(np.intp), at.astype(np.intp)))
    return out
