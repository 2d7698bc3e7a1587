"""Read TensorBoard event files (TFRecord framing + Event protos) into scalar arrays.

No protobuf or tensorboard import: framing, CRC-32C and the wire decoding of Event, Summary,
Value, TensorProto and SessionLog are our own. What is decoded:

* scalars in every encoding real writers use: ``simple_value`` (torch, tensorboardX, TF1,
  Lightning, Hugging Face) and TF2 tensor summaries of the ``scalars`` plugin (``float_val``,
  ``double_val``, ``half_val``, ``int_val``, ``int64_val``, ``bool_val``, ``uint*_val`` and
  ``tensor_content`` of every numeric dtype including bfloat16 and float16);
* the hparams plugin's session start info (the run's hyperparameters), text summaries,
  ``file_version``, wall times and SessionLog START, which purges what was written before at
  the same or later steps, as TensorBoard does for a restarted run;
* everything else (histograms, images, graphs, ...) is counted, not decoded.

Damage is survivable: a record whose payload CRC fails is skipped and counted; a header that
fails its CRC or claims more bytes than the file holds stops that file with a message; an
incomplete last record (a writer still writing) stops cleanly and is reported. Nothing here
raises on bad bytes; problems come back as one-line messages.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.io import wire
from advisor.io.crc32c import masked_crc32c
from advisor.io.wire import I32, I64, LEN, VARINT, WireError

HEADER = 12  # uint64 length + uint32 masked CRC of the length
FOOTER = 4  # uint32 masked CRC of the payload
#: A record claiming more than this is not believed even with a valid header CRC.
MAX_RECORD = 1 << 30

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
    restarts: tuple[tuple[int, int], ...]  # (record index, step) of each SessionLog START
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
        elif f in (7, 10, 16, 17, 11):  # int_val, int64_val, uint32_val, uint64_val, bool_val
            signed = f in (7, 10)
            vals.extend(float(wire.to_signed64(x) if signed else x) for x in _repeated_varint(buf, wt, v))
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
        self.plugin: dict[str, str] = {}  # tag -> plugin name from the first metadata seen
        self.plugin_seq: dict[str, int] = {}  # tag -> record index of that first metadata
        self.hparams: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.file_version: str | None = None
        self.restarts: list[tuple[int, int]] = []
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
        out: dict[str, TagData] = {}
        for tag, chunks in self.chunks.items():
            if len(chunks) == 1:
                s, v, w, q = chunks[0]
            else:
                s, v, w, q = (np.concatenate([c[i] for c in chunks]) for i in range(4))
                # Several chunks (a vectorised run interleaved with fallback records): the
                # record index restores write order.
                order = np.argsort(q, kind="stable")
                s, v, w, q = s[order], v[order], w[order], q[order]
            if self.restarts:
                keep = np.ones(len(s), dtype=bool)
                for seq, step in self.restarts:
                    keep &= ~((q < seq) & (s >= step))
                s, v, w, q = s[keep], v[keep], w[keep], q[keep]
            if len(s):
                out[tag] = TagData(s, v, w, q)
        # Compact so that an incremental reader does not re-concatenate everything each poll.
        self.chunks = {t: [(d.steps, d.values, d.wall_times, d.seq)] for t, d in out.items()}
        return out


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
    for f, wt, v in wire.iter_fields(buf, summary[0], summary[1]):
        if f == 1 and wt == LEN:
            _decode_value(buf, v[0], v[1], step, wall, seq, acc)  # type: ignore[index]


def _decode_value(buf: memoryview, start: int, end: int, step: int, wall: float, seq: int, acc: _Accumulator) -> None:
    tag = ""
    simple: float | None = None
    tensor: tuple[int, int] | None = None
    plugin: str | None = None
    content: bytes = b""
    other = False
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1 and wt == LEN:
            tag = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")  # type: ignore[index]
        elif f == 2 and wt == I32:
            simple = wire.unpack_float(buf, v[0])  # type: ignore[index]
        elif f == 8 and wt == LEN:
            tensor = v  # type: ignore[assignment]
        elif f == 9 and wt == LEN:
            for f2, wt2, v2 in wire.iter_fields(buf, v[0], v[1]):  # type: ignore[index]
                if f2 == 1 and wt2 == LEN:  # PluginData
                    for f3, wt3, v3 in wire.iter_fields(buf, v2[0], v2[1]):  # type: ignore[index]
                        if f3 == 1 and wt3 == LEN:
                            plugin = bytes(buf[v3[0] : v3[1]]).decode("utf-8", "replace")  # type: ignore[index]
                        elif f3 == 2 and wt3 == LEN:
                            content = bytes(buf[v3[0] : v3[1]])  # type: ignore[index]
        elif f in (3, 4, 5, 6):  # old-style histogram, image, histo, audio
            other = True
    if plugin is not None and tag not in acc.plugin:
        acc.plugin[tag] = plugin
        acc.plugin_seq[tag] = seq
    plugin = acc.plugin.get(tag, plugin)
    if simple is not None:
        acc.add(tag, step, simple, wall, seq)
        return
    if plugin == "hparams":
        hp = _decode_hparams(content) if content else None
        if hp:
            acc.hparams.update(hp)
        return
    if tensor is not None and plugin in ("scalars", None):
        value = _tensor_scalar(buf, tensor[0], tensor[1])
        if value is not None:
            acc.add(tag, step, value, wall, seq)
            return
    if tensor is not None and plugin == "text":
        text = _tensor_text(buf, tensor[0], tensor[1])
        if text is not None:
            acc.texts[tag] = text
    if tensor is not None or other or plugin is not None:
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
        try:
            with open(self.path, "rb") as fh:
                if self.offset == 0 and st.st_size >= 1 << 20:
                    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                        return self._consume(memoryview(mm), 0)
                fh.seek(self.offset)
                data = fh.read(st.st_size - self.offset)
        except (OSError, ValueError) as e:
            self._note(f"unreadable: {getattr(e, 'strerror', None) or e}")
            return 0
        return self._consume(memoryview(data), self.offset)

    def _reset(self) -> None:
        self.offset = 0
        self._acc = _Accumulator()
        self._problems = []
        self._stopped = None
        self._truncated = False

    def _note(self, msg: str) -> None:
        if msg not in self._problems:
            self._problems.append(msg)

    def _consume(self, buf: memoryview, base: int) -> int:
        """Decode complete records in ``buf`` (which starts at file offset ``base``)."""
        from advisor.io import _fast

        before = self._acc.records
        end = base + len(buf)
        try:
            decode = _fast.decode_records if self.fast else decode_records_general
            pos, fatal = decode(buf, 0, len(buf), base, self._acc, self.verify_crc)
        finally:
            if isinstance(buf.obj, mmap.mmap):
                buf.release()  # an mmap cannot close while a view of it is alive
        self.offset = base + pos
        if fatal:
            self._stopped = fatal
            self._note(fatal)
        self._truncated = self._stopped is None and self.offset < end
        return self._acc.records - before

    def result(self) -> EventFile:
        """Everything decoded so far."""
        acc = self._acc
        problems = list(self._problems)
        if self._truncated:
            problems.append(f"truncated record at byte {self.offset} (the writer may still be writing); read what came before")
        if acc.bad_crc:
            problems.append(f"{acc.bad_crc} record(s) failed their CRC check and were skipped")
        if acc.bad_records:
            problems.append(f"{acc.bad_records} record(s) were not decodable events and were skipped")
        return EventFile(
            path=self.path,
            scalars=acc.tag_data(),
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
