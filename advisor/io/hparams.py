"""Hyperparameters: decoded from the hparams plugin's bytes.

The hparams plugin stores a run's hyperparameters as an ``HParamsPluginData`` whose
``session_start_info`` holds a ``map<string, google.protobuf.Value>``; this module decodes it
(our own wire decoding, no protobuf import). It sits below the accumulator, which keeps a
file's first session start info and decodes it when the file's results are asked for.
"""

from __future__ import annotations

from typing import Any

from advisor.io import wire
from advisor.io.wire import I64, LEN, VARINT


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


def decode_session_start(content: bytes) -> dict[str, Any] | None:
    """HParamsPluginData -> the session start info's hparams map (None for other kinds)."""
    mv = memoryview(content)
    for f, wt, v in wire.iter_fields(mv, 0, len(mv)):
        if f == 3 and wt == LEN:  # session_start_info
            return _decode_pb_map(mv, v[0], v[1], 1)  # type: ignore[index]
    return None

