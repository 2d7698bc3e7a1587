"""More writer layouts for benchmarks/bench_read.py, built vectorised like benchmarks/_corpus.py.

* ``tbx-mixed``: tensorboardX's ``add_scalar`` (one Event per scalar, ``simple_value``, as torch's
  writer) with mixed cadences: four train scalars every step, and every ``VAL_EVERY`` steps two
  validation scalars between them;
* ``tf2``: TF2 ``tf.summary.scalar`` in a custom training loop: each scalar a rank-0 float32
  tensor (``tensor_content``) with the scalars plugin's metadata on a tag's first record;
* ``keras``: Keras' TensorBoard callback, per epoch: ``train/`` and ``validation/`` files of
  ``epoch_*`` TF2 tensor scalars (a run is two small files).

Each function returns {relative path: bytes}; :func:`write_layout` writes a sweep of them.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._corpus import _frame_rows, _varint_columns, _varint_len, file_version_record

VAL_EVERY = 100
TBX_TRAIN = ("train/loss", "train/acc", "train/lr", "train/grad_norm")
TBX_VAL = ("val/loss", "val/acc")
TF2_TAGS = ("loss", "accuracy", "learning_rate", "grad_norm")
KERAS_TRAIN = ("epoch_loss", "epoch_accuracy", "epoch_learning_rate")
KERAS_VAL = ("epoch_loss", "epoch_accuracy")
_SCALARS_METADATA = b"\x0a\x09\x0a\x07scalars" + b"\x20\x01"  # plugin_data{plugin_name}, data_class SCALAR


def _ld(field: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([(field << 3) | 2, len(body)]) + body


def _simple_prefix(tag: str) -> bytes:
    """Summary.value bytes before the 4 value bytes: tag, simple_value."""
    return b"\x0a" + bytes([len(tag)]) + tag.encode() + b"\x15"


def _tensor_prefix(tag: str, metadata: bool) -> bytes:
    """Summary.value bytes before the 4 value bytes: tag, [metadata], tensor{DT_FLOAT, shape {}, content}."""
    tensor_head = b"\x08\x01" + b"\x12\x00" + b"\x22\x04"
    out = b"\x0a" + bytes([len(tag)]) + tag.encode()
    if metadata:
        out += _ld(9, _SCALARS_METADATA)
    return out + b"\x42" + bytes([len(tensor_head) + 4]) + tensor_head


def _records(value_prefix: bytes, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> list[bytes]:
    """Framed Event records (wall_time, step, summary{value}) of one value layout, one per step."""
    out: list[bytes] = []
    if not len(steps):
        return out
    lens = np.array([0 if s == 0 else _varint_len(int(s)) for s in steps])
    bounds = np.flatnonzero(np.diff(lens)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(steps)]):
        s, n, k = steps[lo:hi], hi - lo, int(lens[lo])
        value_msg = value_prefix  # + 4 value bytes
        summary = bytes([0x0A, len(value_msg) + 4])
        rest = bytes([0x2A, len(summary) + len(value_msg) + 4]) + summary + value_msg
        length = 9 + (1 + k if k else 0) + len(rest) + 4
        p = np.empty((n, length), dtype=np.uint8)
        p[:, 0] = 0x09
        p[:, 1:9] = walls[lo:hi].astype("<f8").view(np.uint8).reshape(n, 8)
        c = 9
        if k:
            p[:, c] = 0x10
            p[:, c + 1 : c + 1 + k] = _varint_columns(s, k)
            c += 1 + k
        p[:, c : c + len(rest)] = np.frombuffer(rest, dtype=np.uint8)
        p[:, -4:] = values[lo:hi].astype("<f4").view(np.uint8).reshape(n, 4)
        rows = _frame_rows(p)
        out.extend(r.tobytes() for r in rows)
    return out


def _interleave(streams: list[tuple[np.ndarray, list[bytes]]]) -> bytes:
    """Records of several tags in write order: by step, then by the order of ``streams``."""
    keys = np.concatenate([steps * len(streams) + i for i, (steps, _) in enumerate(streams)])
    rows = [r for _, recs in streams for r in recs]
    return b"".join(rows[i] for i in np.argsort(keys, kind="stable"))


def _curves(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    x = np.arange(n) / max(1, n)
    base = np.exp(-3.0 * x)[:, None] * rng.uniform(0.5, 3.0, k) + rng.uniform(0.0, 0.3, k)
    return (base * (1.0 + 0.05 * rng.standard_normal((n, k)))).astype(np.float32)


def tbx_mixed(seed: int, n_steps: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps, dtype=np.int64)
    vsteps = steps[steps % VAL_EVERY == VAL_EVERY - 1]
    t0 = 1.7e9 + seed * 1e4
    tv, vv = _curves(rng, n_steps, len(TBX_TRAIN)), _curves(rng, len(vsteps), len(TBX_VAL))
    streams = [(steps, _records(_simple_prefix(t), steps, tv[:, i], t0 + steps * 0.05 + i * 1e-4)) for i, t in enumerate(TBX_TRAIN)]
    streams += [(vsteps, _records(_simple_prefix(t), vsteps, vv[:, i], t0 + vsteps * 0.05 + 0.01 + i * 1e-4)) for i, t in enumerate(TBX_VAL)]
    return {f"events.out.tfevents.{1700000000 + seed}.tbx": file_version_record(t0 - 1) + _interleave(streams)}


def _tf2_stream(tags: tuple[str, ...], steps: np.ndarray, values: np.ndarray, t0: float) -> bytes:
    streams = []
    for i, tag in enumerate(tags):
        walls = t0 + steps * 0.05 + i * 1e-4
        first = _records(_tensor_prefix(tag, True), steps[:1], values[:1, i], walls[:1])
        rest = _records(_tensor_prefix(tag, False), steps[1:], values[1:, i], walls[1:]) if len(steps) > 1 else []
        streams.append((steps, first + rest))
    return file_version_record(t0 - 1) + _interleave(streams)


def tf2(seed: int, n_steps: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps, dtype=np.int64)
    t0 = 1.7e9 + seed * 1e4
    return {f"events.out.tfevents.{1700000000 + seed}.tf2.v2": _tf2_stream(TF2_TAGS, steps, _curves(rng, n_steps, len(TF2_TAGS)), t0)}


def keras(seed: int, n_epochs: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    epochs = np.arange(n_epochs, dtype=np.int64)
    t0 = 1.7e9 + seed * 1e4
    return {
        f"train/events.out.tfevents.{1700000000 + seed}.keras.v2": _tf2_stream(KERAS_TRAIN, epochs, _curves(rng, n_epochs, len(KERAS_TRAIN)), t0),
        f"validation/events.out.tfevents.{1700000000 + seed}.keras.v2": _tf2_stream(KERAS_VAL, epochs, _curves(rng, n_epochs, len(KERAS_VAL)), t0 + 1),
    }


LAYOUTS = {"tbx-mixed": (tbx_mixed, len(TBX_TRAIN), len(TBX_VAL) / VAL_EVERY), "tf2": (tf2, len(TF2_TAGS), 0.0), "keras": (keras, len(KERAS_TRAIN) + len(KERAS_VAL), 0.0)}


def write_layout(root: str, layout: str, n_runs: int, n_steps: int) -> list[str]:
    """A sweep of ``n_runs`` runs of ``layout`` under ``root`` (files already there are reused); its file paths."""
    make = LAYOUTS[layout][0]
    paths = []
    for i in range(n_runs):
        run = os.path.join(root, f"run_{i:04d}")
        mine = [os.path.join(run, rel) for rel in sorted(make(i, 1))]  # names do not depend on length
        paths.extend(mine)
        if all(os.path.exists(p) for p in mine):
            continue
        for rel, data in make(i, n_steps).items():
            p = os.path.join(run, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p + ".tmp", "wb") as fh:
                fh.write(data)
            os.replace(p + ".tmp", p)
    return paths
