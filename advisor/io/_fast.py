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

Eight files, each importing only the ones below it and the reader's lower layers (records,
events, accumulator), never the reader itself: this one (the entry point and step 1),
:mod:`advisor.io._fast_file` (whole-file plans: a small file of a sweep read at once when files
of its size and layout came before), :mod:`advisor.io._fast_learn` and
:mod:`advisor.io._fast_shape` (shapes: the layout of a sweep's small files with the number of
steps left open, learned from one file, making the plan of each new size),
:mod:`advisor.io._fast_plan` (building those plans), :mod:`advisor.io._fast_batch` (plans:
steps 3 and 4 over whole batches), :mod:`advisor.io._fast_single` (templates applied to one
record at a time: the records no batch covers, which are most of a small file's fixed cost) and
:mod:`advisor.io._fast_template` (step 2: one record's template and its CRC tables).
"""

from __future__ import annotations

import numpy as np

from advisor.io import _fast_file
from advisor.io._fast_single import decode_single
from advisor.io._fast_batch import decode_cycles, gather, mismatches, plan_for
from advisor.io.accumulator import Accumulator
from advisor.io.events import decode_payload, decode_records_general
from advisor.io.records import (
    FOOTER,
    HEADER,
    HEADER_CRCS,
    MAX_RECORD,
    OK,
    U32,
    U64,
    check_frame,
    header_crc,
    holds_record,
    payload_ok,
)

#: Below this many bytes the general walk is as fast; the fast path is not tried.
MIN_BYTES = 2048
#: A cycle must repeat this many times (seen by peeking at headers) to be decoded as a batch.
MIN_CYCLES = 4
#: Longest cycle looked for, in records (e.g. per-layer norms: one record per layer and step).
MAX_PERIOD = 256
#: Bytes of records decoded per vectorised batch: bounds the temporaries (about 10x this).
BATCH_BYTES = 1 << 20
#: Records between two stretches of one cycle that a batch steps over (decoded one by one).
MAX_GAP = 8
#: Bytes of stretches of one cycle decoded as one batch, at most.
STRETCH_BYTES = 4 << 20
#: Cycles checked by the first framing window; each next window is 4x larger.
FIRST_WINDOW = 512


# --------------------------------------------------------------------------- entry point


def decode_records(buf: memoryview, pos: int, end: int, base: int, acc: Accumulator, verify_crc: bool, eof: bool = True, planned: bool = False) -> tuple[int, str | None]:
    """Decode every record in buf[pos:end] that can be decided; return (position after the
    last, fatal message). ``eof``: the file ends at ``end`` (see decode_records_general);
    ``planned``: the plans were asked about this whole file already, and read it not."""
    if _fast_file.applies(pos, end, base, acc, eof):  # a whole small file: a plan may read it at once
        data = np.frombuffer(buf, dtype=np.uint8, count=end)
        if not planned and _fast_file.decode_file(buf, data, acc, verify_crc):
            return end, None
        out = _decode_records(buf, pos, end, base, acc, verify_crc, eof)
        if out == (end, None):
            _fast_file.learn(buf, data, acc)  # read whole: a plan may be built from it
        return out
    return _decode_records(buf, pos, end, base, acc, verify_crc, eof)


def _decode_records(buf: memoryview, pos: int, end: int, base: int, acc: Accumulator, verify_crc: bool, eof: bool) -> tuple[int, str | None]:
    if end - pos < MIN_BYTES:
        return decode_records_general(buf, pos, end, base, acc, verify_crc, eof=eof)
    data = np.frombuffer(buf, dtype=np.uint8)
    with np.errstate(all="ignore"):  # NaN payloads convert quietly, as struct does
        while True:
            if acc.damage.open_at is None:
                pos = _walk(buf, data, pos, end, acc, verify_crc, eof)
            # Where the walk stopped (the last record before damage, a tail or the end), the
            # general decoder decides, exactly as it always does, for one record; then batching
            # resumes after it.
            new, fatal = decode_records_general(buf, pos, end, base, acc, verify_crc, stop=1, eof=eof)
            if fatal is not None or new == pos:
                return new, fatal
            pos = new
            if end - pos < MIN_BYTES:
                return decode_records_general(buf, pos, end, base, acc, verify_crc, eof=eof)


def _walk(buf: memoryview, data: np.ndarray, pos: int, end: int, acc: Accumulator, verify_crc: bool, eof: bool) -> int:
    """Peek at record headers; batch every stretch where a cycle of lengths repeats. Returns the
    position of the last record whose successor it did not frame (before damage, a tail or the
    end): the general decoder decides that one (records.check_record).

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
        if unpack32(buf, q + 8)[0] != (crcs.get(length) or header_crc(length)):
            break  # the general decoder says what is wrong (records.check_frame), as it always does
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
            if done < first:
                return starts[done]  # a record whose length is wrong: the general decoder's
            n, new = _run_cycles(buf, data, starts[first], end, lens[first : first + period], acc, verify_crc, eof)
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
            stopped = _decode_pending(buf, starts, lens, done, keep, acc, verify_crc)
            if stopped < keep:
                return starts[stopped]
            del starts[:keep], lens[:keep], keys[:keep]
            seen = _slide(seen, keep)
            done = 0
    if done < len(lens):
        last = len(lens) if q == end and eof else len(lens) - 1  # nothing after the last: decided
        stopped = _decode_pending(buf, starts, lens, done, last, acc, verify_crc)
        return starts[stopped] if stopped < len(lens) else q
    return q


def _slide(seen: dict[object, list[int]], keep: int) -> dict[object, list[int]]:
    """``seen`` after the pending window dropped its first ``keep`` records.

    Keys with no index left are dropped: files of many distinct tags (one key each in content
    mode) would otherwise keep every key ever seen, and each slide would walk them all,
    making the walk quadratic in the number of tags."""
    out: dict[object, list[int]] = {}
    for key, ks in seen.items():
        if ks[-1] >= keep:
            out[key] = [k - keep for k in ks if k >= keep]
    return out


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
    """Decode pending records lo..hi-1 one by one; return hi, or the index of the first one the
    general decoder must decide (its CRC fails while a whole record lies inside it)."""
    for k in range(lo, hi):
        p0 = starts[k] + HEADER
        if decode_single(buf, p0, p0 + lens[k], acc.records, acc, verify_crc):
            acc.records += 1
            continue
        crc_ok = payload_ok(buf, p0, p0 + lens[k]) if verify_crc else None
        if crc_ok is False and holds_record(buf, starts[k], p0 + lens[k] + FOOTER):
            return k
        seq = acc.records
        acc.records += 1
        decode_payload(buf, p0, p0 + lens[k], seq, acc, verify_crc, crc_ok)
    return max(lo, hi)


# --------------------------------------------------------------------------- framing


def _run_cycles(buf: memoryview, data: np.ndarray, pos: int, end: int, lengths: list[int], acc: Accumulator, verify_crc: bool, eof: bool) -> tuple[int, int]:
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
    m = _frame_cycles(data, pos, avail, cycle, offs, lengths)
    after = pos + m * cycle
    if m and not (eof and after == end) and check_frame(buf, after, end, verify_crc, eof=False)[0] != OK:
        m -= 1  # the last record's successor is not a sound record: the general decoder decides it
    if m < MIN_CYCLES:
        return 0, pos
    # Most rows unlike the first (tags that differ at equal lengths): not a cycle of templates.
    k = m if m <= 256 else 64  # a small file's rows all at once: its batch reuses the verdicts
    probe = data[pos : pos + k * cycle].reshape(k, cycle)
    plan = plan_for(probe[0], offs, lengths)
    bad = mismatches(data, pos, probe, plan)
    if np.count_nonzero(bad) * 2 > k:
        return 0, -1
    rows = max(BATCH_BYTES // cycle, 512)  # long cycles (many tags per step): amortise per-slot work
    segs, gaps = _stretches(buf, data, pos, m, end, cycle, offs, lengths, verify_crc, eof)
    if len(segs) > 1:
        got = _decode_stretches(buf, data, segs, gaps, cycle, offs, lengths, rows, acc, verify_crc)
        if got is not None:
            return got
    done = 0
    while done < m:
        n = min(rows, m - done)
        checked = (plan, bad) if not done and n == k else None  # the probe saw these very rows
        got = decode_cycles(buf, data, pos + done * cycle, n, cycle, offs, lengths, acc, verify_crc, checked=checked)
        done += got
        if got < n:  # a record whose length is wrong: the walk hands it to the general decoder
            break
    return done * p, pos + done * cycle


def _stretches(
    buf: memoryview, data: np.ndarray, pos: int, m: int, end: int, cycle: int, offs: list[int], lengths: list[int], verify_crc: bool, eof: bool
) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """Stretches of the same cycle after the first (``m`` cycles at ``pos``), each after at most
    MAX_GAP other records (a validation scalar among per-step ones): ([(pos, cycles)], the gap
    records (start, length) before each stretch). Gap records are framed exactly as the
    sequential walk frames them, and their CRCs pass; up to STRETCH_BYTES in all."""
    segs, gaps = [(pos, m)], [[]]
    at, total = pos + m * cycle, m * cycle
    unpack64, unpack32, crcs = U64.unpack_from, U32.unpack_from, HEADER_CRCS
    while total < STRETCH_BYTES and at < end:
        gap: list[tuple[int, int]] = []
        q = at
        m2 = 0
        while len(gap) <= MAX_GAP:
            avail = (end - q) // cycle
            resumes = avail and gap and unpack64(buf, q)[0] == lengths[0]  # cheap first: the cycle's first length
            m2 = _frame_cycles(data, q, min(avail, max(1, (STRETCH_BYTES - total) // cycle)), cycle, offs, lengths) if resumes else 0
            if m2:
                break
            if q + HEADER > end:
                return segs, gaps
            length = unpack64(buf, q)[0]
            if unpack32(buf, q + 8)[0] != (crcs.get(length) or header_crc(length)) or length > MAX_RECORD or q + HEADER + length + FOOTER > end:
                return segs, gaps
            if verify_crc and not payload_ok(buf, q + HEADER, q + HEADER + length):
                return segs, gaps  # the general decoder decides it
            gap.append((q, length))
            q += HEADER + length + FOOTER
        after = q + m2 * cycle
        if m2 and not (eof and after == end) and check_frame(buf, after, end, verify_crc, eof=False)[0] != OK:
            m2 -= 1
        if not m2:
            return segs, gaps
        segs.append((q, m2))
        gaps.append(gap)
        at, total = q + m2 * cycle, total + m2 * cycle
    return segs, gaps


def _decode_stretches(
    buf: memoryview, data: np.ndarray, segs: list[tuple[int, int]], gaps: list[list[tuple[int, int]]], cycle: int, offs: list[int], lengths: list[int], rows: int, acc: Accumulator, verify_crc: bool
) -> tuple[int, int] | None:
    """Decode stretches of one cycle as one batch (their rows copied together), the records
    between them one by one, each with its record index in the file; (records, position
    after), or None when a stretch holds a record unlike the templates (decode them apart)."""
    p = len(lengths)
    compact = np.concatenate([data[a : a + k * cycle] for a, k in segs])
    n_rows = len(compact) // cycle
    table = compact.reshape(n_rows, cycle)
    plan = plan_for(table[0], offs, lengths)
    if plan.general or mismatches(compact, 0, table, plan).any():
        return None
    base = acc.records
    row_seq = np.empty(n_rows, dtype=np.int64)
    gap_seq: list[tuple[int, int, int]] = []  # (record index, start, length)
    r, q = 0, base
    for (_, k), gap in zip(segs, gaps):
        for start, length in gap:
            gap_seq.append((q, start, length))
            q += 1
        row_seq[r : r + k] = q + np.arange(k, dtype=np.int64) * p
        r, q = r + k, q + k * p
    cbuf = memoryview(compact)
    done = 0
    while done < n_rows:
        n = min(rows, n_rows - done)
        got = decode_cycles(cbuf, compact, done * cycle, n, cycle, offs, lengths, acc, verify_crc, row_seq=row_seq[done : done + n])
        done += got
        if got < n:
            break
    if done == n_rows:
        stop, where = q, segs[-1][0] + segs[-1][1] * cycle
    else:  # a record whose length is wrong: the walk hands it to the general decoder
        stop, r = int(row_seq[done]), done
        for a, k in segs:
            if r < k:
                where = a + r * cycle
                break
            r -= k
    gap_seq = [g for g in gap_seq if g[0] < stop]
    if not _decode_gaps_batched(buf, data, gap_seq, acc, verify_crc):
        for seq, start, length in gap_seq:
            decode_payload(buf, start + HEADER, start + HEADER + length, seq, acc, verify_crc, True if verify_crc else None)
    acc.records = stop
    return stop - base, where


def _decode_gaps_batched(buf: memoryview, data: np.ndarray, gap_seq: list[tuple[int, int, int]], acc: Accumulator, verify_crc: bool) -> bool:
    """Decode the records between stretches (record index, start, length) as one batch when
    every gap is alike (the same record lengths, plain scalars matching the first gap's
    templates), each with its record index; False: they are not (nothing was decoded)."""
    if len(gap_seq) < 2 * MIN_CYCLES:
        return False
    # The gaps' record lengths, gap by gap: records follow each other inside a gap.
    gaps: list[list[tuple[int, int, int]]] = [[gap_seq[0]]]
    for g in gap_seq[1:]:
        prev = gaps[-1][-1]
        if g[1] == prev[1] + HEADER + prev[2] + FOOTER and g[0] == prev[0] + 1:
            gaps[-1].append(g)
        else:
            gaps.append([g])
    lengths = [x[2] for x in gaps[0]]
    if any([x[2] for x in gap] != lengths for gap in gaps):
        return False
    p = len(lengths)
    offs = [0] * p
    for j in range(1, p):
        offs[j] = offs[j - 1] + HEADER + lengths[j - 1] + FOOTER
    cycle = offs[-1] + HEADER + lengths[-1] + FOOTER
    compact = np.concatenate([data[gap[0][1] : gap[0][1] + cycle] for gap in gaps])
    table = compact.reshape(len(gaps), cycle)
    plan = plan_for(table[0], offs, lengths)
    if plan.general or mismatches(compact, 0, table, plan).any():
        return False
    row_seq = np.array([gap[0][0] for gap in gaps], dtype=np.int64)
    got = decode_cycles(memoryview(compact), compact, 0, len(gaps), cycle, offs, lengths, acc, verify_crc, row_seq=row_seq)
    for seq, start, length in (g for gap in gaps[got:] for g in gap):  # none: their CRCs passed when framed
        decode_payload(buf, start + HEADER, start + HEADER + length, seq, acc, verify_crc, True if verify_crc else None)
    return True


def _frame_cycles(data: np.ndarray, pos: int, avail: int, cycle: int, offs: list[int], lengths: list[int]) -> int:
    """How many whole cycles from ``pos`` have exactly the predicted record headers."""
    done = 0
    window = FIRST_WINDOW
    if avail <= window:  # a few cycles (a small file): every header byte at once, fewest calls
        cols, want = _header_bytes(offs, lengths)
        ok = (data[pos : pos + avail * cycle].reshape(avail, cycle)[:, cols] == want).all(axis=1)
        return avail if ok.all() else int(np.argmin(ok))
    starts = np.asarray(offs, dtype=np.intp)
    want_len = np.asarray(lengths, dtype=np.uint64)[:, None]
    want_crc = np.asarray([header_crc(n) for n in lengths], dtype=np.uint32)[:, None]
    while done < avail:
        n = min(window, avail - done)
        start = pos + done * cycle
        ok = (gather(data, start, n, cycle, 8, starts).view("<u8")[..., 0] == want_len).all(axis=0)
        # Header CRCs are checked with payload CRCs off too (records.check_frame).
        ok &= (gather(data, start, n, cycle, 4, starts + 8).view("<u4")[..., 0] == want_crc).all(axis=0)
        if not ok.all():
            return done + int(np.argmin(ok))
        done += n
        window *= 4
    return done


_HEADER_BYTES: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}


def _header_bytes(offs: list[int], lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The columns of a cycle's record headers and the bytes they must hold (length, header CRC)."""
    key = tuple(lengths)
    got = _HEADER_BYTES.get(key)
    if got is None:
        if len(_HEADER_BYTES) >= 1024:
            _HEADER_BYTES.clear()
        cols = np.concatenate([np.arange(o, o + HEADER) for o in offs]).astype(np.intp)
        want = np.frombuffer(b"".join(U64.pack(n) + U32.pack(header_crc(n)) for n in lengths), dtype=np.uint8)
        got = _HEADER_BYTES[key] = (cols, want)
    return got
