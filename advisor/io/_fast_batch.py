"""The vectorised reader's batches: cycles of records decoded and CRC-checked as arrays.

A plan (one per sequence of templates, cached) says where each template slot's fields lie in
a cycle of records; a batch gathers each field for every cycle at once, checks the fixed bytes
and the payload CRCs, and adds the points to the accumulator. See :mod:`advisor.io._fast`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.io._fast_template import CACHE_LIMIT, STEP, Template, convert, fields_cover, template_for
from advisor.io.accumulator import Accumulator
from advisor.io.crc32c import unmask_array
from advisor.io.events import decode_payload
from advisor.io.records import FOOTER, HEADER, holds_record, payload_ok


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
    var_cycle: np.ndarray  # (V,) row column of every variable byte of the template slots, slot by slot
    var_table: np.ndarray  # (V,) offset of each one's CRC table in crc_table
    var_bounds: np.ndarray  # (T,) where each template slot's variable bytes begin in var_cycle
    emit: tuple[_Emit, ...]


_PLANS: dict[tuple[int, ...], list[_Plan]] = {}
_NONE = np.zeros(0, dtype=np.intp)
_NONE.flags.writeable = False


def decode_cycles(
    buf: memoryview,
    data: np.ndarray,
    start: int,
    n: int,
    cycle: int,
    offs: list[int],
    lengths: list[int],
    acc: Accumulator,
    verify_crc: bool,
    row_seq: np.ndarray | None = None,
    checked: tuple[_Plan, np.ndarray] | None = None,
) -> int:
    """Decode up to ``n`` whole cycles at ``start`` (framing already verified) into ``acc``.

    ``row_seq``: the record index of each cycle's first record, when the cycles were gathered
    from stretches of the file with other records between them (the caller then counts
    ``acc.records``); by default they follow each other from ``acc.records`` on. ``checked``:
    the plan of these rows and their :func:`mismatches`, when the caller has them already.

    Returns the cycles decoded: fewer when a record in them fails its CRC while a whole record
    lies inside it (its length is wrong: records.check_record), which the general decoder then
    decides; nothing of that cycle or after it is decoded here.
    """
    p = len(lengths)
    rows = data[start : start + n * cycle].reshape(n, cycle)
    plan, bad = checked if checked is not None else (None, None)
    if plan is None or bad is None or len(bad) != n:
        plan = plan_for(rows[0], offs, lengths)
        bad = mismatches(data, start, rows, plan)
    seq0 = acc.records
    n_t = len(plan.tslots)
    any_bad = bool(bad.any())
    live = bool(n_t) and not (any_bad and bad.all())  # rows to decode by their templates
    few = n <= FEW_ROWS  # few rows: fields and CRCs read in place (no gathered bytes)
    raw = [gather(data, start, n, cycle, g.width, g.starts) for g in plan.groups] if live and not few else []  # (M, n, width) bytes
    crc_ok = _crc_ok(data, start, n, cycle, plan, raw) if verify_crc and live else None
    # Records decoded one by one, in file order: these may change state (plugins, restarts, texts).
    singles = _singles(n, p, np.flatnonzero(bad).tolist() if any_bad else [], plan.general)
    single_ok = [payload_ok(buf, *_payload(start, k, offs[j], lengths[j], cycle)) for k, j in singles] if verify_crc else None
    if verify_crc:
        n = _first_misframed(buf, start, n, cycle, offs, lengths, plan, bad, crc_ok, singles, single_ok)
        if n < len(bad):
            bad, rows = bad[:n], rows[:n]
            raw = [b[:, :n] for b in raw]
            crc_ok = crc_ok[:, :n] if crc_ok is not None else None
            if not n:
                return 0
    bad_rows = np.flatnonzero(bad) if any_bad else _NONE
    for i, (k, j) in enumerate(singles):
        if k < n:
            first = seq0 + k * p if row_seq is None else int(row_seq[k])
            decode_payload(buf, *_payload(start, k, offs[j], lengths[j], cycle), first + j, acc, verify_crc, single_ok[i] if single_ok else None)
    if row_seq is None:
        acc.records += n * p
    if not n_t or len(bad_rows) == n:
        return n
    sel = np.broadcast_to(~bad, (n_t, n)) if len(bad_rows) else None  # None: every row
    if crc_ok is not None and not (sel is None and crc_ok.all()):
        sel = crc_ok if sel is None else crc_ok & sel
        acc.bad_crc += n_t * (n - len(bad_rows)) - int(np.count_nonzero(sel))
        if sel.all():
            sel = None
    if row_seq is None:
        seqs = [np.arange(seq0 + j, seq0 + j + n * p, p, dtype=np.int64) for j in plan.tslots.tolist()]
    else:
        seqs = [row_seq[:n] + j for j in plan.tslots.tolist()]
    # One array per member, owning its memory: a tag's points can be freed on their own.
    fields = [[x.copy() for x in convert(b, g.kind)] for g, b in zip(plan.groups, raw)] if raw else [_in_place(data, start, n, cycle, g) for g in plan.groups]
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
    return n


#: Value kinds whose bytes a strided view reads as they are (convert: a view, then float64).
_PLAIN = frozenset({"<f8", "<f4", "<f2", "<i4", "<i8", "<i2", "i1", "u1", "<u2", "<u4", "<u8"})


def _in_place(data: np.ndarray, start: int, n: int, cycle: int, g: _Group) -> list[np.ndarray]:
    """Each member's values, converted as :func:`convert` converts its gathered bytes, read
    through a strided view of the rows (one array per member, owning its memory)."""
    if g.kind in _PLAIN or (g.kind == STEP and g.width == 1):
        out = []
        for col in g.starts.tolist():
            view = np.ndarray((n,), dtype=g.kind if g.kind != STEP else np.uint8, buffer=data, offset=start + col, strides=(cycle,))
            out.append(view.astype(np.float64) if g.kind != STEP else (view & 0x7F).astype(np.int64))
        return out
    return [x.copy() for x in convert(gather(data, start, n, cycle, g.width, g.starts), g.kind)]


def _singles(n: int, p: int, bad_rows: list[int], general: tuple[int, ...]) -> list[tuple[int, int]]:
    """(cycle, slot) of the records decoded one by one, in file order: every slot of a row that
    differs from its templates, the general slots of the others."""
    if not general:
        return [(k, j) for k in bad_rows for j in range(p)]
    bad = set(bad_rows)
    return [(k, j) for k in range(n) for j in (range(p) if k in bad else general)]


def _payload(start: int, k: int, off: int, length: int, cycle: int) -> tuple[int, int]:
    """(first, end) byte of the payload of slot at ``off`` in cycle ``k``."""
    p0 = start + k * cycle + off + HEADER
    return p0, p0 + length


def _first_misframed(buf: memoryview, start: int, n: int, cycle: int, offs: list[int], lengths: list[int], plan: _Plan, bad: np.ndarray, crc_ok: np.ndarray | None, singles: list[tuple[int, int]], single_ok: list[bool] | None) -> int:
    """The first cycle holding a record that fails its CRC with a whole record inside it (n: none)."""
    failing = [kj for kj, ok in zip(singles, single_ok or []) if not ok]
    if not failing and (crc_ok is None or crc_ok.all()):
        return n  # every CRC passes (the usual case)
    if crc_ok is not None:
        t, k = np.nonzero(~crc_ok & ~bad)
        failing += zip(k.tolist(), plan.tslots[t].tolist())
    for k, j in sorted(failing):
        p0, p1 = _payload(start, k, offs[j], lengths[j], cycle)
        if holds_record(buf, p0 - HEADER, p1 + FOOTER):
            return k
    return n


def gather(data: np.ndarray, start: int, n: int, cycle: int, width: int, starts: np.ndarray) -> np.ndarray:
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


def mismatches(data: np.ndarray, start: int, rows: np.ndarray, plan: _Plan) -> np.ndarray:
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


#: Batches of at most this many cycles take the CRC route of fewest calls (_crc_ok).
FEW_ROWS = 256


def _crc_ok(data: np.ndarray, start: int, n: int, cycle: int, plan: _Plan, raw: list[np.ndarray]) -> np.ndarray:
    """(template slots, rows): does each payload CRC match? Computed from the variable bytes only."""
    stored = gather(data, start, n, cycle, 4, plan.foot_starts).view("<u4")[..., 0]
    if n <= FEW_ROWS:
        # Few rows (a small file): the calls cost more than the work; every variable byte of a
        # row at once, its table entry looked up, XORed slot by slot.
        rows = data[start : start + n * cycle].reshape(n, cycle)
        idx = rows[:, plan.var_cycle] + plan.var_table  # intp: take() is slow with others
        return np.bitwise_xor.reduceat(plan.crc_table.take(idx), plan.var_bounds, axis=1).T == unmask_array(stored)
    crc = np.zeros((len(plan.tslots), n), dtype=np.uint32)
    for g, b in zip(plan.groups, raw):
        idx = np.empty((len(g.starts), g.width, n), dtype=np.intp)  # intp: take() is slow with others
        np.add(b.transpose(0, 2, 1), g.crc_index, out=idx)
        contrib = np.bitwise_xor.reduce(plan.crc_table.take(idx), axis=1)  # over the field's bytes
        if g.unique:
            crc[g.slots] ^= contrib
        else:
            np.bitwise_xor.at(crc, g.slots, contrib)
    return crc == unmask_array(stored)


def plan_for(row: np.ndarray, offs: list[int], lengths: list[int]) -> _Plan:
    """The plan whose fixed bytes ``row`` (one cycle) matches; built and cached when new."""
    plans = _PLANS.setdefault(tuple(lengths), [])
    for plan in plans:
        if not np.bitwise_and(row ^ plan.tmpl, plan.mask).any():
            return plan
    slots = []
    for j, n in enumerate(lengths):
        p0 = offs[j] + HEADER
        slots.append(template_for(row[p0 : p0 + n]))
    plan = _build_plan(row, offs, lengths, slots)
    plans.append(plan)
    if len(plans) > CACHE_LIMIT:
        del plans[0]
    return plan


def _build_plan(row: np.ndarray, offs: list[int], lengths: list[int], slots: list[Template | None]) -> _Plan:
    cycle = len(row)
    tmpl = np.array(row, dtype=np.uint8)
    mask = np.zeros(cycle, dtype=np.uint8)  # headers were checked by the framing; footers vary
    # A template's variable bytes must be exactly its fields' bytes (the CRC covers them so).
    # (Each has variable bytes, its value's at least: _crc_ok sums them slot by slot.)
    usable = [tp is not None and fields_cover(tp) and len(tp.var_cols) > 0 for tp in slots]
    general = [j for j, u in enumerate(usable) if not u]
    tslots = [j for j, u in enumerate(usable) if u]
    tables: list[np.ndarray] = []
    groups: dict[tuple[str, int], list[tuple[int, int, list[int]]]] = {}  # (kind, width) -> (slot, start, table rows)
    emit = []
    var_cycle: list[int] = []
    var_table: list[int] = []
    bounds: list[int] = []

    def member(kind: str, width: int, t: int, p0: int, col: int, tp: Template, table0: int) -> tuple[int, int]:
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
        bounds.append(len(var_cycle))
        var_cycle.extend((p0 + tp.var_cols).tolist())
        var_table.extend(range(table0 * 256, (table0 + len(tp.var_cols)) * 256, 256))
        wall = member("<f8", 8, t, p0, tp.wall, tp, table0) if tp.wall is not None else None
        step = member(STEP, tp.step[1], t, p0, tp.step[0], tp, table0) if tp.step is not None else None
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
        var_cycle=np.array(var_cycle, dtype=np.intp),
        var_table=np.array(var_table, dtype=np.intp),
        var_bounds=np.array(bounds, dtype=np.intp),
        emit=tuple(emit),
    )
