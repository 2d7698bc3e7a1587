"""Tasks described once, as numpy arrays, for both trainers: real small data and controlled synthetic data.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), pixels in [0, 1].
- ``spirals``: interleaved spiral arms in 2-D (capacity: a tiny model underfits; noise: overfitting).
- ``blobs``: Gaussian clusters in ``n_features`` dimensions (overlap set by ``noise``).
- ``adding``: the adding problem (Hochreiter & Schmidhuber): a sequence of (value, marker) pairs,
  target = the sum of the two marked values; long sequences make RNN gradients explode or vanish.
- ``regression``: a smooth nonlinear function of Gaussian inputs plus noise.

Train, validation and test are drawn from one distribution and split by ``data_seed``, so the data
set stays the same across training seeds. The pipeline's deliberate faults (label noise, labels
shuffled against inputs, class-sorted order, input scale) and the ``sanitize`` fix are applied here;
per-step NaN injection happens in the trainers' batch pipeline (see :func:`backends.loop.nan_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from backends.config import DataConfig
from backends.errors import ConfigError
from backends.taskspec import SPECS, split_sizes


@dataclass(frozen=True)
class Dataset:
    """Arrays ready for a trainer: float32 inputs; int32 labels, or float32 targets of shape (n, 1)."""

    name: str
    regression: bool
    n_classes: int  # 0 for regression
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def out_dim(self) -> int:
        return 1 if self.regression else self.n_classes


def build(d: DataConfig) -> Dataset:
    """Generate (or load), split and pipeline the data a config describes. Deterministic."""
    spec = SPECS[d.task]
    n_train, n_val, n_test = split_sizes(d)
    n = n_train + n_val + n_test
    rng = np.random.default_rng([d.data_seed, _TASK_IDS[d.task]])
    noise = spec.noise if d.noise < 0 else d.noise
    n_classes = d.n_classes or spec.n_classes
    n_features = d.n_features or spec.n_features
    if d.task == "digits":
        x, y = _digits()
        perm = rng.permutation(len(x))[:n]
        x, y = x[perm], y[perm]
    elif d.task == "spirals":
        x, y = _spirals(rng, n, n_classes, noise)
    elif d.task == "blobs":
        x, y = _blobs(rng, n, n_classes, n_features, noise)
    elif d.task == "adding":
        x, y = _adding(rng, n, d.seq_len or spec.seq_len)
    else:
        x, y = _regression(rng, n, n_features, noise)
    x = x.astype(np.float32)
    y = y.astype(np.float32 if spec.regression else np.int32)
    xt, yt = x[:n_train].copy(), y[:n_train].copy()
    xv, yv = x[n_train:n_train + n_val], y[n_train:n_train + n_val]
    xs, ys = x[n_train + n_val:], y[n_train + n_val:]

    fault_rng = np.random.default_rng([d.data_seed, 7919])
    if d.label_noise > 0:
        if spec.regression:
            yt = (yt + fault_rng.normal(0.0, d.label_noise, yt.shape)).astype(np.float32)
        else:
            flip = fault_rng.random(len(yt)) < d.label_noise
            yt[flip] = fault_rng.integers(0, n_classes, int(flip.sum()))
    if d.shuffle_labels:
        yt = yt[fault_rng.permutation(len(yt))]
    if d.sort_by_class and not spec.regression:
        order = np.argsort(yt, kind="stable")
        xt, yt = xt[order], yt[order]
    if d.input_scale != 1.0:
        xt, xv, xs = (a * np.float32(d.input_scale) for a in (xt, xv, xs))
    if d.sanitize:
        xt, xv, xs = standardize(xt, (xt, xv, xs))
    return Dataset(d.task, spec.regression, 0 if spec.regression else n_classes, xt, yt, xv, yv, xs, ys)


def standardize(reference: np.ndarray, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Zero non-finite values, then scale every feature to zero mean and unit variance (train stats)."""
    ref = np.where(np.isfinite(reference), reference, np.nan).astype(np.float64)
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(ref, axis=0))
        std = np.nan_to_num(np.nanstd(ref, axis=0))
    std = np.where(std > 1e-6, std, 1.0)
    out = []
    for a in arrays:
        z = (np.where(np.isfinite(a), a, mean) - mean) / std
        out.append(z.astype(np.float32))
    return tuple(out)


_TASK_IDS = {name: i for i, name in enumerate(SPECS)}


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]  # (n, 8, 8, 1), channels last
    x.setflags(write=False)
    y = bunch.target.astype(np.int32)
    y.setflags(write=False)
    return x, y


def _spirals(rng: np.random.Generator, n: int, k: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, k, n)
    t = np.sqrt(rng.random(n))  # uniform density along the arms
    angle = 3.0 * np.pi * t + 2.0 * np.pi * y / k
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) * 2.0
    return x + rng.normal(0.0, noise, x.shape), y


def _blobs(rng: np.random.Generator, n: int, k: int, dim: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    centers = np.random.default_rng(1234 + k * 97 + dim).normal(0.0, 1.5, (k, dim))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(0.0, spread, (n, dim)), y


def _adding(rng: np.random.Generator, n: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    if t < 2:
        raise ConfigError(f"data.seq_len: the adding problem needs sequences of >= 2 steps, got {t}")
    values = rng.random((n, t))
    marks = np.zeros((n, t))
    half = t // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, t, n)
    marks[np.arange(n), first] = 1.0
    marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = (values * marks).sum(axis=1, keepdims=True)
    return x, y


def _regression(rng: np.random.Generator, n: int, dim: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    w = np.random.default_rng(4321 + dim).normal(0.0, 1.0, (2, dim)) / np.sqrt(dim)
    x = rng.normal(0.0, 1.0, (n, dim))
    y = np.sin(2.0 * x @ w[0]) + 0.5 * (x @ w[1]) ** 2
    return x, (y + rng.normal(0.0, noise, n))[:, None]
