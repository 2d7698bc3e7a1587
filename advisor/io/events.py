"""Event, Summary and Value decoding: one record's payload into an accumulator.

What is decoded:

* scalars in every encoding real writers use: ``simple_value`` (torch, tensorboardX, TF1,
  Lightning, Hugging Face) and TF2 tensor summaries of the ``scalars`` plugin (``float_val``,
  ``double_val``, ``half_val``, ``int_val``, ``int64_val``, ``bool_val``, ``uint*_val`` and
  ``tensor_content`` of every numeric dtype including bfloat16 and float16);
* the hparams plugin's session start info, text summaries, ``file_version``, wall times and
  SessionLog STARTs (the accumulator turns the last two into TensorBoard's purges);
* everything else (histograms, images, graphs, ...) is counted, not decoded.

:func:`decode_records_general` is the general decoder: it walks the TFRecord frames one by one
and decodes each payload here. The vectorised reader (:mod:`advisor.io._fast`) hands back to it
for every record it does not batch, so both give the same results.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from advisor.io import wire
from advisor.io.accumulator import Accumulator
from advisor.io.hparams import decode_session_start
from advisor.io.records import DAMAGED, FOOTER, HEADER, TAIL, check_record, payload_ok
from advisor.io.wire import I32, I64, LEN, VARINT, WireError

# TensorFlow DataType enum values -> numpy dtypes for tensor_content.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_INT64, DT_BOOL, DT_BFLOAT16, DT_UINT16, DT_HALF, DT_UINT32, DT_UINT64 = 9, 10, 14, 17, 19, 22, 23
CONTENT_DTYPES: dict[int, str] = {
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
        np_dtype = CONTENT_DTYPES.get(dtype)
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


def parse_file_version(text: str) -> float:
    """TensorBoard's reading of ``file_version`` ("brain.Event:2" -> 2.0; unreadable -> -1)."""
    try:
        return float(text.split("brain.Event:")[-1])
    except ValueError:
        return -1.0


def decode_event(buf: memoryview, start: int, end: int, seq: int, acc: Accumulator) -> None:
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


def _decode_value(buf: memoryview, start: int, end: int, step: int, wall: float, seq: int, acc: Accumulator) -> None:
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
        hp = decode_session_start(content) if content else None
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


def decode_records_general(
    buf: memoryview, pos: int, end: int, base: int, acc: Accumulator, verify_crc: bool, stop: int | None = None, eof: bool = True
) -> tuple[int, str | None]:
    """Walk TFRecord frames one by one from ``pos``; decode each Event into ``acc``.

    Returns (position after the last record decided, fatal message or None). Damaged framing
    is scanned past (``acc.damage`` keeps the skipped ranges) and reading goes on at the next
    record. ``eof``: the file ends at ``end`` (else the last record waits for its successor's
    header: see :func:`advisor.io.records.check_record`). Stops early at ``stop`` records when
    given (the vectorised path hands back to this one for a record at a time).
    """
    n = 0
    damage = acc.damage
    while True:
        if damage.open_at is not None:
            pos, fatal = damage.skip(buf, pos, end, base, verify_crc, acc.records == 0, eof)
            if fatal is not None or damage.open_at is not None:
                return pos, fatal  # not an event file, or more bytes are needed to go on
        if stop is not None and n >= stop:
            break
        status, length, crc_ok = check_record(buf, pos, end, verify_crc, eof)
        if status == TAIL:
            break
        if status == DAMAGED:
            damage.open_at = base + pos
            pos += 1
            continue
        seq = acc.records
        acc.records += 1
        n += 1
        decode_payload(buf, pos + HEADER, pos + HEADER + length, seq, acc, verify_crc, crc_ok)
        pos += HEADER + length + FOOTER
    return pos, None


def decode_payload(buf: memoryview, p0: int, p1: int, seq: int, acc: Accumulator, verify_crc: bool, crc_ok: bool | None = None) -> None:
    """Check one framed record's payload CRC (footer at ``p1``) and decode it as record ``seq``.

    Counts a bad CRC or an undecodable payload in ``acc``; never raises on bad bytes. Does not
    advance ``acc.records`` (the caller numbers records). ``crc_ok``: the CRC's verdict when the
    caller has it already.
    """
    if verify_crc and not (payload_ok(buf, p0, p1) if crc_ok is None else crc_ok):
        acc.bad_crc += 1
        return
    try:
        decode_event(buf, p0, p1, seq, acc)
    except (WireError, struct.error, UnicodeDecodeError, OverflowError, ValueError, RecursionError):
        acc.bad_records += 1
