"""Deterministic event-file corpora laid out byte for byte as torch's SummaryWriter writes them.

``SummaryWriter.add_scalar(tag, value, step)`` writes one Event per call: ``wall_time``
(double), ``step`` (varint, omitted when 0, as proto3 does) and ``summary{value{tag,
simple_value}}``, after one ``file_version: "brain.Event:2"`` event. Building millions of
such records one by one in Python (with a pure-Python CRC) would take minutes, so records are
built as numpy rows, grouped by step varint length, with vectorised CRCs.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from advisor.io.crc32c import crc32c_rows, mask_array, masked_crc32c

DEFAULT_TAGS = ("train/loss", "train/accuracy", "train/lr", "train/grad_norm", "val/loss")


def _varint_len(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def _varint_columns(steps: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 varint bytes of ``steps`` (all of that varint length)."""
    out = np.empty((len(steps), width), dtype=np.uint8)
    v = steps.astype(np.uint64)
    for i in range(width):
        b = (v & np.uint64(0x7F)).astype(np.uint8)
        if i < width - 1:
            b |= 0x80
        out[:, i] = b
        v >>= np.uint64(7)
    return out


def _frame_rows(payload: np.ndarray) -> np.ndarray:
    """TFRecord-frame each row of a (n, L) uint8 payload array -> (n, L + 16)."""
    n, length = payload.shape
    header = struct.pack("<Q", length)
    out = np.empty((n, length + 16), dtype=np.uint8)
    out[:, :8] = np.frombuffer(header, dtype=np.uint8)
    out[:, 8:12] = np.frombuffer(struct.pack("<I", masked_crc32c(header)), dtype=np.uint8)
    out[:, 12 : 12 + length] = payload
    out[:, 12 + length :] = mask_array(crc32c_rows(payload)).astype("<u4").view(np.uint8).reshape(n, 4)
    return out


def scalar_records(tag: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Framed simple_value records of one tag for steps that share one varint length -> (n, size)."""
    tb = tag.encode("utf-8")
    if len(tb) > 100:
        raise ValueError("tags longer than 100 bytes are not supported by this generator")
    k = 0 if steps[0] == 0 else _varint_len(int(steps[0]))
    value_msg = bytes([0x0A, len(tb)]) + tb + b"\x15"  # + 4 value bytes
    summary = bytes([0x0A, len(value_msg) + 4])
    length = 9 + (1 + k if k else 0) + 2 + len(summary) + len(value_msg) + 4
    n = len(steps)
    p = np.empty((n, length), dtype=np.uint8)
    p[:, 0] = 0x09
    p[:, 1:9] = walls.astype("<f8").view(np.uint8).reshape(n, 8)
    c = 9
    if k:
        p[:, c] = 0x10
        p[:, c + 1 : c + 1 + k] = _varint_columns(steps, k)
        c += 1 + k
    rest = bytes([0x2A, len(summary) + len(value_msg) + 4]) + summary + value_msg
    p[:, c : c + len(rest)] = np.frombuffer(rest, dtype=np.uint8)
    c += len(rest)
    p[:, c : c + 4] = values.astype("<f4").view(np.uint8).reshape(n, 4)
    return _frame_rows(p)


def file_version_record(wall: float) -> bytes:
    payload = b"\x09" + struct.pack("<d", wall) + b"\x1a\x0dbrain.Event:2"
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc32c(header)) + payload + struct.pack("<I", masked_crc32c(payload))


@dataclass(frozen=True)
class RunData:
    tags: tuple[str, ...]
    steps: np.ndarray  # (n_steps,)
    values: np.ndarray  # (n_steps, n_tags) float32
    walls: np.ndarray  # (n_steps, n_tags) float64


def run_data(seed: int, n_steps: int, tags: tuple[str, ...] = DEFAULT_TAGS, t0: float = 1.7e9) -> RunData:
    """Loss-like curves with noise, one value per tag and step; wall times as a 20 it/s run logs them."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps, dtype=np.int64)
    x = steps / max(1, n_steps)
    base = np.exp(-3.0 * x)[:, None] * rng.uniform(0.5, 3.0, len(tags)) + rng.uniform(0.0, 0.3, len(tags))
    values = (base * (1.0 + 0.05 * rng.standard_normal((n_steps, len(tags))))).astype(np.float32)
    walls = t0 + seed * 1e4 + steps[:, None] * 0.05 + np.arange(len(tags)) * 1e-4 + rng.uniform(0, 1e-3, (n_steps, len(tags)))
    return RunData(tuple(tags), steps, values, walls)


def torch_like_bytes(rd: RunData) -> bytes:
    """The bytes torch's SummaryWriter writes for add_scalar(tag, v, step, walltime) over every step and tag."""
    parts = [file_version_record(float(rd.walls[0, 0]) - 1.0)]
    lens = np.array([0 if s == 0 else _varint_len(int(s)) for s in rd.steps])
    # Split into stretches of equal step varint length, keeping step order.
    bounds = np.flatnonzero(np.diff(lens)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(rd.steps)]):
        blocks = [scalar_records(tag, rd.steps[lo:hi], rd.values[lo:hi, t], rd.walls[lo:hi, t]) for t, tag in enumerate(rd.tags)]
        parts.append(np.concatenate(blocks, axis=1).tobytes())  # step-major: tags interleaved per step
    return b"".join(parts)


def write_corpus(root: str, n_runs: int, n_steps: int, tags: tuple[str, ...] = DEFAULT_TAGS) -> list[str]:
    """A sweep: ``root/run_XXXX/events.out.tfevents.<t>.bench.<pid>.0`` per run. Reuses files already there."""
    paths = []
    for i in range(n_runs):
        d = os.path.join(root, f"run_{i:04d}")
        path = os.path.join(d, f"events.out.tfevents.{1700000000 + i}.bench.{1000 + i}.0")
        paths.append(path)
        if os.path.exists(path):
            continue
        os.makedirs(d, exist_ok=True)
        data = torch_like_bytes(run_data(i, n_steps, tags))
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return paths
