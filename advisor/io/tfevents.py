"""Read TensorBoard event files (TFRecord framing + Event protos) into scalar arrays.

No protobuf or tensorboard import: framing, CRC-32C and the wire decoding of Event, Summary,
Value, TensorProto and SessionLog are our own. What is decoded:

* scalars in every encoding real writers use: ``simple_value`` (torch, tensorboardX, TF1,
  Lightning, Hugging Face) and TF2 tensor summaries of the ``scalars`` plugin (``float_val``,
  ``double_val``, ``half_val``, ``int_val``, ``int64_val``, ``bool_val``, ``uint*_val`` and
  ``tensor_content`` of every numeric dtype including bfloat16 and float16);
* the hparams plugin's session start info (the run's hyperparameters), text summaries,
  ``file_version``, wall times and restarts: what was written before a restart at the same or
  later steps is purged exactly as TensorBoard's EventAccumulator purges it (a SessionLog START
  after the first; in files without a version-2 file_version, a step that goes backwards);
* everything else (histograms, images, graphs, ...) is counted, not decoded.

Damage is survivable: a record whose payload CRC fails is skipped and counted; a header that
fails its CRC or claims more bytes than the file holds stops that file with a message; an
incomplete last record (a writer still writing) stops cleanly and is reported. Nothing here
raises on bad bytes; problems come back as one-line messages.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.io import wire
from advisor.io.crc32c import masked_crc32c
from advisor.io.wire import I32, I64, LEN, VARINT, WireError

HEADER = 12  # uint64 length + uint32 masked CRC of the length
FOOTER = 4  # uint32 masked CRC of the payload
#: A record claiming more than this is not believed even with a valid header CRC.
MAX_RECORD = 1 << 30
#: Bytes read and decoded at a time (a larger record is read whole).
READ_CHUNK = 16 << 20

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")

# TensorFlow DataType enum values -> numpy dtypes for tensor_content.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_INT64, DT_BOOL, DT_BFLOAT16, DT_UINT16, DT_HALF, DT_UINT32, DT_UINT64 = 9, 10, 14, 17, 19, 22, 23
_CONTENT_DTYPES: dict[int, str] = {
    DT_FLOAT: "<f4",
    DT_DOUBLE: "<f8",
    DT_INT32: "<i4",
    DT_UINT8: "u1",
    DT_INT16: "<i2",
    DT_INT8: "i1",
    DT_INT64: "<i8",
    DT_BOOL: "u1",
    DT_UINT16: "<u2",
    DT_HALF: "<f2",
    DT_UINT32: "<u4",
    DT_UINT64: "<u8",
}

SESSION_START = 1


@dataclass(frozen=True)
class TagData:
    """One tag's points in write order (after restart purges): steps, values, wall times."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    wall_times: np.ndarray  # float64
    seq: np.ndarray  # int64 record index within its file (orders points across tags)


@dataclass(frozen=True)
class EventFile:
    """What one event file holds, decoded."""

    path: str
    scalars: dict[str, TagData]
    hparams: dict[str, Any]
    texts: dict[str, str]
    file_version: str | None
    # (record index, step) of each SessionLog START. Within the file, every START but the first
    # purged earlier points at steps >= its step (the first starts the session, as TensorBoard
    # reads it); a reader merging a run's files applies the run's STARTs after its first.
    restarts: tuple[tuple[int, int], ...]
    records: int  # records read (valid framing)
    bytes_read: int
    non_scalar: int  # summary values that are not scalars
    bad_crc: int  # records skipped because their payload CRC failed
    bad_records: int  # records whose payload was not a decodable Event
    truncated: bool  # the file ends inside a record
    problems: tuple[str, ...]  # one line each: truncation, bad CRCs, corruption, unreadable

    @property
    def n_scalars(self) -> int:
        return sum(len(t.steps) for t in self.scalars.values())

    @property
    def is_event_file(self) -> bool:
        return self.records > 0


def _tensor_scalar(buf: memoryview, start: int, end: int) -> float | None:
    """Decode a TensorProto holding one numeric element; None when it is not one."""
    dtype = 0
    n_elems = 1
    content: tuple[int, int] | None = None
    vals: list[float] = []
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1 and wt == VARINT:
            dtype = v  # type: ignore[assignment]
        elif f == 2 and wt == LEN:  # TensorShapeProto
            s0, s1 = v  # type: ignore[misc]
            for f2, wt2, v2 in wire.iter_fields(buf, s0, s1):
                if f2 == 2 and wt2 == LEN:  # Dim
                    d0, d1 = v2  # type: ignore[misc]
                    size = 1
                    for f3, wt3, v3 in wire.iter_fields(buf, d0, d1):
                        if f3 == 1 and wt3 == VARINT:
                            size = wire.to_signed64(v3)  # type: ignore[arg-type]
                    n_elems *= size
                elif f2 == 3 and wt2 == VARINT and v2:  # unknown_rank
                    return None
        elif f == 4 and wt == LEN:
            content = v  # type: ignore[assignment]
        elif f == 5:  # float_val
            vals.extend(_repeated(buf, wt, v, "<f", I32))
        elif f == 6:  # double_val
            vals.extend(_repeated(buf, wt, v, "<d", I64))
        elif f in _INT_FIELDS:  # int_val, int64_val, uint32_val, uint64_val, bool_val
            convert = _INT_FIELDS[f]
            vals.extend(float(convert(x)) for x in _repeated_varint(buf, wt, v))
        elif f == 13:  # half_val: 16-bit patterns (float16 or bfloat16, by dtype)
            bits = [x & 0xFFFF for x in _repeated_varint(buf, wt, v)]
            if dtype == DT_BFLOAT16:
                arr = np.array(bits, dtype=np.uint32) << np.uint32(16)
                vals.extend(arr.view(np.float32).astype(float).tolist())
            else:
                vals.extend(np.array(bits, dtype=np.uint16).view(np.float16).astype(float).tolist())
        elif f == 8:  # string_val: not numeric
            return None
    if n_elems != 1:
        return None
    if content is not None and content[1] > content[0]:
        raw = bytes(buf[content[0] : content[1]])
        if dtype == DT_BFLOAT16:
            if len(raw) != 2:
                return None
            return float(np.frombuffer(raw, "<u2").astype(np.uint32).__lshift__(16).view(np.float32)[0])
        np_dtype = _CONTENT_DTYPES.get(dtype)
        if np_dtype is None:
            return None
        arr = np.frombuffer(raw, np_dtype)
        return float(arr[0]) if arr.size == 1 else None
    if len(vals) == 1:
        return float(vals[0])
    return None


# TensorProto's integer fields and how protobuf reads a varint into each (int32 keeps the low
# 32 bits, signed; bool is any nonzero).
_INT_FIELDS = {
    7: wire.to_signed32,  # int_val (int32)
    10: wire.to_signed64,  # int64_val
    16: lambda x: x & 0xFFFFFFFF,  # uint32_val
    17: lambda x: x & 0xFFFFFFFFFFFFFFFF,  # uint64_val
    11: lambda x: 1 if x else 0,  # bool_val
}


def _repeated(buf: memoryview, wt: int, v: Any, fmt: str, elem_wt: int) -> list[float]:
    size = struct.calcsize(fmt)
    if wt == LEN:  # packed
        s0, s1 = v
        if (s1 - s0) % size:
            raise WireError("packed field length not a multiple of its element size")
        return list(struct.unpack(f"<{(s1 - s0) // size}{fmt[1]}", buf[s0:s1]))
    if wt == elem_wt:
        s0, _ = v
        return [struct.unpack_from(fmt, buf, s0)[0]]
    raise WireError("unexpected wire type for a repeated number")


def _repeated_varint(buf: memoryview, wt: int, v: Any) -> list[int]:
    if wt == VARINT:
        return [v]
    if wt == LEN:
        s0, s1 = v
        out = []
        pos = s0
        while pos < s1:
            x, pos = wire.read_varint(buf, pos, s1)
            out.append(x)
        return out
    raise WireError("unexpected wire type for a repeated varint")


def _decode_pb_value(buf: memoryview, start: int, end: int) -> Any:
    """google.protobuf.Value -> Python (number, string, bool, None, list, dict)."""
    result: Any = None
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1:
            result = None
        elif f == 2 and wt == I64:
            result = wire.unpack_double(buf, v[0])  # type: ignore[index]
        elif f == 3 and wt == LEN:
            result = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")  # type: ignore[index]
        elif f == 4 and wt == VARINT:
            result = bool(v)
        elif f == 5 and wt == LEN:  # Struct: map<string, Value> fields = 1
            result = _decode_pb_map(buf, v[0], v[1], 1)  # type: ignore[index]
        elif f == 6 and wt == LEN:  # ListValue: repeated Value values = 1
            result = [_decode_pb_value(buf, a, b) for f2, wt2, (a, b) in _len_fields(buf, v[0], v[1]) if f2 == 1]  # type: ignore[index]
    return result


def _len_fields(buf: memoryview, start: int, end: int):
    for f, wt, v in wire.iter_fields(buf, start, end):
        if wt == LEN:
            yield f, wt, v


def _decode_pb_map(buf: memoryview, start: int, end: int, field_no: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f, _, (a, b) in _len_fields(buf, start, end):
        if f != field_no:
            continue
        k: str | None = None
        val: Any = None
        for f2, wt2, v2 in wire.iter_fields(buf, a, b):
            if f2 == 1 and wt2 == LEN:
                k = bytes(buf[v2[0] : v2[1]]).decode("utf-8", "replace")  # type: ignore[index]
            elif f2 == 2 and wt2 == LEN:
                val = _decode_pb_value(buf, v2[0], v2[1])  # type: ignore[index]
        if k is not None:
            out[k] = val
    return out


def _decode_hparams(content: bytes) -> dict[str, Any] | None:
    """HParamsPluginData -> the session start info's hparams map (None for other kinds)."""
    mv = memoryview(content)
    for f, wt, v in wire.iter_fields(mv, 0, len(mv)):
        if f == 3 and wt == LEN:  # session_start_info
            return _decode_pb_map(mv, v[0], v[1], 1)  # type: ignore[index]
    return None


class _Accumulator:
    """Collects decoded points per tag; the general and the vectorised decoders both feed it."""

    def __init__(self) -> None:
        self.steps: dict[str, list[Any]] = {}
        self.values: dict[str, list[Any]] = {}
        self.walls: dict[str, list[Any]] = {}
        self.seqs: dict[str, list[Any]] = {}
        self.chunks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
        # As TensorBoard does, a tag's first value with metadata (by record index) decides its
        # plugin for the whole file; a simple_value counts as "scalars" metadata.
        self.first_meta: dict[str, tuple[int, str]] = {}  # tag -> (record index, plugin name)
        self.hparams_content: tuple[int, bytes] | None = None  # the first hparams session start info
        self.text_candidates: dict[str, list[tuple[int, int, str]]] = {}  # tag -> (record index, step, text)
        self.hparams: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.file_version: str | None = None
        self.versions: list[tuple[int, float]] = []  # (record index, parsed version) of each file_version
        self.restarts: list[tuple[int, int]] = []
        # (record index, step) of the summary events the general decoder read (TensorBoard's
        # out-of-order purge, in files that are not all version 2, needs every summary event's
        # step; a batched record's is in the points already).
        self.marks: list[tuple[np.ndarray, np.ndarray]] = []
        self._purges: tuple | None = None
        self._mark_seqs: list[int] = []
        self._mark_steps: list[int] = []
        self.records = 0
        self.non_scalar = 0
        self.bad_crc = 0
        self.bad_records = 0

    def add(self, tag: str, step: int, value: float, wall: float, seq: int) -> None:
        lst = self.steps.get(tag)
        if lst is None:
            self.steps[tag], self.values[tag], self.walls[tag], self.seqs[tag] = [], [], [], []
            lst = self.steps[tag]
        lst.append(step)
        self.values[tag].append(value)
        self.walls[tag].append(wall)
        self.seqs[tag].append(seq)

    def note_meta(self, tag: str, seq: int, plugin: str) -> None:
        """A value of ``tag`` with metadata naming ``plugin`` at record ``seq`` (the earliest wins)."""
        first = self.first_meta.get(tag)
        if first is None or seq < first[0]:
            self.first_meta[tag] = (seq, plugin)

    def _is_scalar_tag(self, tag: str) -> bool:
        first = self.first_meta.get(tag)
        return first is None or first[1] == "scalars"  # no metadata at all: read as scalars too

    def resolve(self) -> None:
        """Texts and hparams as the tags' first metadata decides them (call before reading them)."""
        restarts, legacy = self._purges if self._purges is not None else self._purge_events()
        self.texts = {}
        for tag, cands in self.text_candidates.items():
            if self.first_meta.get(tag, (0, ""))[1] != "text":
                continue
            q = np.array([c[0] for c in cands], dtype=np.int64)
            order = np.argsort(q, kind="stable")
            q, s = q[order], np.array([c[1] for c in cands], dtype=np.int64)[order]
            kept = np.flatnonzero(_kept(q, s, restarts, legacy))
            if len(kept):
                self.texts[tag] = cands[int(order[kept[-1]])][2]  # the last one standing
        if self.hparams_content is not None:
            hp = _decode_hparams(self.hparams_content[1])
            self.hparams = hp if hp is not None else {}

    def mark(self, seq: int, step: int) -> None:
        self._mark_seqs.append(seq)
        self._mark_steps.append(step)

    def add_arrays(self, tag: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, seqs: np.ndarray) -> None:
        """Add many points of one tag at once (the vectorised path)."""
        self._flush_lists(tag)
        self.chunks.setdefault(tag, []).append((steps, values, walls, seqs))

    def _flush_lists(self, tag: str) -> None:
        if self.steps.get(tag):
            self.chunks.setdefault(tag, []).append(
                (
                    np.array(self.steps[tag], dtype=np.int64),
                    np.array(self.values[tag], dtype=np.float64),
                    np.array(self.walls[tag], dtype=np.float64),
                    np.array(self.seqs[tag], dtype=np.int64),
                )
            )
            self.steps[tag], self.values[tag], self.walls[tag], self.seqs[tag] = [], [], [], []

    def tag_data(self) -> dict[str, TagData]:
        for tag in list(self.steps):
            self._flush_lists(tag)
        restarts, legacy = self._purges = self._purge_events()
        out: dict[str, TagData] = {}
        for tag, chunks in self.chunks.items():
            if not self._is_scalar_tag(tag):  # numbers under another plugin's tag (its first metadata)
                self.non_scalar += sum(len(c[0]) for c in chunks)
                continue
            if len(chunks) == 1:
                s, v, w, q = chunks[0]
            else:
                s, v, w, q = _assemble(chunks)
            if len(restarts[0]) or len(legacy[0]):
                keep = _kept(q, s, restarts, legacy)
                if not keep.all():
                    s, v, w, q = s[keep], v[keep], w[keep], q[keep]
            if len(s):
                out[tag] = TagData(s, v, w, q)
        # Compact so that an incremental reader does not re-concatenate everything each poll.
        self.chunks = {t: [(d.steps, d.values, d.wall_times, d.seq)] for t, d in out.items()}
        return out

    def _purge_events(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The events that purge earlier points, as TensorBoard's EventAccumulator decides them.

        Returns ((seqs, steps) of the restarts that purge every tag, (seqs, steps) of the
        out-of-order events that purge their own tags). With a file_version of 2 or more read
        before it, a SessionLog START is a restart except the first (that one starts the
        session). Before such a file_version, an event whose step is below the step of the
        previous summary event purges its tags instead.
        """
        versions = sorted(self.versions)
        vseq = np.array([v[0] for v in versions], dtype=np.int64)
        vok = np.array([v[1] >= 2 for v in versions], dtype=bool)

        def is_v2(seqs: np.ndarray) -> np.ndarray:
            i = np.searchsorted(vseq, seqs, side="right") - 1  # the latest version at or before
            return (i >= 0) & vok[np.maximum(i, 0)] if len(vseq) else np.zeros(len(seqs), dtype=bool)

        starts = sorted(self.restarts)
        sq = np.array([r[0] for r in starts], dtype=np.int64)
        ss = np.array([r[1] for r in starts], dtype=np.int64)
        v2 = is_v2(sq)
        first = np.flatnonzero(v2)[:1]
        v2[first] = False
        restarts = (sq[v2], ss[v2])
        if self._mark_seqs:
            self.marks.append((np.array(self._mark_seqs, dtype=np.int64), np.array(self._mark_steps, dtype=np.int64)))
            self._mark_seqs, self._mark_steps = [], []
        none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        if versions and all(v[1] >= 2 for v in versions) and versions[0][0] == 0:
            return restarts, none  # version 2 from the first record on (every current writer)
        # Every summary event in record order: the general decoder's marks and the points.
        parts = self.marks + [(c[3], c[0]) for chunks in self.chunks.values() for c in chunks]
        if not parts:
            return restarts, none
        mq = np.concatenate([m[0] for m in parts])
        ms = np.concatenate([m[1] for m in parts])
        order = np.argsort(mq, kind="stable")
        mq, ms = mq[order], ms[order]
        first = np.ones(len(mq), dtype=bool)
        first[1:] = mq[1:] != mq[:-1]  # one mark per event (an event may hold several points)
        mq, ms = mq[first], ms[first]
        self.marks = [(mq, ms)]  # kept: a later purge must not lose earlier events' steps
        prev = np.concatenate([[-1], ms[:-1]])  # TensorBoard starts from most_recent_step = -1
        late = (ms < prev) & ~is_v2(mq)
        return restarts, (mq[late], ms[late])


def _assemble(chunks: list) -> tuple[np.ndarray, ...]:
    """One tag's chunks as four arrays in record order.

    Field by field, releasing each chunk's array once copied and handing the freed memory back
    to the OS, so that a large file's points are never held twice over.
    """
    total = sum(len(c[0]) for c in chunks)
    ordered = all(len(a[3]) and len(b[3]) and a[3][-1] < b[3][0] for a, b in zip(chunks, chunks[1:]))
    if total * 8 < _TRIM_BYTES:  # small: fewest calls
        s, v, w, q = (np.concatenate([c[k] for c in chunks]) for k in range(4))
    else:
        parts = [list(c) for c in chunks]
        chunks.clear()
        out = []
        for field, dtype in enumerate((np.int64, np.float64, np.float64, np.int64)):
            dst = np.empty(total, dtype)
            at = 0
            for part in parts:
                k = len(part[field])
                dst[at : at + k] = part[field]
                part[field] = None
                at += k
            out.append(dst)
            _trim()
        s, v, w, q = out
    if not ordered:
        # Chunks interleave (a vectorised run and records decoded one by one, or several
        # values of one tag in one event): the record index restores write order.
        order = np.argsort(q, kind="stable")
        s, v, w, q = s[order], v[order], w[order], q[order]
    return s, v, w, q


_TRIM_BYTES = 1 << 20


def _trim() -> None:
    """Return freed heap memory to the OS (glibc keeps it otherwise); a no-op elsewhere."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _kept(q: np.ndarray, s: np.ndarray, restarts: tuple[np.ndarray, np.ndarray], legacy: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which points of one tag (records q in order, steps s) survive the purges."""
    events_q, events_s = restarts
    if len(legacy[0]):
        mine = np.isin(q, legacy[0])  # out-of-order events purge only their own tags
        events_q, events_s = np.concatenate([events_q, q[mine]]), np.concatenate([events_s, s[mine]])
    if not len(events_q):
        return np.ones(len(q), dtype=bool)
    return ~_purged(q, s, events_q, events_s)


def _purged(q: np.ndarray, s: np.ndarray, events_q: np.ndarray, events_s: np.ndarray) -> np.ndarray:
    """Points (record q, step s) purged by a later event (record > q) at a step <= s."""
    order = np.argsort(events_q, kind="stable")
    eq, es = events_q[order], events_s[order]
    suffix_min = np.minimum.accumulate(es[::-1])[::-1]  # the lowest step of the events from k on
    k = np.searchsorted(eq, q, side="right")  # the first event after each point
    has = k < len(eq)
    out = np.zeros(len(q), dtype=bool)
    out[has] = suffix_min[k[has]] <= s[has]
    return out


def parse_file_version(text: str) -> float:
    """TensorBoard's reading of ``file_version`` ("brain.Event:2" -> 2.0; unreadable -> -1)."""
    try:
        return float(text.split("brain.Event:")[-1])
    except ValueError:
        return -1.0


def decode_event(buf: memoryview, start: int, end: int, seq: int, acc: _Accumulator) -> None:
    """Decode one Event payload and feed what it holds to ``acc``. Raises WireError if malformed."""
    wall = 0.0
    step = 0
    summary: tuple[int, int] | None = None
    session_status = 0
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1 and wt == I64:
            wall = wire.unpack_double(buf, v[0])  # type: ignore[index]
        elif f == 2 and wt == VARINT:
            step = wire.to_signed64(v)  # type: ignore[arg-type]
        elif f == 3 and wt == LEN:
            acc.file_version = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")  # type: ignore[index]
            acc.versions.append((seq, parse_file_version(acc.file_version)))
        elif f == 5 and wt == LEN:
            summary = v  # type: ignore[assignment]
        elif f == 7 and wt == LEN:
            for f2, wt2, v2 in wire.iter_fields(buf, v[0], v[1]):  # type: ignore[index]
                if f2 == 1 and wt2 == VARINT:
                    session_status = v2  # type: ignore[assignment]
    if session_status == SESSION_START:
        acc.restarts.append((seq, step))
    if summary is None:
        return
    acc.mark(seq, step)
    for f, wt, v in wire.iter_fields(buf, summary[0], summary[1]):
        if f == 1 and wt == LEN:
            _decode_value(buf, v[0], v[1], step, wall, seq, acc)  # type: ignore[index]


def _decode_value(buf: memoryview, start: int, end: int, step: int, wall: float, seq: int, acc: _Accumulator) -> None:
    tag = ""
    simple: float | None = None
    tensor: tuple[int, int] | None = None
    plugin: str | None = None
    has_meta = False
    content: bytes = b""
    legacy: str | None = None  # old-style image/histo/audio: TensorBoard migrates them to these plugins
    other = False
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1 and wt == LEN:
            tag = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")  # type: ignore[index]
        elif f == 2 and wt == I32:
            simple = wire.unpack_float(buf, v[0])  # type: ignore[index]
        elif f == 8 and wt == LEN:
            tensor = v  # type: ignore[assignment]
        elif f == 9 and wt == LEN:
            has_meta = True
            for f2, wt2, v2 in wire.iter_fields(buf, v[0], v[1]):  # type: ignore[index]
                if f2 == 1 and wt2 == LEN:  # PluginData
                    for f3, wt3, v3 in wire.iter_fields(buf, v2[0], v2[1]):  # type: ignore[index]
                        if f3 == 1 and wt3 == LEN:
                            plugin = bytes(buf[v3[0] : v3[1]]).decode("utf-8", "replace")  # type: ignore[index]
                        elif f3 == 2 and wt3 == LEN:
                            content = bytes(buf[v3[0] : v3[1]])  # type: ignore[index]
        elif f in (4, 5, 6):
            legacy = {4: "images", 5: "histograms", 6: "audio"}[f]
        elif f == 3:  # obsolete_old_style_histogram
            other = True
    if simple is not None:
        acc.note_meta(tag, seq, "scalars")  # TensorBoard migrates a simple_value to a scalars tensor
        acc.add(tag, step, simple, wall, seq)
        return
    if has_meta:
        acc.note_meta(tag, seq, plugin or "")
    elif legacy is not None:
        acc.note_meta(tag, seq, legacy)
    if plugin == "hparams":
        hp = _decode_hparams(content) if content else None
        if hp is not None and (acc.hparams_content is None or seq < acc.hparams_content[0]):
            acc.hparams_content = (seq, content)  # the first session start info is the run's
        return
    if tensor is not None:
        value = _tensor_scalar(buf, tensor[0], tensor[1])
        if value is not None:  # kept if the tag's first metadata says scalars (or it has none)
            acc.add(tag, step, value, wall, seq)
            return
        text = _tensor_text(buf, tensor[0], tensor[1])
        if text is not None:  # kept if the tag's first metadata says text; the last one standing wins
            acc.text_candidates.setdefault(tag, []).append((seq, step, text))
    if tensor is not None or legacy is not None or other or has_meta:
        acc.non_scalar += 1


def _tensor_text(buf: memoryview, start: int, end: int) -> str | None:
    parts = []
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 8 and wt == LEN:
            parts.append(bytes(buf[v[0] : v[1]]).decode("utf-8", "replace"))  # type: ignore[index]
    return "\n".join(parts) if parts else None


class EventFileReader:
    """Reads one event file, incrementally: each :meth:`poll` decodes only appended bytes.

    An incomplete record at the end (a writer still writing) is left for the next poll. A file
    that shrank or was replaced is read again from the start.
    """

    def __init__(self, path: str | os.PathLike[str], verify_crc: bool = True, *, fast: bool = True) -> None:
        self.path = os.fspath(path)
        self.verify_crc = verify_crc
        self.fast = fast  # False: the general per-record decoder only (same results, slower)
        self.offset = 0
        self._acc = _Accumulator()
        self._problems: list[str] = []
        self._stopped: str | None = None  # a fatal message: the file is not read further
        self._truncated = False
        self._ino: tuple[int, int] | None = None

    def poll(self) -> int:
        """Decode what was appended since the last poll; return the number of new records."""
        try:
            st = os.stat(self.path)
        except OSError as e:
            self._note(f"unreadable: {e.strerror or e}")
            return 0
        ino = (st.st_dev, st.st_ino)
        if self._ino is not None and (ino != self._ino or st.st_size < self.offset):
            self._reset()
        self._ino = ino
        if self._stopped is not None or st.st_size <= self.offset:
            return 0
        before = self._acc.records
        size = st.st_size
        try:
            with open(self.path, "rb") as fh:
                # A chunk at a time, so that a large file costs its results, not its size.
                while self._stopped is None and self.offset < size:
                    fh.seek(self.offset)
                    data = fh.read(min(READ_CHUNK, size - self.offset))
                    at = self.offset
                    self._consume(memoryview(data), at)
                    if self.offset == at and len(data) >= HEADER:
                        # Not one whole record in the chunk: a record larger than a chunk (read
                        # it whole) or a tail still being written (leave it for the next poll).
                        need = HEADER + _U64.unpack_from(data, 0)[0] + FOOTER
                        if len(data) < need <= size - at:
                            fh.seek(at)
                            self._consume(memoryview(fh.read(need)), at)
                    if self.offset == at:
                        break
        except (OSError, ValueError, MemoryError) as e:
            self._note(f"unreadable: {getattr(e, 'strerror', None) or e}")
            return self._acc.records - before
        self._truncated = self._stopped is None and self.offset < size
        return self._acc.records - before

    def _reset(self) -> None:
        self.offset = 0
        self._acc = _Accumulator()
        self._problems = []
        self._stopped = None
        self._truncated = False

    def _note(self, msg: str) -> None:
        if msg not in self._problems:
            self._problems.append(msg)

    def _consume(self, buf: memoryview, base: int) -> None:
        """Decode complete records in ``buf`` (which starts at file offset ``base``)."""
        from advisor.io import _fast

        decode = _fast.decode_records if self.fast else decode_records_general
        pos, fatal = decode(buf, 0, len(buf), base, self._acc, self.verify_crc)
        self.offset = base + pos
        if fatal:
            self._stopped = fatal
            self._note(fatal)

    def result(self) -> EventFile:
        """Everything decoded so far."""
        acc = self._acc
        scalars = acc.tag_data()  # before the counts: it counts numbers under non-scalar tags
        acc.resolve()
        problems = list(self._problems)
        if self._truncated:
            problems.append(f"truncated record at byte {self.offset} (the writer may still be writing); read what came before")
        if acc.bad_crc:
            problems.append(f"{acc.bad_crc} record(s) failed their CRC check and were skipped")
        if acc.bad_records:
            problems.append(f"{acc.bad_records} record(s) were not decodable events and were skipped")
        return EventFile(
            path=self.path,
            scalars=scalars,
            hparams=dict(acc.hparams),
            texts=dict(acc.texts),
            file_version=acc.file_version,
            restarts=tuple(acc.restarts),
            records=acc.records,
            bytes_read=self.offset,
            non_scalar=acc.non_scalar,
            bad_crc=acc.bad_crc,
            bad_records=acc.bad_records,
            truncated=self._truncated,
            problems=tuple(problems),
        )


def read_event_file(path: str | os.PathLike[str], verify_crc: bool = True, *, fast: bool = True) -> EventFile:
    """Read a whole event file. Never raises on bad content; see :attr:`EventFile.problems`."""
    reader = EventFileReader(path, verify_crc=verify_crc, fast=fast)
    reader.poll()
    ef = reader.result()
    if ef.records == 0 and not ef.problems:
        size = _size(reader.path)
        if size == 0:
            ef = _with_problem(ef, "empty file")
    return ef


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _with_problem(ef: EventFile, msg: str) -> EventFile:
    return EventFile(**{**ef.__dict__, "problems": ef.problems + (msg,)})


_HEADER_CRCS: dict[int, int] = {}


def header_crc(length: int) -> int:
    """The masked CRC a record header of ``length`` carries (cached: lengths repeat)."""
    crc = _HEADER_CRCS.get(length)
    if crc is None:
        crc = masked_crc32c(_U64.pack(length))
        if len(_HEADER_CRCS) < 1 << 16:
            _HEADER_CRCS[length] = crc
    return crc


def decode_records_general(
    buf: memoryview, pos: int, end: int, base: int, acc: _Accumulator, verify_crc: bool, stop: int | None = None
) -> tuple[int, str | None]:
    """Walk TFRecord frames one by one from ``pos``; decode each Event into ``acc``.

    Returns (position after the last complete record, fatal message or None). Stops early at
    ``stop`` records when given (the vectorised path hands back to this one for a few records).
    """
    n = 0
    while pos + HEADER <= end:
        if stop is not None and n >= stop:
            break
        length = _U64.unpack_from(buf, pos)[0]
        if verify_crc and _U32.unpack_from(buf, pos + 8)[0] != header_crc(length):
            if acc.records == 0 and base + pos == 0:
                return pos, "not a TFRecord event file (bad header at byte 0)"
            return pos, f"corrupt record header at byte {base + pos}; stopped reading this file"
        if length > MAX_RECORD:
            return pos, f"record at byte {base + pos} claims {length} bytes; stopped reading this file"
        rec_end = pos + HEADER + length + FOOTER
        if rec_end > end:
            break  # incomplete tail
        seq = acc.records
        acc.records += 1
        n += 1
        decode_payload(buf, pos + HEADER, pos + HEADER + length, seq, acc, verify_crc)
        pos = rec_end
    return pos, None


def decode_payload(buf: memoryview, p0: int, p1: int, seq: int, acc: _Accumulator, verify_crc: bool) -> None:
    """Check one framed record's payload CRC (footer at ``p1``) and decode it as record ``seq``.

    Counts a bad CRC or an undecodable payload in ``acc``; never raises on bad bytes. Does not
    advance ``acc.records`` (the caller numbers records).
    """
    if verify_crc and _U32.unpack_from(buf, p1)[0] != masked_crc32c(buf[p0:p1]):
        acc.bad_crc += 1
        return
    try:
        decode_event(buf, p0, p1, seq, acc)
    except (WireError, struct.error, UnicodeDecodeError, OverflowError, ValueError, RecursionError):
        acc.bad_records += 1
