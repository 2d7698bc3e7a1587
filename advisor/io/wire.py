"""Protocol-buffer wire format: just enough to encode and decode TensorBoard's messages.

Hand-written so that reading scalars needs neither protobuf nor tensorboard. Decoding is
defensive: every length is bounds-checked and a malformed message raises ``WireError``
(never IndexError or a hang), so a corrupt record costs one counted error, not the file.
"""

from __future__ import annotations

import math
import struct
from typing import Iterator

# Wire types.
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5

_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


class WireError(ValueError):
    """A protobuf message that does not follow the wire format."""


# --------------------------------------------------------------------------- decode


def read_varint(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, new_pos)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def to_signed64(v: int) -> int:
    """Interpret an unsigned 64-bit varint value as int64 (protobuf int32/int64 encoding)."""
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= (1 << 63) else v


def to_signed32(v: int) -> int:
    """A varint read into an int32 field (protobuf keeps the low 32 bits, signed)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def iter_fields(buf: bytes | memoryview, pos: int = 0, end: int | None = None) -> Iterator[tuple[int, int, object]]:
    """Yield (field_number, wire_type, value) for each field of the message in buf[pos:end].

    value is an int for VARINT, a (start, stop) byte range for LEN, and the raw 8 or 4 bytes
    (as int offsets (start, stop)) for I64/I32. Groups are skipped, as the wire format allows.
    """
    if end is None:
        end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        field, wtype = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        if wtype == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield field, wtype, value
        elif wtype == LEN:
            n, pos = read_varint(buf, pos, end)
            stop = pos + n
            if stop > end:
                raise WireError("length-delimited field runs past its message")
            yield field, wtype, (pos, stop)
            pos = stop
        elif wtype == I64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield field, wtype, (pos, pos + 8)
            pos += 8
        elif wtype == I32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield field, wtype, (pos, pos + 4)
            pos += 4
        elif wtype == SGROUP:
            pos = _skip_group(buf, pos, end, field)
        else:
            raise WireError(f"unexpected wire type {wtype}")


def _skip_group(buf: bytes | memoryview, pos: int, end: int, field: int, depth: int = 0) -> int:
    if depth > 32:
        raise WireError("groups nested too deep")
    while True:
        if pos >= end:
            raise WireError("unterminated group")
        key, pos = read_varint(buf, pos, end)
        f, wtype = key >> 3, key & 7
        if wtype == EGROUP:
            if f != field:
                raise WireError("mismatched end group")
            return pos
        if wtype == VARINT:
            _, pos = read_varint(buf, pos, end)
        elif wtype == LEN:
            n, pos = read_varint(buf, pos, end)
            pos += n
        elif wtype == I64:
            pos += 8
        elif wtype == I32:
            pos += 4
        elif wtype == SGROUP:
            pos = _skip_group(buf, pos, end, f, depth + 1)
        else:
            raise WireError(f"unexpected wire type {wtype}")
        if pos > end:
            raise WireError("group runs past its message")


def unpack_double(buf: bytes | memoryview, pos: int) -> float:
    return _DOUBLE.unpack_from(buf, pos)[0]


def unpack_float(buf: bytes | memoryview, pos: int) -> float:
    return _FLOAT.unpack_from(buf, pos)[0]


# --------------------------------------------------------------------------- encode


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int, or a negative int64 as its 10-byte two's complement."""
    if value < 0:
        value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field: int, wtype: int) -> bytes:
    return encode_varint((field << 3) | wtype)


def field_varint(field: int, value: int) -> bytes:
    return key(field, VARINT) + encode_varint(value)


def field_bytes(field: int, payload: bytes) -> bytes:
    return key(field, LEN) + encode_varint(len(payload)) + payload


def field_str(field: int, text: str) -> bytes:
    return field_bytes(field, text.encode("utf-8"))


def field_double(field: int, value: float) -> bytes:
    return key(field, I64) + _DOUBLE.pack(value)


def field_float(field: int, value: float) -> bytes:
    try:
        packed = _FLOAT.pack(value)
    except OverflowError:  # beyond float32: a C cast (what protobuf does) gives +-inf
        packed = _FLOAT.pack(math.copysign(math.inf, value))
    return key(field, I32) + packed
