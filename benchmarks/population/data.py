"""Small datasets that need no download: scikit-learn's bundled sets and a few generated tasks.

Every loader returns float/long tensors already split into train and validation by the run's
seed, standardised with the training statistics (as any tutorial script does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn import datasets as skd

from .spec import DataSpec


@dataclass(frozen=True)
class Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int  # 0: regression
    kind: str  # tabular | image | sequence | tokens
    in_dim: int  # features (tabular), channels per step (sequence), vocabulary (tokens)
    seq_len: int = 0


def _spirals(rng: np.random.Generator, n: int, jitter: float) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    t = np.sqrt(rng.uniform(0.0, 1.0, half)) * 3.0 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.0 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, 0.03 * jitter, (2 * half, 2))
    y = np.concatenate([np.zeros(half), np.ones(half)])
    return x, y


def _adding(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: sum the two values whose marker channel is 1."""
    vals = rng.uniform(0.0, 1.0, (n, length))
    marks = np.zeros((n, length))
    first = rng.integers(0, length // 2, n)
    second = rng.integers(length // 2, length, n)
    marks[np.arange(n), first] = 1.0
    marks[np.arange(n), second] = 1.0
    y = vals[np.arange(n), first] + vals[np.arange(n), second]
    return np.stack([vals, marks], axis=2), y


def _seqcls(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of three noisy channels carries a hidden positive drift over the sequence."""
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 1.0, (n, length, 3))
    x[np.arange(n), :, y] += 0.35
    return x, y


def _majority(rng: np.random.Generator, n: int, length: int, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokens drawn with one favoured token; the label is the most frequent token."""
    fav = rng.integers(0, vocab, n)
    probs = np.full((n, vocab), 1.0)
    probs[np.arange(n), fav] += 1.0
    probs /= probs.sum(1, keepdims=True)
    cum = probs.cumsum(1)
    tokens = (rng.uniform(0, 1, (n, length, 1)) > cum[:, None, :]).sum(2)
    counts = np.stack([(tokens == v).sum(1) for v in range(vocab)], axis=1)
    return tokens, counts.argmax(1)


def _raw(spec: DataSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Features, targets, class count (0: regression) and kind, before splitting."""
    name, n = spec.name, spec.n
    if name in ("digits", "wine", "breast_cancer", "iris"):
        bunch = getattr(skd, f"load_{name}")()
        kind = "image" if name == "digits" else "tabular"
        return bunch.data.astype(np.float64), bunch.target, int(bunch.target.max()) + 1, kind
    if name == "spirals":
        x, y = _spirals(rng, n or 2000, spec.difficulty)
        return x, y, 2, "tabular"
    if name == "blobs":
        x, y = skd.make_blobs(n or 2000, n_features=8, centers=spec.classes, cluster_std=2.5 * spec.difficulty,
                              random_state=int(rng.integers(1 << 30)))
        return x, y, spec.classes, "tabular"
    if name == "friedman":
        x, y = skd.make_friedman1(n or 2000, noise=1.0, random_state=int(rng.integers(1 << 30)))
        return x, y, 0, "tabular"
    if name == "adding":
        x, y = _adding(rng, n or 2000, 30)
        return x, y, 0, "sequence"
    if name == "seqcls":
        x, y = _seqcls(rng, n or 2000, 24)
        return x, y, 3, "sequence"
    if name == "majority":
        x, y = _majority(rng, n or 2000, 12, 4)
        return x, y, 4, "tokens"
    raise ValueError(f"unknown dataset {name!r}")


def _corrupt(y: np.ndarray, share: float, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Replace a share of the labels by uniformly random ones (the usual noisy-label model)."""
    y = y.copy()
    hit = rng.uniform(0, 1, len(y)) < share
    y[hit] = rng.integers(0, classes, int(hit.sum()))
    return y


def _skew(x: np.ndarray, y: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Keep every example of class 0 and a random subset of the rest, so that class 0 makes up
    ``share`` of the data (a majority class, as in fraud or defect detection)."""
    major = np.nonzero(y == 0)[0]
    minor = np.nonzero(y != 0)[0]
    keep = int(round(len(major) * (1.0 - share) / share))
    minor = rng.choice(minor, size=min(keep, len(minor)), replace=False)
    idx = np.sort(np.concatenate([major, minor]))
    return x[idx], y[idx]


def load(spec: DataSpec, seed: int) -> Data:
    rng = np.random.default_rng(seed * 7919 + 17)
    x, y, classes, kind = _raw(spec, rng)
    if spec.majority and classes:
        x, y = _skew(x, y, spec.majority, rng)
    order = rng.permutation(len(x))
    n_val = spec.val_size or max(20, len(x) // 5)
    val, train = order[:n_val], order[n_val:]
    if spec.train_size:
        train = train[: spec.train_size]
    xt, xv, yt, yv = x[train], x[val], y[train].astype(np.float64), y[val].astype(np.float64)
    if kind in ("tabular", "image"):
        # as sklearn's StandardScaler: a feature constant over the train split (a digits pixel that
        # is 0 in every one of 200 train images) keeps scale 1. Dividing by its ~0 std threw the
        # val split's nonzero values to ~1e7 — an unintended train/val mismatch (val loss 10-1000x
        # the train loss from the first evaluation) in digits runs whose label said otherwise.
        mu, sd = xt.mean(0), xt.std(0)
        sd = np.where(sd > 1e-8, sd, 1.0)
        xt, xv = (xt - mu) / sd, (xv - mu) / sd
    if classes == 0 and spec.target_scale:
        yt, yv = yt * spec.target_scale, yv * spec.target_scale  # raw units, not standardised
    elif classes == 0:
        mu, sd = yt.mean(), yt.std() + 1e-6
        if spec.target_noise:
            yt = yt + rng.normal(0.0, spec.target_noise * sd, len(yt))
            sd = yt.std()  # the script standardises with the (noisy) training targets it sees
        yt, yv = (yt - mu) / sd, (yv - mu) / sd
    elif spec.label_noise:
        yt = _corrupt(yt.astype(np.int64), spec.label_noise, classes, rng).astype(np.float64)
    return _tensors(xt, yt, xv, yv, classes, kind)


def _tensors(xt: np.ndarray, yt: np.ndarray, xv: np.ndarray, yv: np.ndarray, classes: int, kind: str) -> Data:
    def feats(a: np.ndarray) -> torch.Tensor:
        if kind == "tokens":
            return torch.as_tensor(a, dtype=torch.long)
        t = torch.as_tensor(a, dtype=torch.float32)
        return t.reshape(-1, 1, 8, 8) if kind == "image" else t

    def targets(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.long if classes else torch.float32)

    in_dim = {"tokens": 4, "sequence": xt.shape[-1] if xt.ndim == 3 else 1}.get(kind, xt.shape[1])
    seq_len = xt.shape[1] if kind in ("sequence", "tokens") else 0
    return Data(feats(xt), targets(yt), feats(xv), targets(yv), classes, kind, int(in_dim), int(seq_len))
