"""The vectorised reader's templates: the byte layout of one kind of plain scalar record.

A template says which payload bytes hold the wall time, the step and the value(s), and that
every other byte is fixed; it comes with per-byte CRC tables (CRC is linear) and is accepted
only if the general decoder reads its record the same way. See :mod:`advisor.io._fast`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.io import wire
from advisor.io.accumulator import Accumulator
from advisor.io.crc32c import TABLE, crc32c
from advisor.io.events import CONTENT_DTYPES, DT_BFLOAT16, decode_event
from advisor.io.wire import I32, I64, LEN, VARINT, WireError

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
class Template:
    """The byte layout of one kind of scalar record (see the module docstring)."""

    tmpl: np.ndarray  # uint8 payload bytes of the record the template was built from
    mask: np.ndarray  # uint8 per byte: 0xFF fixed, 0x80 varint continuation bit only, 0 free
    var_cols: np.ndarray  # payload columns that are not fully fixed
    tables: np.ndarray  # (len(var_cols), 256) uint32 CRC contributions; crc(tmpl) folded into row 0
    wall: int | None  # column of the 8-byte wall time
    step: tuple[int, int] | None  # (column, length) of the step varint
    outputs: tuple[_Output, ...]


_TEMPLATES: dict[int, list[Template]] = {}
CACHE_LIMIT = 64  # entries kept per key; the oldest is dropped
STEP = "step"
_VARINTS = (_VARINT_I32, _VARINT_I64, _VARINT_U32, _VARINT_U64, _VARINT_BOOL, _VARINT_HALF, _VARINT_BF16, STEP)


def convert(raw: np.ndarray, kind: str) -> np.ndarray:
    """(..., width) uint8 -> values, converted exactly as the general decoder converts them."""
    if kind in _VARINTS:
        v = (raw[..., 0] & 0x7F).astype(np.uint64)
        for i in range(1, raw.shape[-1]):
            v |= (raw[..., i] & 0x7F).astype(np.uint64) << np.uint64(7 * i)
        if kind == STEP:
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


def fields_cover(tp: Template) -> bool:
    """Whether the template's wall, step and value bytes are exactly its variable bytes, once each."""
    cols = list(range(tp.wall, tp.wall + 8)) if tp.wall is not None else []
    if tp.step is not None:
        cols += range(tp.step[0], tp.step[0] + tp.step[1])
    for out in tp.outputs:
        cols += range(out.col, out.col + out.width)
    return sorted(cols) == tp.var_cols.tolist()


def template_for(payload: np.ndarray) -> Template | None:
    """The cached template ``payload`` matches, else a new one (None: not a plain scalar record)."""
    cands = _TEMPLATES.setdefault(len(payload), [])
    for tp in cands:
        if not np.bitwise_and(np.bitwise_xor(payload, tp.tmpl), tp.mask).any():
            return tp
    tp = analyze(payload.tobytes())
    if tp is not None:
        cands.append(tp)
        if len(cands) > CACHE_LIMIT:
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


def analyze(payload: bytes) -> Template | None:
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


def _analyze(p: bytes) -> Template | None:
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
    return Template(tmpl, mask, var_cols, crc_tables(tmpl, var_cols), wall, step, tuple(outputs))


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


def crc_tables(tmpl: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


def _agrees(tp: Template, payload: bytes) -> bool:
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
        return convert(row[col : col + width][None, :], kind)[0]

    with np.errstate(all="ignore"):
        wall = float(field("<f8", tp.wall, 8)) if tp.wall is not None else 0.0
        step = int(field(STEP, tp.step[0], tp.step[1])) if tp.step is not None else 0  # type: ignore[call-overload]
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
