"""Builders and comparisons shared by the io tests (no tensorboard needed)."""

from __future__ import annotations

import glob
import os
import struct
from typing import Callable

import numpy as np

from advisor.io import wire
from advisor.io.records import frame
from advisor.io.tfevents import EventFile
from advisor.io.writer import event_bytes, hparams_values, scalar_value, text_value

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REALRUNS = os.environ.get("ADVISOR_REALRUNS", os.path.join(REPO, "..", "shared", "realruns"))


def realrun_files() -> list[str]:
    return sorted(glob.glob(os.path.join(REALRUNS, "**", "*tfevents*"), recursive=True))


def assert_same(a: EventFile, b: EventFile) -> None:
    """Two reads are identical: every array bit for bit (dtype included), every count and message."""
    assert list(a.scalars) == list(b.scalars) or sorted(a.scalars) == sorted(b.scalars)
    assert sorted(a.scalars) == sorted(b.scalars)
    for tag in a.scalars:
        x, y = a.scalars[tag], b.scalars[tag]
        for name in ("steps", "values", "wall_times", "seq"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype, (tag, name)
            assert u.tobytes() == v.tobytes(), (tag, name, u[:10], v[:10])
    for name in ("hparams", "texts", "file_version", "restarts", "records", "bytes_read", "non_scalar", "bad_crc", "bad_records", "truncated", "problems"):
        assert _eq(getattr(a, name), getattr(b, name)), (name, getattr(a, name), getattr(b, name))


def _eq(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_eq(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_eq(u, v) for u, v in zip(x, y))
    return x == y


# --------------------------------------------------------------------------- record builders

DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_INT64, DT_BOOL = 1, 2, 3, 4, 5, 6, 9, 10
DT_BFLOAT16, DT_UINT16, DT_HALF, DT_UINT32, DT_UINT64 = 14, 17, 19, 22, 23

#: Every scalar tensor encoding the reader supports -> (dtype, how the value is stored).
TENSOR_ENCODINGS = (
    "float_val",
    "float_val_unpacked",
    "double_val",
    "double_val_unpacked",
    "half_val_f16",
    "half_val_bf16",
    "int_val",
    "int64_val",
    "bool_val",
    "uint32_val",
    "uint64_val",
    "content_f4",
    "content_f8",
    "content_f2",
    "content_bf16",
    "content_i4",
    "content_i8",
    "content_u1",
    "content_i2",
    "content_u8",
)


def _shape(dims: tuple[int, ...]) -> bytes:
    return wire.field_bytes(2, b"".join(wire.field_bytes(2, wire.field_varint(1, d)) for d in dims))


def tensor_proto(encoding: str, value: float | int, dims: tuple[int, ...] = ()) -> bytes:
    """A one-element TensorProto holding ``value`` in ``encoding`` (see TENSOR_ENCODINGS)."""
    with np.errstate(all="ignore"):  # out-of-range values overflow to inf, as a C cast does
        return _tensor_proto(encoding, value, dims)


def _tensor_proto(encoding: str, value: float | int, dims: tuple[int, ...]) -> bytes:
    enc = encoding
    if enc.startswith("content_"):
        kind = enc[len("content_") :]
        dtype, np_dtype = {
            "f4": (DT_FLOAT, "<f4"),
            "f8": (DT_DOUBLE, "<f8"),
            "f2": (DT_HALF, "<f2"),
            "bf16": (DT_BFLOAT16, None),
            "i4": (DT_INT32, "<i4"),
            "i8": (DT_INT64, "<i8"),
            "u1": (DT_UINT8, "u1"),
            "i2": (DT_INT16, "<i2"),
            "u8": (DT_UINT64, "<u8"),
        }[kind]
        if np_dtype is None:
            raw = struct.pack("<H", (np.array([value], dtype=np.float32).view(np.uint32)[0] >> 16) & 0xFFFF)
        else:
            with np.errstate(all="ignore"):
                raw = np.array([value]).astype(np_dtype).tobytes()
        return wire.field_varint(1, dtype) + _shape(dims) + wire.field_bytes(4, raw)
    if enc == "float_val":
        return wire.field_varint(1, DT_FLOAT) + _shape(dims) + wire.field_bytes(5, np.float32(value).tobytes())
    if enc == "float_val_unpacked":
        return wire.field_varint(1, DT_FLOAT) + _shape(dims) + wire.key(5, wire.I32) + np.float32(value).tobytes()
    if enc == "double_val":
        return wire.field_varint(1, DT_DOUBLE) + _shape(dims) + wire.field_bytes(6, struct.pack("<d", float(value)))
    if enc == "double_val_unpacked":
        return wire.field_varint(1, DT_DOUBLE) + _shape(dims) + wire.key(6, wire.I64) + struct.pack("<d", float(value))
    if enc in ("half_val_f16", "half_val_bf16"):
        if enc == "half_val_f16":
            with np.errstate(all="ignore"):
                bits = int(np.array([value], dtype=np.float16).view(np.uint16)[0])
            dtype = DT_HALF
        else:
            bits = int(np.array([value], dtype=np.float32).view(np.uint32)[0] >> 16)
            dtype = DT_BFLOAT16
        return wire.field_varint(1, dtype) + _shape(dims) + wire.field_bytes(13, wire.encode_varint(bits))
    field, dtype = {"int_val": (7, DT_INT32), "int64_val": (10, DT_INT64), "bool_val": (11, DT_BOOL), "uint32_val": (16, DT_UINT32), "uint64_val": (17, DT_UINT64)}[enc]
    return wire.field_varint(1, dtype) + _shape(dims) + wire.field_bytes(field, wire.encode_varint(int(value)))


def tensor_value(tag: str, tensor: bytes, plugin: str | None = "scalars") -> bytes:
    """Summary.Value{tag, tensor, metadata} in the order TF2 writes it."""
    out = wire.field_str(1, tag) + wire.field_bytes(8, tensor)
    if plugin is not None:
        out += wire.field_bytes(9, wire.field_bytes(1, wire.field_str(1, plugin)))
    return out


def summary_event(wall: float, step: int, *values: bytes) -> bytes:
    return event_bytes(wall, step, summary=b"".join(wire.field_bytes(1, v) for v in values))


def histogram_value(tag: str, n: int) -> bytes:
    """A multi-element tensor of the histograms plugin: counted, never a scalar."""
    tensor = wire.field_varint(1, DT_DOUBLE) + _shape((n, 3)) + wire.field_bytes(4, np.arange(3 * n, dtype="<f8").tobytes())
    return tensor_value(tag, tensor, "histograms")


# --------------------------------------------------------------------------- random files

#: Tags drawn by the random file builder: plain, nested, unicode, long, empty.
TAG_POOL = ("loss", "train/loss", "val/acc", "Loss/train", "métrique/λ", "x" * 130, "", "lr-Adam", "a/b/c/d/e/f", "epoch")


def random_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite, huge, tiny, NaN (with payloads), infinite and negative zero values."""
    v = rng.standard_normal(n) * 10.0 ** rng.integers(-40, 40, n)
    special = rng.random(n)
    v[special < 0.05] = np.nan
    v[(special >= 0.05) & (special < 0.08)] = np.inf
    v[(special >= 0.08) & (special < 0.10)] = -np.inf
    v[(special >= 0.10) & (special < 0.12)] = -0.0
    return v


def random_event_file(rng: np.random.Generator, n_records: int = 400, junk: bool = True) -> bytes:
    """A framed event file mixing every record kind, arranged in repeating cycles (so the fast path
    batches them) with interruptions, restarts, steps that cross varint lengths and go back, files
    of every file_version (none, 1, 2, unreadable, changing midway), and records the fast path
    must hand to the general decoder."""
    version = [None, "brain.Event:1", "brain.Event:2", "brain.Event:2", "brain.Event:2", "nonsense"][int(rng.integers(0, 6))]
    out = [frame(event_bytes(1.6e9, file_version=version))] if version else []
    step = int(rng.choice([0, 1, 120, 16370, 2**21 - 5, 2**35, -3, 2**62]))
    wall = float(rng.choice([1.6e9, 0.0, 1e-300, 123.456]))
    kinds: list[Callable[[int, float], bytes]] = []
    metas_seen: set[str] = set()

    def simple(tag: str) -> Callable[[int, float], bytes]:
        return lambda s, w: summary_event(w, s, scalar_value(tag, float(random_values(rng, 1)[0])))

    def multi(tags: list[str]) -> Callable[[int, float], bytes]:
        return lambda s, w: summary_event(w, s, *(scalar_value(t, float(v)) for t, v in zip(tags, random_values(rng, len(tags)))))

    def tensor(tag: str, enc: str, meta: str) -> Callable[[int, float], bytes]:
        dims = [(), (1,), (1, 1)][int(rng.integers(0, 3))]

        def make(s: int, w: float) -> bytes:
            if enc.startswith(("int", "content_i", "uint", "content_u")) or enc == "bool_val":
                hi = {"bool_val": 3, "content_u1": 256, "content_i2": 2**15}.get(enc, 2**40)
                lo = 0 if enc in ("bool_val", "uint32_val", "uint64_val", "content_u1", "content_u8") else -hi
                v: float | int = int(rng.integers(lo, hi))
                if enc in ("uint64_val", "content_u8") and rng.random() < 0.3:
                    v = 2**64 - 1 - int(rng.integers(0, 2**40))  # beyond int64: float conversion rounds
            else:
                v = float(random_values(rng, 1)[0])
            plugin = None
            if meta == "always" or (meta == "first" and tag not in metas_seen):
                plugin = "scalars"
                metas_seen.add(tag)
            elif meta == "other":
                plugin = "histograms"
            return summary_event(w, s, tensor_value(tag, tensor_proto(enc, v, dims), plugin))

        return make

    n_kinds = int(rng.integers(1, 6))
    for _ in range(n_kinds):
        r = rng.random()
        tag = str(rng.choice(TAG_POOL))
        if r < 0.45:
            kinds.append(simple(tag))
        elif r < 0.8:
            kinds.append(tensor(tag, str(rng.choice(TENSOR_ENCODINGS)), str(rng.choice(["first", "always", "none", "other"], p=[0.5, 0.3, 0.15, 0.05]))))
        elif r < 0.9:
            kinds.append(multi([str(t) for t in rng.choice(TAG_POOL, int(rng.integers(2, 4)))]))
        else:
            kinds.append(lambda s, w, tag=tag: summary_event(w, s, histogram_value(tag, 2)))
    interrupt = float(rng.choice([0.0, 0.01, 0.05]))
    wall_step = float(rng.choice([0.0, 0.05, 1e-7, 3.0]))
    while len(out) < n_records:
        for make in kinds:
            out.append(frame(make(step, wall)))
            wall += wall_step
        step += int(rng.choice([1, 1, 1, 1, 7, 1000])) if rng.random() < 0.99 else -int(rng.integers(0, 50))
        if rng.random() < interrupt:
            r = rng.random()
            if r < 0.3:
                out.append(frame(summary_event(wall, step, text_value("notes", "héllo\nworld"))))
            elif r < 0.5:
                out.append(frame(event_bytes(wall, max(0, step - int(rng.integers(0, 20))), session_log=wire.field_varint(1, 1))))
            elif r < 0.65:
                out.extend(frame(summary_event(wall, 0, v)) for v in hparams_values({"lr": 0.1, "opt": "adam", "layers": 3, "bn": True}))
            elif r < 0.8 and junk:
                out.append(frame(bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))))  # junk payload
            elif r < 0.85:
                out.append(frame(event_bytes(wall, step)))  # an event with nothing in it
            elif r < 0.9:
                out.append(frame(event_bytes(wall, step, file_version=str(rng.choice(["brain.Event:2", "brain.Event:1"])))))
            else:
                out.append(frame(summary_event(wall, step, scalar_value("val/loss", 0.5))))
    return b"".join(out)


def write(path: str, data: bytes) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def flipped_bytes_read_as_general(tmp_dir: str, data: bytes, count: int, seed: int) -> None:
    """``count`` copies of ``data``, each with one byte changed at a random place, are read exactly
    as the general decoder reads them, with CRC checks on and off."""
    from advisor.io.tfevents import read_event_file

    rng = np.random.default_rng(seed)
    for i, at in enumerate(rng.choice(len(data), count, replace=False).tolist()):
        variant = bytearray(data)
        variant[at] ^= int(rng.integers(1, 256))
        path = write(os.path.join(tmp_dir, f"flipped{i}.v2"), bytes(variant))
        for verify_crc in (True, False):
            assert_same(read_event_file(path, verify_crc), read_event_file(path, verify_crc, fast=False))
