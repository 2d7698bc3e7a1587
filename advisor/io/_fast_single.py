"""The vectorised reader's templates applied to one record at a time, in plain Python.

The records a batch does not cover (a small file's first records: a tag's first value with
its plugin metadata, the step-0 records; records between stretches) used to go through the
general decoder and a pure-Python CRC of the whole payload, which made them a small file's
largest fixed cost. A record whose length has a cached template (:mod:`advisor.io._fast_template`,
accepted only where the general decoder reads its record the same way) and whose fixed bytes
match it is decoded here instead: its fields are unpacked where the template says, and its
payload CRC is the template's CRC updated by its variable bytes alone (CRC is linear), one
table lookup per variable byte. Anything else (another layout, a CRC that fails, a NaN whose
bits a conversion could change) is left to the general decoder, which then decides it exactly
as before: this path only ever adds what the general decoder would have added.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from advisor.io._fast_template import STEP, Template, crc_tables, template_for
from advisor.io.accumulator import Accumulator
from advisor.io.crc32c import mask
from advisor.io.events import parse_file_version

_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
#: Value kinds decoded here, with their struct formats (others go to the general decoder).
_FORMATS = {"<f4": struct.Struct("<f"), "<f8": struct.Struct("<d")}
#: Payloads longer than this are not tried (a plain scalar record is short).
MAX_PAYLOAD = 512
#: New templates are looked for only among a file's first records (its leading records, which
#: no cycle covers), a few per file; records of layouts already cached are decoded anywhere.
LEADING = 64


@dataclass(eq=False)
class Single:
    """A template as plain-Python checks and field positions."""

    fixed: tuple[tuple[int, bytes], ...]  # (payload column, bytes) of each run of fixed bytes
    cont: tuple[tuple[int, int], ...]  # (column, high bit) of each varint byte: only its high bit is fixed
    var_cols: tuple[int, ...]
    table: list[int]  # 256 CRC contributions per variable column, flat; the template's CRC folded in
    wall: int | None
    step: tuple[int, int] | None
    outputs: tuple[tuple[str, struct.Struct, int, str | None], ...]  # (tag, format, column, plugin)


_SINGLES: dict[int, list[Single]] = {}
_LIMIT = 64  # entries kept per payload length


def _single(tp: Template) -> Single | None:
    """The plain-Python form of ``tp``; None when a value kind is not one decoded here."""
    if any(out.kind not in _FORMATS for out in tp.outputs) or (tp.step is not None and tp.step[1] > 9):
        return None
    m = tp.mask
    fixed, cont = [], []
    run: int | None = None
    for col in range(len(m) + 1):
        full = col < len(m) and m[col] == 0xFF
        if full and run is None:
            run = col
        elif not full and run is not None:
            fixed.append((run, tp.tmpl[run:col].tobytes()))
            run = None
        if col < len(m) and m[col] == 0x80:
            cont.append((col, int(tp.tmpl[col]) & 0x80))
    outputs = tuple((out.tag, _FORMATS[out.kind], out.col, out.meta) for out in tp.outputs)
    return Single(tuple(fixed), tuple(cont), tuple(tp.var_cols.tolist()), tp.tables.reshape(-1).tolist(), tp.wall, tp.step, outputs)


def _lookup(buf: memoryview, p0: int, n: int, acc: Accumulator) -> Single | None:
    cands = _SINGLES.get(n)
    if cands:
        for sg in cands:
            if _matches(sg, buf, p0):
                return sg
    if acc.template_tries <= 0 or acc.records >= LEADING:
        return None  # a file of many layouts (distinct tags): not worth a template each
    acc.template_tries -= 1
    tp = template_for(np.frombuffer(buf, dtype=np.uint8, count=n, offset=p0))
    if tp is None:
        return None
    sg = _single(tp)
    if sg is None or not _matches(sg, buf, p0):
        return None
    cands = _SINGLES.setdefault(n, [])
    cands.append(sg)
    if len(cands) > _LIMIT:
        del cands[0]
    return sg


def _matches(sg: Single, buf: memoryview, p0: int) -> bool:
    for col, fixed in sg.fixed:
        a = p0 + col
        if buf[a : a + len(fixed)] != fixed:
            return False
    for col, bit in sg.cont:
        if buf[p0 + col] & 0x80 != bit:
            return False
    return True


def decode_single(buf: memoryview, p0: int, p1: int, seq: int, acc: Accumulator, verify_crc: bool) -> bool:
    """Decode the record payload buf[p0:p1] (its CRC at p1) as record ``seq`` when a template
    covers it and its CRC passes; False (nothing added) when the general decoder must."""
    n = p1 - p0
    if n > MAX_PAYLOAD:
        return False
    if buf[p0] == 0x09 and n > 9 and buf[p0 + 9] not in (0x10, 0x2A):
        # Wall time, then neither step nor summary: not a scalar record; a file_version maybe.
        return _file_version(buf, p0, p1, seq, acc, verify_crc)
    sg = _lookup(buf, p0, n, acc)
    if sg is None:
        return False
    if verify_crc:
        crc, table, at = 0, sg.table, 0
        for col in sg.var_cols:
            crc ^= table[at + buf[p0 + col]]
            at += 256
        if mask(crc) != _U32.unpack_from(buf, p1)[0]:
            return False
    wall = _F64.unpack_from(buf, p0 + sg.wall)[0] if sg.wall is not None else 0.0
    if wall != wall:
        return False
    step = 0
    if sg.step is not None:
        col, width = sg.step
        for i in range(width):
            step |= (buf[p0 + col + i] & 0x7F) << (7 * i)
        step &= 0xFFFFFFFFFFFFFFFF
        if step >= 1 << 63:
            step -= 1 << 64
    values = []
    for _tag, fmt, col, _meta in sg.outputs:
        v = fmt.unpack_from(buf, p0 + col)[0]
        if v != v:
            return False  # NaN: its payload bits are the general decoder's business
        values.append(v)
    for (tag, _fmt, _col, meta), v in zip(sg.outputs, values):
        if meta is not None:
            acc.note_meta(tag, seq, meta)
        acc.add(tag, step, v, wall, seq)
    return True


#: file_version records (wall time, file_version; every file's first): the bytes after the
#: wall time -> (the version as the general decoder reads it, its parsed value, CRC tables of
#: the wall time's bytes with the record's CRC folded in).
_VERSIONS: dict[bytes, tuple[str, float, list[int]]] = {}
_WALL_COLS = np.arange(1, 9)


def _file_version(buf: memoryview, p0: int, p1: int, seq: int, acc: Accumulator, verify_crc: bool) -> bool:
    """A record that is a wall time and a file_version and nothing else, decoded as the general
    decoder decodes it (the version noted; nothing else is kept of it); False: anything else."""
    n = p1 - p0
    if n < 11 or buf[p0 + 9] != 0x1A or buf[p0 + 10] != n - 11:  # field 3, a length under 128
        return False
    tail = bytes(buf[p0 + 9 : p1])
    known = _VERSIONS.get(tail)
    if known is None:
        if len(_VERSIONS) >= _LIMIT:
            return False
        text = tail[2:].decode("utf-8", "replace")
        tmpl = np.frombuffer(bytes(buf[p0:p1]), dtype=np.uint8)
        known = _VERSIONS[tail] = (text, parse_file_version(text), crc_tables(tmpl, _WALL_COLS).reshape(-1).tolist())
    text, version, table = known
    if verify_crc:
        crc, at = 0, 0
        for col in range(p0 + 1, p0 + 9):
            crc ^= table[at + buf[col]]
            at += 256
        if mask(crc) != _U32.unpack_from(buf, p1)[0]:
            return False
    acc.file_version = text
    acc.versions.append((seq, version))
    return True
