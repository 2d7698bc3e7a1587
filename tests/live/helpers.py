"""Synthetic loss curves for the live tests: healthy, diverging, going NaN."""

from __future__ import annotations

import numpy as np


def healthy(n: int, seed: int = 0, tau: float = 300.0, noise: float = 0.03) -> np.ndarray:
    """A falling cross-entropy-like loss: 2.3 -> 0.3 with multiplicative noise."""
    rng = np.random.default_rng(seed)
    s = np.arange(n)
    return (2.0 * np.exp(-s / tau) + 0.3) * (1 + noise * rng.standard_normal(n))


def diverging(n: int, onset: int, growth: float = 1.05, seed: int = 0) -> np.ndarray:
    """Healthy until ``onset``, then growing by ``growth`` per step."""
    loss = healthy(n, seed)
    k = np.maximum(np.arange(n) - onset, 0).astype(float)
    with np.errstate(over="ignore"):
        return loss * np.power(growth, k)


def nan_at(n: int, onset: int, seed: int = 0) -> np.ndarray:
    loss = healthy(n, seed)
    loss[onset:] = np.nan
    return loss


def alerts_for(mon, conditions) -> list:
    return [a for a in mon.alerts if a.finding.condition in conditions]
