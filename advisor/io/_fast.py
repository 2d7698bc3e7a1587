"""Vectorised record decoding, giving exactly what the general per-record decoder gives.

Real writers (torch's SummaryWriter, tensorboardX, TF1/TF2, Keras, our writer) log one Event
per scalar, and consecutive steps repeat the same few record layouts: the same tags in the
same order, so the same record lengths, and inside each record the same bytes everywhere
except the wall time, the step and the value. This module exploits that, exactly:

1. **Framing by cycles.** Record headers are peeked at (length and header CRC only) until the
   last record lengths repeat with some period ``p`` for ``MIN_CYCLES`` cycles. The cycle then
   predicts where every record of the next cycles starts, and numpy checks that each predicted
   length field (and header CRC) is what the cycle says. That check is exact, not speculative:
   if every predicted header matches, the sequential walk would find exactly those frames.
   The first mismatch (a validation record, a step crossing a varint length, a truncated tail)
   hands back to the peeking, which detects the next cycle.
2. **Templates.** Each record of the cycle ("slot") is parsed once into a template: which byte
   columns hold the wall time, the step varint and the value(s), and that every other byte is
   fixed. Templates exist only for plain scalar records (``simple_value``s, or one-element
   numeric tensors in any encoding, with or without plugin metadata), and are accepted only
   if the general decoder reads the template record the same way. Every record of a batch is
   checked against its template's fixed bytes (and a varint's continuation bits); a record
   that differs anywhere is decoded by the general decoder instead.
3. **Fields, gathered whole.** A field of 1, 2, 4 or 8 bytes is copied for every record at
   once through a view with overlapping elements; the same bytes give the values and feed
   the CRC.
4. **CRC by linearity.** For messages of one length, ``crc(x) = crc(x0) ^ lin(x ^ x0)`` where
   ``lin`` is a XOR of per-position 256-entry tables. Only the variable bytes differ from the
   template, so the payload CRC of a record costs one table lookup per variable byte.

Everything else (file_version, hparams, text, histograms, SessionLog, damaged records) goes
through the general decoder, record by record, with the same record numbers; what depends on
order across records (a tag's first metadata, restarts) is resolved by record number, so the
result is identical on every input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.io import wire
from advisor.io.accumulator import Accumulator
from advisor.io.crc32c import TABLE, crc32c
from advisor.io.events import CONTENT_DTYPES, DT_BFLOAT16, decode_event, decode_payload, decode_records_general
from advisor.io.records import FOOTER, HEADER, HEADER_CRCS, MAX_RECORD, U32, U64, header_crc
from advisor.io.wire import I32, I64, LEN, VARINT, WireError

#: Below this many bytes the general walk is as fast; the fast path is not tried.
MIN_BYTES = 2048
#: A cycle must repeat this many times (seen by peeking at headers) to be decoded as a batch.
MIN_CYCLES = 4
#: Longest cycle looked for, in records (e.g. per-layer norms: one record per layer and step).
MAX_PERIOD = 256
#: Bytes of records decoded per vectorised batch: bounds the temporaries (about 10x this).
BATCH_BYTES = 1 << 20
#: Cycles checked by the first framing window; each next window is 4x larger.
FIRST_WINDOW = 512

_MASK_DELTA = 0xA282EAD8

# Value kinds: a numpy dtype string for fixed-width little-endian values, or a varint kind
# (read as protobuf reads it into the field's type).
_VARINT_I32, _VARINT_I64, _VARINT_U32, _VARINT_U64, _VARINT_BOOL = "vi32", "vi64", "vu32", "vu64", "vbool"
_VARINT_HALF, _VARINT_BF16 = "vh", "vb"
_BF16 = "bf16"


@dataclass(frozen=True)
class _Output:
    """One scalar a record yields: its tag and where and how its value is stored."""

    tag: str
    kind: str
    col: int  # first byte of the value in the payload
    width: int
    meta: str | None  # the plugin this value's metadata names ("scalars" for a simple_value), if any


@dataclass(eq=False)
class _Template:
    """The byte layout of one kind of scalar record (see the module docstring)."""

    tmpl: np.ndarray  # uint8 payload bytes of the record the template was built from
    mask: np.ndarray  # uint8 per byte: 0xFF fixed, 0x80 varint continuation bit only, 0 free
    var_cols: np.ndarray  # payload columns that are not fully fixed
    tables: np.ndarray  # (len(var_cols), 256) uint32 CRC contributions; crc(tmpl) folded into row 0
    wall: int | None  # column of the 8-byte wall time
    step: tuple[int, int] | None  # (column, length) of the step varint
    outputs: tuple[_Output, ...]


# --------------------------------------------------------------------------- entry point


def decode_records(buf: memoryview, pos: int, end: int, base: int, acc: Accumulator, verify_crc: bool) -> tuple[int, str | None]:
    """Decode every complete record in buf[pos:end]; return (position after the last, fatal message)."""
    if end - pos < MIN_BYTES:
        return decode_records_general(buf, pos, end, base, acc, verify_crc)
    data = np.frombuffer(buf, dtype=np.uint8)
    with np.errstate(all="ignore"):  # NaN payloads convert quietly, as struct does
        return _walk(buf, data, pos, end, base, acc, verify_crc)


def _walk(buf: memoryview, data: np.ndarray, pos: int, end: int, base: int, acc: Accumulator, verify_crc: bool) -> tuple[int, str | None]:
    """Peek at record headers; batch every stretch where a cycle of lengths repeats.

    Peeking reads only a record's length (and checks its header CRC), which is cheap; the
    peeked records stay pending until they are either decoded as part of a batch or, when no
    cycle covers them, decoded one by one by the general decoder, always in file order.
    """
    starts: list[int] = []  # pending records: file offsets and payload lengths
    lens: list[int] = []
    keys: list[object] = []  # what must repeat: the length, or (length, first tag) in content mode
    done = 0  # pending records before this index are decoded
    seen: dict[object, list[int]] = {}  # key -> its last few indices in keys
    q = pos  # next header to peek at
    wait = 0  # records to peek before trying a cycle again (after one that did not hold)
    failures = 0
    # Lengths alone can repeat faster than the content (per-layer norms: many tags of equal or
    # periodic lengths per step); when a cycle of lengths turns out to mix templates, periods
    # are looked for in (length, first tag) instead.
    content = False
    unpack64, unpack32 = U64.unpack_from, U32.unpack_from
    crcs = HEADER_CRCS
    while True:
        if q + HEADER > end:
            break
        length = unpack64(buf, q)[0]
        if verify_crc and unpack32(buf, q + 8)[0] != (crcs.get(length) or header_crc(length)):
            break  # the general decoder says what is wrong, exactly as it always does
        if length > MAX_RECORD or q + HEADER + length + FOOTER > end:
            break
        i = len(lens)
        starts.append(q)
        lens.append(length)
        key: object = (length, _first_tag(buf, q + HEADER, q + HEADER + length)) if content else length
        keys.append(key)
        q += HEADER + length + FOOTER
        if wait:
            wait -= 1
        occ = seen.setdefault(key, [])
        period = 0
        for prev in reversed(occ):
            p = i - prev
            if p > MAX_PERIOD:
                break
            lo = i + 1 - MIN_CYCLES * p  # the cycle must already repeat MIN_CYCLES times
            if lo >= done and keys[lo + p : i + 1] == keys[lo : i + 1 - p]:
                period = p
                break
        occ.append(i)
        if len(occ) > 4:
            del occ[0]
        if period and not wait:
            first = i + 1 - MIN_CYCLES * period  # the cycle's first record
            done = _decode_pending(buf, starts, lens, done, first, acc, verify_crc)
            n, new = _run_cycles(buf, data, starts[first], end, lens[first : first + period], acc, verify_crc)
            if n:
                q = new
                starts.clear()
                lens.clear()
                keys.clear()
                seen.clear()
                done = failures = 0
                continue
            if new < 0 and not content:  # the cycle mixes templates: look at the content
                content = True
                seen.clear()
                continue
            failures += 1
            wait = period * min(failures, 16)
        if i - done > 2 * MIN_CYCLES * MAX_PERIOD:
            # No cycle can start this far back any more: decode the old ones, forget them.
            keep = i + 1 - MIN_CYCLES * MAX_PERIOD
            _decode_pending(buf, starts, lens, done, keep, acc, verify_crc)
            del starts[:keep], lens[:keep], keys[:keep]
            seen = {n: [k - keep for k in ks if k >= keep] for n, ks in seen.items()}
            done = 0
    _decode_pending(buf, starts, lens, done, len(lens), acc, verify_crc)
    return decode_records_general(buf, q, end, base, acc, verify_crc)


def _first_tag(buf: memoryview, p0: int, p1: int) -> bytes | None:
    """The tag of an Event's first summary value, read without a full parse (the usual layout:
    wall time, step, summary, value, tag first); None when the record is laid out otherwise."""
    i = p0
    if i < p1 and buf[i] == 0x09:  # wall_time
        i += 9
    if i < p1 and buf[i] == 0x10:  # step
        i += 1
        while i < p1 and buf[i] & 0x80:
            i += 1
        i += 1
    for key in (0x2A, 0x0A):  # summary, its first value (length-delimited)
        if i >= p1 or buf[i] != key:
            return None
        i += 1
        while i < p1 and buf[i] & 0x80:
            i += 1
        i += 1
    if i + 1 >= p1 or buf[i] != 0x0A or buf[i + 1] & 0x80:  # tag, shorter than 128 bytes
        return None
    return bytes(buf[i + 2 : min(p1, i + 2 + buf[i + 1])])


def _decode_pending(buf: memoryview, starts: list[int], lens: list[int], lo: int, hi: int, acc: Accumulator, verify_crc: bool) -> int:
    """Decode pending records lo..hi-1 one by one (general decoder); return hi."""
    for k in range(lo, hi):
        p0 = starts[k] + HEADER
        seq = acc.records
        acc.records += 1
        decode_payload(buf, p0, p0 + lens[k], seq, acc, verify_crc)
    return max(lo, hi)


# --------------------------------------------------------------------------- framing


def _run_cycles(buf: memoryview, data: np.ndarray, pos: int, end: int, lengths: list[int], acc: Accumulator, verify_crc: bool) -> tuple[int, int]:
    """Decode the cycles of ``lengths`` that start at ``pos``; return (records decoded, new pos).

    (0, -1): the lengths repeat but most records differ from the first cycle's templates.
    """
    p = len(lengths)
    sizes = [n + HEADER + FOOTER for n in lengths]
    cycle = sum(sizes)
    avail = (end - pos) // cycle
    if avail < MIN_CYCLES:
        return 0, pos
    offs = [0] * p
    for j in range(1, p):
        offs[j] = offs[j - 1] + sizes[j - 1]
    m = _frame_cycles(data, pos, avail, cycle, offs, lengths, verify_crc)
    if m < MIN_CYCLES:
        return 0, pos
    # Most rows unlike the first (tags that differ at equal lengths): not a cycle of templates.
    k = min(m, 64)
    probe = data[pos : pos + k * cycle].reshape(k, cycle)
    if np.count_nonzero(_mismatches(data, pos, probe, _plan_for(probe[0], offs, lengths))) * 2 > k:
        return 0, -1
    rows = max(BATCH_BYTES // cycle, 512)  # long cycles (many tags per step): amortise per-slot work
    done = 0
    while done < m:
        n = min(rows, m - done)
        _decode_cycles(buf, data, pos + done * cycle, n, cycle, offs, lengths, acc, verify_crc)
        done += n
    return m * p, pos + m * cycle


def _frame_cycles(data: np.ndarray, pos: int, avail: int, cycle: int, offs: list[int], lengths: list[int], verify_crc: bool) -> int:
    """How many whole cycles from ``pos`` have exactly the predicted record headers."""
    starts = np.asarray(offs, dtype=np.intp)
    want_len = np.asarray(lengths, dtype=np.uint64)[:, None]
    want_crc = np.asarray([header_crc(n) for n in lengths], dtype=np.uint32)[:, None]
    done = 0
    window = FIRST_WINDOW
    while done < avail:
        n = min(window, avail - done)
        start = pos + done * cycle
        ok = (_gather(data, start, n, cycle, 8, starts).view("<u8")[..., 0] == want_len).all(axis=0)
        if verify_crc:
            ok &= (_gather(data, start, n, cycle, 4, starts + 8).view("<u4")[..., 0] == want_crc).all(axis=0)
        if not ok.all():
            return done + int(np.argmin(ok))
        done += n
        window *= 4
    return done


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class _Group:
    """One field of several template slots (wall times, steps of one varint length, values of
    one kind): its bytes are gathered once, then both decoded and CRC-checked from there."""

    kind: str
    width: int
    starts: np.ndarray  # (M,) row column of each member's first byte
    slots: np.ndarray  # (M,) the template slot (index into plan.tslots) of each member
    crc_index: np.ndarray  # (M, width, 1) offset of each byte's CRC table in plan.crc_table
    unique: bool  # no slot has two members (so a fancy-index XOR is safe)


@dataclass(frozen=True)
class _Emit:
    """One output of one template slot: (group, member) of its wall time, step and value."""

    tag: str
    meta: str | None
    t: int  # index among the plan's template slots
    wall: tuple[int, int] | None
    step: tuple[int, int] | None
    value: tuple[int, int]


@dataclass(eq=False)
class _Plan:
    """Everything needed to decode cycles of one sequence of templates, precomputed."""

    tmpl: np.ndarray  # (cycle,) uint8
    mask: np.ndarray  # (cycle,) uint8
    tmpl64: np.ndarray  # 8 cycles of tmpl as (cycle,) uint64 words
    mask64: np.ndarray
    general: tuple[int, ...]  # slots decoded record by record
    tslots: np.ndarray  # slots decoded vectorised (intp)
    groups: tuple[_Group, ...]
    crc_table: np.ndarray  # flattened uint32 tables of every variable byte
    foot_starts: np.ndarray  # (T,) row column of each template slot's footer
    emit: tuple[_Emit, ...]


_PLANS: dict[tuple[int, ...], list[_Plan]] = {}
_TEMPLATES: dict[int, list[_Template]] = {}
_CACHE_LIMIT = 64  # entries kept per key; the oldest is dropped
_STEP = "step"
_VARINTS = (_VARINT_I32, _VARINT_I64, _VARINT_U32, _VARINT_U64, _VARINT_BOOL, _VARINT_HALF, _VARINT_BF16, _STEP)


def _decode_cycles(buf: memoryview, data: np.ndarray, start: int, n: int, cycle: int, offs: list[int], lengths: list[int], acc: Accumulator, verify_crc: bool) -> None:
    """Decode ``n`` whole cycles at ``start`` (framing already verified) into ``acc``."""
    p = len(lengths)
    rows = data[start : start + n * cycle].reshape(n, cycle)
    plan = _plan_for(rows[0], offs, lengths)
    seq0 = acc.records
    bad = _mismatches(data, start, rows, plan)
    bad_rows = np.flatnonzero(bad)
    if plan.general or len(bad_rows):
        # Record by record, in file order: these may change state (plugins, restarts, texts).
        for k in range(n) if plan.general else bad_rows.tolist():
            row_at = start + k * cycle
            for j in range(p) if bad[k] else plan.general:
                p0 = row_at + offs[j] + HEADER
                decode_payload(buf, p0, p0 + lengths[j], seq0 + k * p + j, acc, verify_crc)
    acc.records += n * p
    n_t = len(plan.tslots)
    if not n_t or len(bad_rows) == n:
        return
    raw = [_gather(data, start, n, cycle, g.width, g.starts) for g in plan.groups]  # (M, n, width) bytes
    sel = np.broadcast_to(~bad, (n_t, n)) if len(bad_rows) else None  # None: every row
    if verify_crc:
        crc_ok = _crc_ok(data, start, n, cycle, plan, raw)
        sel = crc_ok if sel is None else crc_ok & sel
        acc.bad_crc += n_t * (n - len(bad_rows)) - int(np.count_nonzero(sel))
        if sel.all():
            sel = None
    seqs = [np.arange(seq0 + j, seq0 + j + n * p, p, dtype=np.int64) for j in plan.tslots.tolist()]
    # One array per member, owning its memory: a tag's points can be freed on their own.
    fields = [[x.copy() for x in _convert(b, g.kind)] for g, b in zip(plan.groups, raw)]
    zeros_f = zeros_i = None
    for e in plan.emit:
        q = seqs[e.t]
        if e.wall is not None:
            w = fields[e.wall[0]][e.wall[1]]
        else:
            w = zeros_f = np.zeros(n) if zeros_f is None else zeros_f
        if e.step is not None:
            s = fields[e.step[0]][e.step[1]]
        else:
            s = zeros_i = np.zeros(n, dtype=np.int64) if zeros_i is None else zeros_i
        v = fields[e.value[0]][e.value[1]]
        if sel is not None:
            keep = sel[e.t]
            q, w, s, v = q[keep], w[keep], s[keep], v[keep]
        if len(q):
            if e.meta is not None:
                acc.note_meta(e.tag, int(q[0]), e.meta)
            acc.add_arrays(e.tag, s, v, w, q)


def _gather(data: np.ndarray, start: int, n: int, cycle: int, width: int, starts: np.ndarray) -> np.ndarray:
    """(members, rows, width) bytes of a field of ``width`` bytes at row columns ``starts``.

    A field of 1, 2, 4 or 8 bytes is copied as one element per row and member, through a view
    whose elements overlap (byte stride): several times faster than gathering bytes.
    """
    if width in (1, 2, 4, 8):
        view = np.ndarray((cycle - width + 1, n), dtype=f"<u{width}", buffer=data, offset=start, strides=(1, cycle))
        return view[starts].view(np.uint8).reshape(len(starts), n, width)
    cols = (starts[:, None] + np.arange(width)).reshape(-1)
    rows = data[start : start + n * cycle].reshape(n, cycle)
    return np.ascontiguousarray(rows.T[cols].reshape(len(starts), width, n).transpose(0, 2, 1))


def _mismatches(data: np.ndarray, start: int, rows: np.ndarray, plan: _Plan) -> np.ndarray:
    """Per row: does any fixed byte (or varint continuation bit) differ from the plan's template?"""
    n, cycle = rows.shape
    n8 = n // 8
    bad = np.zeros(n, dtype=bool)
    if n8:
        # Eight cycles are a whole number of 8-byte words: compare words, then look closer
        # at the (rare) groups of eight that differ somewhere.
        words = data[start : start + n8 * 8 * cycle].view("<u8").reshape(n8, cycle)
        x = np.bitwise_xor(words, plan.tmpl64)
        np.bitwise_and(x, plan.mask64, out=x)
        hit = np.flatnonzero(np.bitwise_or.reduce(x, axis=1))
        if len(hit):
            sub = rows[: n8 * 8].reshape(n8, 8, cycle)[hit]
            bad[: n8 * 8].reshape(n8, 8)[hit] = np.bitwise_and(sub ^ plan.tmpl, plan.mask).any(axis=2)
    if n8 * 8 < n:
        bad[n8 * 8 :] = np.bitwise_and(rows[n8 * 8 :] ^ plan.tmpl, plan.mask).any(axis=1)
    return bad


def _crc_ok(data: np.ndarray, start: int, n: int, cycle: int, plan: _Plan, raw: list[np.ndarray]) -> np.ndarray:
    """(template slots, rows): does each payload CRC match? Computed from the variable bytes only."""
    crc = np.zeros((len(plan.tslots), n), dtype=np.uint32)
    for g, b in zip(plan.groups, raw):
        idx = np.empty((len(g.starts), g.width, n), dtype=np.intp)  # intp: take() is slow with others
        np.add(b.transpose(0, 2, 1), g.crc_index, out=idx)
        contrib = np.bitwise_xor.reduce(plan.crc_table.take(idx), axis=1)  # over the field's bytes
        if g.unique:
            crc[g.slots] ^= contrib
        else:
            np.bitwise_xor.at(crc, g.slots, contrib)
    stored = _gather(data, start, n, cycle, 4, plan.foot_starts).view("<u4")[..., 0] - np.uint32(_MASK_DELTA)
    return crc == ((stored << np.uint32(15)) | (stored >> np.uint32(17)))  # unmasked


def _convert(raw: np.ndarray, kind: str) -> np.ndarray:
    """(..., width) uint8 -> values, converted exactly as the general decoder converts them."""
    if kind in _VARINTS:
        v = (raw[..., 0] & 0x7F).astype(np.uint64)
        for i in range(1, raw.shape[-1]):
            v |= (raw[..., i] & 0x7F).astype(np.uint64) << np.uint64(7 * i)
        if kind == _STEP:
            return v.view(np.int64)
        if kind == _VARINT_I64:
            return v.view(np.int64).astype(np.float64)
        if kind == _VARINT_U64:
            return v.astype(np.float64)
        if kind == _VARINT_I32:
            return (v & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.float64)
        if kind == _VARINT_U32:
            return (v & np.uint64(0xFFFFFFFF)).astype(np.float64)
        if kind == _VARINT_BOOL:
            return (v != 0).astype(np.float64)
        bits = (v & np.uint64(0xFFFF)).astype(np.uint16)
        if kind == _VARINT_HALF:
            return bits.view(np.float16).astype(np.float64)
        return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    raw = np.ascontiguousarray(raw)
    if kind == _BF16:
        return (raw.view("<u2")[..., 0].astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    return raw.view(kind)[..., 0].astype(np.float64)


def _plan_for(row: np.ndarray, offs: list[int], lengths: list[int]) -> _Plan:
    """The plan whose fixed bytes ``row`` (one cycle) matches; built and cached when new."""
    plans = _PLANS.setdefault(tuple(lengths), [])
    for plan in plans:
        if not np.bitwise_and(row ^ plan.tmpl, plan.mask).any():
            return plan
    slots = []
    for j, n in enumerate(lengths):
        p0 = offs[j] + HEADER
        slots.append(_template_for(row[p0 : p0 + n]))
    plan = _build_plan(row, offs, lengths, slots)
    plans.append(plan)
    if len(plans) > _CACHE_LIMIT:
        del plans[0]
    return plan


def _build_plan(row: np.ndarray, offs: list[int], lengths: list[int], slots: list[_Template | None]) -> _Plan:
    cycle = len(row)
    tmpl = np.array(row, dtype=np.uint8)
    mask = np.zeros(cycle, dtype=np.uint8)  # headers were checked by the framing; footers vary
    # A template's variable bytes must be exactly its fields' bytes (the CRC covers them so).
    usable = [tp is not None and _fields_cover(tp) for tp in slots]
    general = [j for j, u in enumerate(usable) if not u]
    tslots = [j for j, u in enumerate(usable) if u]
    tables: list[np.ndarray] = []
    groups: dict[tuple[str, int], list[tuple[int, int, list[int]]]] = {}  # (kind, width) -> (slot, start, table rows)
    emit = []

    def member(kind: str, width: int, t: int, p0: int, col: int, tp: _Template, table0: int) -> tuple[int, int]:
        members = groups.setdefault((kind, width), [])
        rows = [table0 + int(np.searchsorted(tp.var_cols, col + i)) for i in range(width)]
        members.append((t, p0 + col, rows))
        return list(groups).index((kind, width)), len(members) - 1

    for t, j in enumerate(tslots):
        tp = slots[j]
        assert tp is not None
        p0 = offs[j] + HEADER
        n = lengths[j]
        tmpl[p0 : p0 + n] = tp.tmpl
        mask[p0 : p0 + n] = tp.mask
        table0 = sum(len(tb) for tb in tables)
        tables.append(tp.tables)
        wall = member("<f8", 8, t, p0, tp.wall, tp, table0) if tp.wall is not None else None
        step = member(_STEP, tp.step[1], t, p0, tp.step[0], tp, table0) if tp.step is not None else None
        for out in tp.outputs:
            emit.append(_Emit(out.tag, out.meta, t, wall, step, member(out.kind, out.width, t, p0, out.col, tp, table0)))
    built = []
    for (kind, width), members in groups.items():
        member_slots = np.array([m[0] for m in members], dtype=np.intp)
        index = np.array([m[2] for m in members], dtype=np.intp).reshape(len(members), width, 1) * 256
        built.append(_Group(kind, width, np.array([m[1] for m in members], dtype=np.intp), member_slots, index, len(set(member_slots.tolist())) == len(members)))
    return _Plan(
        tmpl=tmpl,
        mask=mask,
        tmpl64=np.tile(tmpl, 8).view("<u8"),
        mask64=np.tile(mask, 8).view("<u8"),
        general=tuple(general),
        tslots=np.asarray(tslots, dtype=np.intp),
        groups=tuple(built),
        crc_table=np.concatenate(tables).reshape(-1) if tables else np.zeros(0, dtype=np.uint32),
        foot_starts=np.array([offs[j] + HEADER + lengths[j] for j in tslots], dtype=np.intp),
        emit=tuple(emit),
    )


def _fields_cover(tp: _Template) -> bool:
    """Whether the template's wall, step and value bytes are exactly its variable bytes, once each."""
    cols = list(range(tp.wall, tp.wall + 8)) if tp.wall is not None else []
    if tp.step is not None:
        cols += range(tp.step[0], tp.step[0] + tp.step[1])
    for out in tp.outputs:
        cols += range(out.col, out.col + out.width)
    return sorted(cols) == tp.var_cols.tolist()


def _template_for(payload: np.ndarray) -> _Template | None:
    """The cached template ``payload`` matches, else a new one (None: not a plain scalar record)."""
    cands = _TEMPLATES.setdefault(len(payload), [])
    for tp in cands:
        if not np.bitwise_and(np.bitwise_xor(payload, tp.tmpl), tp.mask).any():
            return tp
    tp = analyze(payload.tobytes())
    if tp is not None:
        cands.append(tp)
        if len(cands) > _CACHE_LIMIT:
            del cands[0]
    return tp


# --------------------------------------------------------------------------- templates


def _scan(buf: bytes, pos: int, end: int):
    """Yield (field, wire type, start, stop) per field: the varint's bytes, a LEN's content, the fixed bytes."""
    while pos < end:
        key, pos = wire.read_varint(buf, pos, end)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        if wt == VARINT:
            _, stop = wire.read_varint(buf, pos, end)
        elif wt == LEN:
            n, pos = wire.read_varint(buf, pos, end)
            stop = pos + n
        elif wt == I64:
            stop = pos + 8
        elif wt == I32:
            stop = pos + 4
        else:
            raise WireError("groups are not part of a template")
        if stop > end:
            raise WireError("field runs past its message")
        yield field, wt, pos, stop
        pos = stop


def analyze(payload: bytes) -> _Template | None:
    """Build the template of one Event payload; None unless it is a plain scalar record.

    Plain means: wall time, optional step and a summary whose values are each a tag and either
    a ``simple_value`` or a one-element numeric tensor (plugin metadata allowed, except the
    hparams plugin's); each field once, in an order the general decoder reads the same way.
    The result is checked against the general decoder on the same bytes.
    """
    try:
        tp = _analyze(payload)
    except (WireError, UnicodeDecodeError, ValueError, OverflowError):
        return None
    if tp is None or not _agrees(tp, payload):
        return None
    return tp


# The fields a plain scalar record may have, by (field number, wire type); each at most once.
_EVENT_FIELDS = {(1, I64): "wall", (2, VARINT): "step", (5, LEN): "summary"}
_VALUE_FIELDS = {(1, LEN): "tag", (2, I32): "simple", (8, LEN): "tensor", (9, LEN): "meta"}
_TENSOR_FIELDS = {
    (1, VARINT): "dtype",
    (2, LEN): "shape",
    **{(f, wt): "value" for f in (4, 5, 6, 7, 10, 11, 13, 16, 17) for wt in (VARINT, I64, LEN, I32)},
}


def _fields_once(p: bytes, start: int, end: int, allowed: dict[tuple[int, int], str]) -> dict[str, tuple[int, int, int, int]] | None:
    """A message's fields by name -> (field, wire type, start, stop); None if a field is not
    allowed or repeats (the general decoder would read such a message differently)."""
    out: dict[str, tuple[int, int, int, int]] = {}
    for f, wt, a, b in _scan(p, start, end):
        name = allowed.get((f, wt))
        if name is None or name in out:
            return None
        out[name] = (f, wt, a, b)
    return out


def _analyze(p: bytes) -> _Template | None:
    n = len(p)
    event = _fields_once(p, 0, n, _EVENT_FIELDS)
    if event is None or "summary" not in event:
        return None
    mask = np.full(n, 0xFF, dtype=np.uint8)
    wall = step = None
    if "wall" in event:
        wall = event["wall"][2]
        mask[wall : wall + 8] = 0
    if "step" in event:
        _, _, a, b = event["step"]
        step = (a, b - a)
        mask[a:b] = 0x80
    outputs: list[_Output] = []
    for f, wt, a, b in _scan(p, event["summary"][2], event["summary"][3]):
        out = _analyze_value(p, a, b, mask) if (f, wt) == (1, LEN) else None
        if out is None:
            return None
        outputs.append(out)
    if not outputs:
        return None
    tmpl = np.frombuffer(p, dtype=np.uint8).copy()
    var_cols = np.flatnonzero(mask != 0xFF)
    return _Template(tmpl, mask, var_cols, _crc_tables(tmpl, var_cols), wall, step, tuple(outputs))


def _analyze_value(p: bytes, start: int, end: int, mask: np.ndarray) -> _Output | None:
    value = _fields_once(p, start, end, _VALUE_FIELDS)
    if value is None or "tag" not in value or ("simple" in value) == ("tensor" in value):
        return None
    tag = p[value["tag"][2] : value["tag"][3]].decode("utf-8", "replace")
    if "simple" in value:  # TensorBoard reads any simple_value as a scalar, whatever its metadata
        col = value["simple"][2]
        mask[col : col + 4] = 0
        return _Output(tag, "<f4", col, 4, "scalars")
    meta = value.get("meta")
    plugin = _plugin_name(p, meta[2], meta[3]) if meta is not None else None
    if plugin == "hparams" or (meta is not None and plugin is None):
        return None
    got = _analyze_tensor(p, value["tensor"][2], value["tensor"][3])
    if got is None:
        return None
    kind, col, width = got
    mask[col : col + width] = 0x80 if kind in _VARINTS else 0
    return _Output(tag, kind, col, width, plugin)


def _plugin_name(p: bytes, start: int, end: int) -> str | None:
    """SummaryMetadata -> its plugin name ("" without one); None when it is not a plain one."""
    names: list[str] = []
    for f, wt, a, b in _scan(p, start, end):
        if f == 1 and wt == LEN:  # PluginData: its name field, once
            names.extend(p[a2:b2].decode("utf-8", "replace") for f2, wt2, a2, b2 in _scan(p, a, b) if f2 == 1 and wt2 == LEN)
            if len(names) != 1:
                return None
    return names[0] if names else ""


_VARINT_FIELDS = {7: _VARINT_I32, 10: _VARINT_I64, 16: _VARINT_U32, 17: _VARINT_U64, 11: _VARINT_BOOL, 13: _VARINT_HALF}


def _analyze_tensor(p: bytes, start: int, end: int) -> tuple[str, int, int] | None:
    """A one-element numeric TensorProto -> (value kind, column, width)."""
    fields = _fields_once(p, start, end, _TENSOR_FIELDS)
    # The dtype must come first: the general decoder reads half_val by the dtype seen so far.
    if fields is None or "dtype" not in fields or "value" not in fields or fields["dtype"][2] > fields["value"][2]:
        return None
    dtype = wire.read_varint(p, fields["dtype"][2], fields["dtype"][3])[0]
    if "shape" in fields and not _one_element(p, fields["shape"][2], fields["shape"][3]):
        return None
    value = fields["value"]
    f, wt, a, b = value
    if f == 4:  # tensor_content
        if wt != LEN:
            return None
        if dtype == DT_BFLOAT16:
            return (_BF16, a, 2) if b - a == 2 else None
        np_dtype = CONTENT_DTYPES.get(dtype)
        if np_dtype is None or b - a != np.dtype(np_dtype).itemsize:
            return None
        return np_dtype, a, b - a
    if f in (5, 6):  # float_val, double_val: packed (LEN) or not
        width = 4 if f == 5 else 8
        if (wt == LEN or wt == (I32 if f == 5 else I64)) and b - a == width:
            return ("<f4" if f == 5 else "<f8"), a, width
        return None
    kind = _VARINT_FIELDS[f]
    if f == 13:
        kind = _VARINT_BF16 if dtype == DT_BFLOAT16 else _VARINT_HALF
    if wt == LEN and wire.read_varint(p, a, b)[1] != b:
        return None  # packed: exactly one varint
    if wt not in (LEN, VARINT):
        return None
    if kind == _VARINT_BOOL and b - a > 9:
        return None  # a 10-byte varint may be nonzero only beyond the 64 bits decoded here
    return kind, a, b - a


def _one_element(p: bytes, start: int, end: int) -> bool:
    """TensorShapeProto with known rank and every dimension of size 1."""
    for f, wt, a, b in _scan(p, start, end):
        if f != 2 or wt != LEN:
            return False
        sizes = []
        for f2, wt2, a2, b2 in _scan(p, a, b):
            if f2 == 1 and wt2 == VARINT:
                sizes.append(wire.read_varint(p, a2, b2)[0])
            elif f2 != 2 or wt2 != LEN:  # dim name is harmless
                return False
        if len(sizes) > 1 or (sizes and sizes[0] != 1):
            return False
    return True


def _crc_tables(tmpl: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per variable column j: T[b] = the CRC change of byte b at j instead of tmpl[j]; crc(tmpl) folded in."""
    n = len(tmpl)
    out = np.zeros((len(cols), 256), dtype=np.uint32)
    if not len(cols):
        return out
    # t holds the contribution of each byte value followed by d zero bytes, for d = 0, 1, ...
    t = TABLE.copy()
    want = {n - 1 - int(c): i for i, c in enumerate(cols)}
    eight = np.uint32(8)
    for d in range(max(want) + 1):
        i = want.get(d)
        if i is not None:
            out[i] = t[np.arange(256) ^ int(tmpl[cols[i]])]
        t = TABLE[t & 0xFF] ^ (t >> eight)
    out[0] ^= np.uint32(crc32c(tmpl.tobytes()))
    return out


def _agrees(tp: _Template, payload: bytes) -> bool:
    """The template reads its own record exactly as the general decoder does."""
    ref = Accumulator()
    try:
        decode_event(memoryview(payload), 0, len(payload), 0, ref)
    except Exception:
        return False
    if ref.restarts or ref.hparams_content or ref.text_candidates or ref.versions or ref.non_scalar:
        return False
    row = np.frombuffer(payload, dtype=np.uint8)

    def field(kind: str, col: int, width: int) -> object:
        return _convert(row[col : col + width][None, :], kind)[0]

    with np.errstate(all="ignore"):
        wall = float(field("<f8", tp.wall, 8)) if tp.wall is not None else 0.0
        step = int(field(_STEP, tp.step[0], tp.step[1])) if tp.step is not None else 0  # type: ignore[call-overload]
        mine: dict[str, list[float]] = {}
        for out in tp.outputs:
            mine.setdefault(out.tag, []).append(float(field(out.kind, out.col, out.width)))  # type: ignore[arg-type]
    # The general decoder's points, before any tag is resolved by its plugin.
    if sorted(mine) != sorted(ref.steps):
        return False
    for tag, vals in mine.items():
        if ref.steps[tag] != [step] * len(vals) or ref.seqs[tag] != [0] * len(vals):
            return False
        if np.asarray(ref.walls[tag], dtype=np.float64).tobytes() != np.full(len(vals), wall).tobytes():
            return False
        if np.asarray(vals, dtype=np.float64).tobytes() != np.asarray(ref.values[tag], dtype=np.float64).tobytes():
            return False
    notes = {}
    for out in tp.outputs:
        if out.meta is not None and out.tag not in notes:
            notes[out.tag] = (0, out.meta)
    if notes != ref.first_meta:
        return False
    # The CRC tables reproduce the template's own CRC.
    crc = np.bitwise_xor.reduce(tp.tables[np.arange(len(tp.var_cols)), tp.tmpl[tp.var_cols]]) if len(tp.var_cols) else np.uint32(0)
    return int(crc) == crc32c(payload)
