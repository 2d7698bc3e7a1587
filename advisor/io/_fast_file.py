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

Exactness: a plan is built only from a file that a second file of the same size follows (most
files of a sweep repeat some size; a size seen once costs nothing), and is kept only if it reads
that file exactly as the record-by-record path does, point for point, tag order included. A file
is read by its plan only when everything is plain: every fixed byte matches, every CRC passes
(when checked), no value or wall time is NaN (its bits are the general decoder's business, see
:mod:`advisor.io._fast_single`), and the file starts with a version-2 file_version. Anything
else returns False before the accumulator is touched, and the caller reads the file as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from advisor.io._fast_template import STEP, Template, convert, crc_tables, fields_cover, template_for
from advisor.io.accumulator import Accumulator, TagData
from advisor.io.crc32c import mask
from advisor.io.events import parse_file_version
from advisor.io.records import FOOTER, HEADER, MAX_RECORD, U32, U64, header_crc

#: Files up to this size get plans (larger ones amortise their fixed cost over their cycles).
MAX_FILE = 256 << 10
#: Bytes of plans kept in all (about 7 bytes per byte of file); the oldest go first.
CACHE_BYTES = 32 << 20
#: A plan is built when this many files of one size came without one (then again at 4x that).
BUILD_AT = 2
#: Sizes remembered without a plan, at most (then forgotten all at once).
SEEN_LIMIT = 4096

#: Value kinds whose bytes an overlapping strided view reads as they are.
_VIEWS = frozenset({"<f8", "<f4", "<f2", "<i4", "<i8", "<i2", "i1", "u1", "<u2", "<u4", "<u8"})
_FLOATS = frozenset({"<f4", "<f2"})  # converted to float64 (a float64 value is copied as it is)


@dataclass(eq=False)
class _Field:
    """One kind of field at some points: where (all points when ``sel`` is None) and at which bytes."""

    kind: str
    width: int
    sel: np.ndarray | None  # point indices
    at: np.ndarray  # first byte of each (intp)


@dataclass(eq=False)
class FilePlan:
    tmpl: np.ndarray  # (size,) uint8: the file the plan was built from
    mask: np.ndarray  # (size,) uint8 per byte: 0xFF fixed, 0x80 varint continuation bit only, 0 free
    records: int
    versions: tuple[tuple[int, str, float], ...]  # (record index, text, parsed) of each file_version
    head: bytes  # the file's first size % 8 bytes (fixed: the first record's length)
    tmpl64: np.ndarray  # the rest of tmpl and mask as uint64 words
    mask64: np.ndarray
    # Payload CRCs: crc_cols (K, R) are the variable bytes of each record (a column per record,
    # padded with a zero table), crc_index the offset of each one's table in crc_table (flat,
    # each template's tables once, every entry rotated as the CRC mask rotates: rotation is
    # linear, so their XOR is the masked CRC less the mask's constant).
    crc_cols: np.ndarray
    crc_index: np.ndarray
    crc_table: np.ndarray
    footers: np.ndarray  # (R,) byte of each record's payload CRC
    seqs: np.ndarray  # (P,) record index of each point, tag by tag
    walls: _Field | None
    steps: tuple[_Field, ...]
    values: tuple[_Field, ...]
    tags: tuple[tuple[str, int, int, tuple[int, str] | None], ...]  # (tag, first point, end, first metadata)

    @property
    def nbytes(self) -> int:
        arrays = [self.tmpl, self.mask, self.tmpl64, self.mask64, self.crc_cols, self.crc_index, self.crc_table, self.footers, self.seqs]
        arrays += [f.at for f in (*self.steps, *self.values, *((self.walls,) if self.walls else ()))]
        return sum(a.nbytes for a in arrays)


_PLANS: dict[int, list[FilePlan]] = {}
_SEEN: dict[int, int] = {}
_held = 0  # bytes of plans kept


def applies(pos: int, end: int, base: int, acc: Accumulator, eof: bool) -> bool:
    """Whether buf[pos:end] is a whole small file and ``acc`` a fresh one (a plan's case)."""
    return pos == 0 and base == 0 and eof and 0 < end <= MAX_FILE and not acc.records and acc.damage.open_at is None


def decode_file(buf: memoryview, data: np.ndarray, acc: Accumulator, verify_crc: bool) -> bool:
    """Read the whole file ``data`` (``buf``'s bytes) into the fresh ``acc`` by a cached plan;
    False (``acc`` untouched) when no plan reads it exactly."""
    plans = _PLANS.get(len(data))
    if not plans:
        return False
    r = len(data) % 8
    words = np.ndarray((len(data) // 8,), dtype="<u8", buffer=data, offset=r)
    for plan in plans:
        x = np.bitwise_xor(words, plan.tmpl64)
        np.bitwise_and(x, plan.mask64, out=x)
        if buf[:r] == plan.head and not np.count_nonzero(x):
            return _apply(plan, data, acc, verify_crc)
    return False


_DELTA = np.uint32(mask(0))  # the constant a masked CRC adds


def _apply(plan: FilePlan, data: np.ndarray, acc: Accumulator, verify_crc: bool) -> bool:
    """Decode the file ``data``, whose fixed bytes match ``plan``'s (False: a CRC fails or a value is NaN)."""
    if verify_crc:
        rot = np.bitwise_xor.reduce(plan.crc_table.take(np.add(data[plan.crc_cols], plan.crc_index)), axis=0)
        stored = np.ndarray((len(data) - 3,), dtype="<u4", buffer=data, strides=(1,))[plan.footers]
        if np.count_nonzero(np.not_equal(rot, np.subtract(stored, _DELTA))):
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


def _gather(data: np.ndarray, n: int, fields: tuple[_Field, ...], dtype: type) -> np.ndarray | None:
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


def _read(data: np.ndarray, f: _Field) -> np.ndarray | None:
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
    with np.errstate(all="ignore"):
        out = convert(data[f.at[:, None] + np.arange(f.width)], f.kind)
    return None if f.kind != STEP and np.isnan(out).any() else out


# --------------------------------------------------------------------------- learning


def learn(buf: memoryview, data: np.ndarray, reference: Callable[[Accumulator], object]) -> None:
    """Note a file that no plan read; at the BUILD_AT-th file of its size (and 4x later), build
    a plan from it, kept if it reads the file exactly as ``reference`` (the record-by-record
    path, into a fresh accumulator, CRCs checked) does."""
    size = len(data)
    if len(_SEEN) >= SEEN_LIMIT:
        _SEEN.clear()
    count = _SEEN[size] = _SEEN.get(size, 0) + 1
    if count not in (BUILD_AT, 4 * BUILD_AT, 16 * BUILD_AT):
        return
    ref = Accumulator()
    reference(ref)
    expected = ref.tag_data()
    plan = _build(buf, data, list(ref.chunks))
    if plan is None:
        return
    mine = Accumulator()
    if _apply(plan, data, mine, True) and _same(ref, expected, mine, mine.tag_data()):
        _keep(size, plan)


def _keep(size: int, plan: FilePlan) -> None:
    global _held
    while _held + plan.nbytes > CACHE_BYTES and _PLANS:
        old = next(iter(_PLANS))
        _held -= sum(p.nbytes for p in _PLANS.pop(old))
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


def _frames(buf: memoryview, end: int) -> list[tuple[int, int]] | None:
    """(start, payload length) of every record, framing the whole buffer exactly; else None."""
    out = []
    q = 0
    while q < end:
        if q + HEADER > end:
            return None
        length = U64.unpack_from(buf, q)[0]
        if length > MAX_RECORD or U32.unpack_from(buf, q + 8)[0] != header_crc(length) or q + HEADER + length + FOOTER > end:
            return None
        out.append((q, length))
        q += HEADER + length + FOOTER
    return out


_WALL_COLS = np.arange(1, 9)


def _version(buf: memoryview, p0: int, n: int) -> tuple[str, float] | None:
    """A record that is a wall time and a file_version, nothing else: (text, parsed version)."""
    if n < 11 or buf[p0] != 0x09 or buf[p0 + 9] != 0x1A or buf[p0 + 10] != n - 11:
        return None
    text = bytes(buf[p0 + 11 : p0 + n]).decode("utf-8", "replace")
    return text, parse_file_version(text)


class _Builder:
    """Collects a plan's parts record by record."""

    def __init__(self, data: np.ndarray) -> None:
        self.mask = np.full(len(data), 0xFF, dtype=np.uint8)
        self.crc_cols: list[list[int]] = []  # per record
        self.crc_index: list[list[int]] = []
        self.footers: list[int] = []
        self.tables: list[np.ndarray] = []
        self.table_at: dict[int, int] = {}  # id(template) -> offset of its tables
        self.points: list[tuple[str, int, int | None, tuple[int, int] | None, tuple[str, int, int], str | None]] = []
        self.versions: list[tuple[int, str, float]] = []
        self.keep: list[Template] = []  # the templates whose ids key table_at, alive meanwhile

    def record(self, p0: int, n: int, cols: np.ndarray, tables: np.ndarray, key: object) -> None:
        """A record's variable payload columns (relative to ``p0``) and their CRC tables."""
        self.mask[p0 + n : p0 + n + FOOTER] = 0
        at = self.table_at.get(id(key))
        if at is None:
            at = self.table_at[id(key)] = sum(len(t) for t in self.tables) * 256
            self.tables.append(tables)
        self.crc_cols.append((p0 + cols).tolist())
        self.crc_index.append(list(range(at, at + 256 * len(cols), 256)))
        self.footers.append(p0 + n)

    def template(self, seq: int, p0: int, n: int, tp: Template) -> None:
        self.keep.append(tp)
        self.mask[p0 : p0 + n] = tp.mask
        self.record(p0, n, tp.var_cols, tp.tables, tp)
        wall = p0 + tp.wall if tp.wall is not None else None
        step = (p0 + tp.step[0], tp.step[1]) if tp.step is not None else None
        for out in tp.outputs:
            self.points.append((out.tag, seq, wall, step, (out.kind, p0 + out.col, out.width), out.meta))


def _build(buf: memoryview, data: np.ndarray, order: list[str]) -> FilePlan | None:
    """The plan of the file ``data`` (None: not one of plain scalar records and file_versions),
    its tags in ``order`` (as the file read record by record holds them)."""
    frames = _frames(buf, len(data))
    if not frames:
        return None
    b = _Builder(data)
    for seq, (start, n) in enumerate(frames):
        p0 = start + HEADER
        version = _version(buf, p0, n)
        if version is not None:
            b.mask[p0 + 1 : p0 + 9] = 0
            tmpl = data[p0 : p0 + n].copy()
            b.record(p0, n, _WALL_COLS, crc_tables(tmpl, _WALL_COLS), tmpl)
            b.keep.append(tmpl)  # type: ignore[arg-type]
            b.versions.append((seq, *version))
            continue
        tp = template_for(data[p0 : p0 + n]) if n <= 4096 else None
        if tp is None or not fields_cover(tp) or not len(tp.var_cols):
            return None
        b.template(seq, p0, n, tp)
    if not b.versions or b.versions[0][0] != 0 or any(v[2] < 2 for v in b.versions):
        return None  # without a version-2 file_version first, steps going back purge points
    return _assemble(data, b, order)


def _assemble(data: np.ndarray, b: _Builder, order: list[str]) -> FilePlan | None:
    by_tag: dict[str, list[int]] = {}
    for i, pt in enumerate(b.points):
        by_tag.setdefault(pt[0], []).append(i)
    if sorted(by_tag) != sorted(order):
        return None
    pts = [b.points[i] for tag in order for i in by_tag[tag]]
    tags, at = [], 0
    for tag in order:
        k = len(by_tag[tag])
        metas = [(pt[1], pt[5]) for pt in pts[at : at + k] if pt[5] is not None]
        tags.append((tag, at, at + k, min(metas) if metas else None))
        at += k
    walls = _fields([(i, "<f8", 8, pt[2]) for i, pt in enumerate(pts) if pt[2] is not None], len(pts))
    steps = _fields([(i, STEP, pt[3][1], pt[3][0]) for i, pt in enumerate(pts) if pt[3] is not None], len(pts))
    values = _fields([(i, pt[4][0], pt[4][2], pt[4][1]) for i, pt in enumerate(pts)], len(pts))
    k = max(len(c) for c in b.crc_cols)
    if len(walls) > 1 or k * len(b.crc_cols) > 2 * sum(len(c) for c in b.crc_cols):
        return None  # (records of very different numbers of variable bytes: too much padding)
    table = np.concatenate([t.reshape(-1) for t in b.tables] + [np.zeros(256, dtype=np.uint32)]).astype(np.uint32)
    zero = len(table) - 256  # a table of zeros: the padding's
    r = len(data) % 8
    intp = np.intp
    return FilePlan(
        tmpl=data.copy(),
        mask=b.mask,
        records=len(b.footers),
        versions=tuple(b.versions),
        head=data[:r].tobytes(),
        tmpl64=data[r:].view("<u8").copy(),
        mask64=b.mask[r:].view("<u8").copy(),
        crc_cols=np.array([c + [0] * (k - len(c)) for c in b.crc_cols], dtype=intp).T.copy(),
        crc_index=np.array([c + [zero] * (k - len(c)) for c in b.crc_index], dtype=intp).T.copy(),
        crc_table=(table >> np.uint32(15)) | (table << np.uint32(17)),
        footers=np.array(b.footers, dtype=intp),
        seqs=np.array([pt[1] for pt in pts], dtype=np.int64),
        walls=walls[0] if walls else None,
        steps=tuple(steps),
        values=tuple(values),
        tags=tuple(tags),
    )


def _fields(items: list[tuple[int, str, int, int]], n: int) -> list[_Field]:
    """(point, kind, width, first byte) -> one field per (kind, width)."""
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for i, kind, width, at in items:
        groups.setdefault((kind, width), []).append((i, at))
    out = []
    for (kind, width), members in groups.items():
        sel = np.array([m[0] for m in members], dtype=np.intp)
        whole = len(groups) == 1 and len(members) == n
        out.append(_Field(kind, width, None if whole else sel, np.array([m[1] for m in members], dtype=np.intp)))
    return out
