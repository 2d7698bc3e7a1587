"""Synthetic training curves for tests: realistic healthy shapes and one-fault pathologies.

Each builder returns ``{tag: (steps, values)}``; :func:`run_of` turns that into an in-memory
Run and :func:`write_run` into event files. Curves are deterministic per seed.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np

from advisor.io.writer import EventWriter
from advisor.model import Run, Series

Curves = dict[str, tuple[np.ndarray, np.ndarray]]


def run_of(curves: Curves, name: str = "run", hparams: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None) -> Run:
    series = {}
    for tag, (s, v) in curves.items():
        split = None
        if ":" in tag:
            split, tag = tag.split(":", 1)
        ser = Series.from_points(tag, s, v, np.arange(len(s), dtype=float), split=split)
        series[ser.key] = ser
    return Run(name=name, path=f"/nonexistent/{name}", series=series, hparams=dict(hparams or {}), config=dict(config or {}))


def write_run(logdir: str, curves: Curves, hparams: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None) -> str:
    """Write curves as event files; a tag 'train:epoch_loss' goes to logdir/train/."""
    by_dir: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for tag, (s, v) in curves.items():
        d = logdir
        if ":" in tag:
            split, tag = tag.split(":", 1)
            d = os.path.join(logdir, split)
        by_dir.setdefault(d, []).append((tag, s, v))
    for d, items in by_dir.items():
        with EventWriter(d) as w:
            if hparams and d == logdir:
                w.add_hparams(dict(hparams))
            events = sorted((int(st), tag, float(val)) for tag, s, v in items for st, val in zip(s, v))
            for st, tag, val in events:
                w.add_scalar(tag, val, st, wall_time=1_700_000_000.0 + st * 0.01)
    if config is not None:
        import json

        with open(os.path.join(logdir, "config.json"), "w") as fh:
            json.dump(dict(config), fh)
    return logdir


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def ce_curve(n: int, *, start: float = 2.3, floor: float = 0.05, tau: float = 0.2, noise: float = 0.05, seed: int = 0, mult: bool = True) -> np.ndarray:
    """Cross-entropy-like decay from ``start`` to ``floor`` (tau: fraction of the run per e-fold)."""
    t = np.arange(n) / max(n - 1, 1)
    clean = floor + (start - floor) * np.exp(-t / tau)
    eps = _rng(seed).normal(0, noise, n)
    return clean * (1 + eps) if mult else clean + eps


# ----------------------------------------------------------------------------- healthy shapes


def healthy_step_decay(seed: int = 0, n: int = 3000) -> Curves:
    """Per-step CE with a step schedule (÷10 at 50% and 75%), val every 100 steps."""
    steps = np.arange(n)
    lr = np.where(steps < n // 2, 0.1, np.where(steps < 3 * n // 4, 0.01, 0.001))
    loss = ce_curve(n, floor=0.3, tau=0.15, noise=0.08, seed=seed)
    loss[n // 2 :] *= 0.75
    loss[3 * n // 4 :] *= 0.85
    vs = steps[::100]
    val = ce_curve(n, floor=0.4, tau=0.15, noise=0.01, seed=seed + 1)[::100]
    val[vs >= n // 2] *= 0.8
    val[vs >= 3 * n // 4] *= 0.92
    return {"train/loss": (steps, loss), "val/loss": (vs, val), "train/lr": (steps, lr)}


def healthy_cosine_warmup(seed: int = 0, n: int = 4000) -> Curves:
    steps = np.arange(n)
    warm = n // 20
    lr = np.where(steps < warm, 1e-3 * (steps + 1) / warm, 1e-3 * 0.5 * (1 + np.cos(np.pi * (steps - warm) / (n - warm))))
    # progress follows the integral of the learning rate
    cum = np.cumsum(lr)
    cum /= cum[-1]
    rng = _rng(seed)
    loss = (0.2 + 2.1 * np.exp(-cum / 0.15)) * (1 + rng.normal(0, 0.06, n))
    vs = steps[::200]
    val = 0.28 + 2.0 * np.exp(-cum[::200] / 0.15) + rng.normal(0, 0.005, len(vs))
    return {"train/loss": (steps, loss), "val/loss": (vs, val), "train/lr": (steps, lr)}


def healthy_keras_epochs(seed: int = 0, epochs: int = 30) -> Curves:
    e = np.arange(epochs)
    rng = _rng(seed)
    train = 0.15 + 0.9 * np.exp(-e / 5) + rng.normal(0, 0.005, epochs)
    val = 0.2 + 0.8 * np.exp(-e / 5) + rng.normal(0, 0.008, epochs)
    acc = 0.95 - 0.5 * np.exp(-e / 5)
    return {"train:epoch_loss": (e, train), "validation:epoch_loss": (e, val), "train:epoch_accuracy": (e, acc), "validation:epoch_accuracy": (e, acc - 0.02)}


def healthy_regression(seed: int = 0, n: int = 2000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    loss = (0.002 + 0.05 * np.exp(-steps / (0.1 * n))) * (1 + rng.normal(0, 0.1, n))
    vs = steps[::50]
    val = 0.0025 + 0.05 * np.exp(-vs / (0.1 * n)) + rng.normal(0, 0.00005, len(vs))
    return {"train/mse_loss": (steps, loss), "val/mse_loss": (vs, val), "train/lr": (steps, 1e-3 * np.ones(n) * np.where(steps < n // 2, 1, 0.1))}


def healthy_noisy_small_batch(seed: int = 0, n: int = 5000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    clean = 0.25 + 2.05 * np.exp(-steps / (0.2 * n))
    loss = clean * rng.lognormal(0, 0.4, n)
    vs = steps[::250]
    val = 0.3 + 2.0 * np.exp(-vs / (0.2 * n)) + rng.normal(0, 0.01, len(vs))
    return {"train/loss": (steps, loss), "val/loss": (vs, val)}


def healthy_long_converged(seed: int = 0, n: int = 20000) -> Curves:
    steps = np.arange(n)
    lr = 0.1 * 0.1 ** np.floor(steps / (n / 3))
    rng = _rng(seed)
    loss = (0.1 + 2.2 * np.exp(-steps / 800)) * (1 + rng.normal(0, 0.05, n))
    loss[steps >= n / 3] *= 0.9
    loss[steps >= 2 * n / 3] *= 0.95
    vs = steps[::500]
    val = 0.15 + 2.1 * np.exp(-vs / 800) + rng.normal(0, 0.002, len(vs))
    val[vs >= n / 3] *= 0.93
    val[vs >= 2 * n / 3] *= 0.97
    return {"train/loss": (steps, loss), "val/loss": (vs, val), "train/lr": (steps, lr)}


HEALTHY = {
    "step_decay": healthy_step_decay,
    "cosine_warmup": healthy_cosine_warmup,
    "keras_epochs": healthy_keras_epochs,
    "regression": healthy_regression,
    "noisy_small_batch": healthy_noisy_small_batch,
    "long_converged": healthy_long_converged,
}


# ----------------------------------------------------------------------------- pathologies


def overfitting(seed: int = 0, n: int = 3000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    loss = (0.02 + 2.3 * np.exp(-steps / (0.15 * n))) * (1 + rng.normal(0, 0.05, n))
    vs = steps[::100]
    t = vs / n
    val = 0.5 + 1.8 * np.exp(-t / 0.12) + 0.8 * np.maximum(t - 0.3, 0) + rng.normal(0, 0.01, len(vs))
    return {"train/loss": (steps, loss), "val/loss": (vs, val)}


def divergence(seed: int = 0, n: int = 2000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    t = steps / n
    loss = (2.3 * np.exp(-t / 0.1) + 0.4 + 3.0 * np.maximum(t - 0.4, 0) ** 2 * 10) * (1 + rng.normal(0, 0.03, n))
    return {"train/loss": (steps, loss)}


def nan_after(step: int, seed: int = 0, n: int = 2000, growing_grads: bool = False) -> Curves:
    c = healthy_step_decay(seed, n)
    s, v = c["train/loss"]
    v = v.copy()
    v[step:] = np.nan
    c["train/loss"] = (s, v)
    g = 1.0 + 0.1 * _rng(seed).random(n)
    if growing_grads:
        g[step - 200 : step] *= np.logspace(0, 4, 200)
    g[step:] = np.nan
    c["train/grad_norm"] = (s, g)
    return c


def no_learning(seed: int = 0, n: int = 2000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    loss = math.log(10) + rng.normal(0, 0.02, n)
    acc = 0.1 + rng.normal(0, 0.01, n)
    return {"train/loss": (steps, loss), "train/accuracy": (steps, acc)}


def slow(seed: int = 0, n: int = 3000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    loss = 2.3 - 0.6 * steps / n + rng.normal(0, 0.01, n)
    return {"train/loss": (steps, loss), "train/lr": (steps, np.full(n, 1e-5))}


def plateau(seed: int = 0, n: int = 3000) -> Curves:
    steps = np.arange(n)
    rng = _rng(seed)
    t = steps / n
    loss = np.where(t < 0.4, 2.3, 0.2 + 2.1 * np.exp(-(t - 0.4) / 0.08)) + rng.normal(0, 0.01, n)
    return {"train/loss": (steps, loss)}


def unshuffled(seed: int = 0, epochs: int = 12, per_epoch: int = 100) -> Curves:
    n = epochs * per_epoch
    steps = np.arange(n)
    rng = _rng(seed)
    phase = (steps % per_epoch) / per_epoch
    pattern = 0.6 * np.abs(np.sin(np.pi * 5 * phase))  # 5 classes in sorted blocks
    loss = 0.5 + 1.5 * np.exp(-steps / (0.3 * n)) + pattern + rng.normal(0, 0.02, n)
    return {"train/loss": (steps, loss), "train/epoch": (steps, steps // per_epoch)}


def short_schedule(seed: int = 0, n: int = 4000) -> Curves:
    steps = np.arange(n)
    h = n // 4
    lr = np.where(steps < h, 0.1 * 0.5 * (1 + np.cos(np.pi * steps / h)), 0.0)
    cum = np.cumsum(lr)
    cum /= cum[-1]
    rng = _rng(seed)
    loss = (0.6 + 1.7 * np.exp(-cum / 0.3)) * (1 + rng.normal(0, 0.05, n))
    return {"train/loss": (steps, loss), "train/lr": (steps, lr)}
