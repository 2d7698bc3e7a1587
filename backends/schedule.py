"""The learning-rate schedule both trainers follow: warmup, then a decay that reaches its floor at the horizon.

One host-side object so that torch (through ``LambdaLR``) and JAX (through optax's
``inject_hyperparams``, fed a per-step lr array by the scan) follow the same curve step for step.
``plateau`` is the one kind that listens to validation: :meth:`Schedule.observe` multiplies the
rate by ``factor`` after ``patience`` evaluations without improvement (torch's ReduceLROnPlateau).
Live remedies change the base rate or the kind mid-run via :meth:`Schedule.reconfigure`.
"""

from __future__ import annotations

import math

import numpy as np

from backends.config import ScheduleConfig


class Schedule:
    """lr(step) for a run of ``run_steps`` steps."""

    def __init__(self, cfg: ScheduleConfig, base_lr: float, run_steps: int) -> None:
        self.run_steps = max(1, run_steps)
        self.plateau_mult = 1.0
        self._best = math.inf
        self._bad = 0
        self.reconfigure(cfg, base_lr)

    def reconfigure(self, cfg: ScheduleConfig, base_lr: float) -> None:
        """Take a new schedule config and base rate, keeping plateau reductions only for plateau."""
        if cfg.kind != "plateau":
            self.plateau_mult, self._best, self._bad = 1.0, math.inf, 0
        self.cfg, self.base_lr = cfg, base_lr
        self.horizon = cfg.horizon or self.run_steps
        h = self.horizon
        self.milestones = sorted(int(round(m * h)) if m < 1 else int(m) for m in cfg.milestones)
        if cfg.kind == "step" and not self.milestones:
            self.milestones = [h // 2, (3 * h) // 4]

    def lr(self, step: int) -> float:
        c = self.cfg
        w = c.warmup
        warm = min(1.0, (step + 1) / w) if w else 1.0
        t = step - w if step >= w else 0
        span = max(1, self.horizon - w)
        base = self.base_lr
        floor = min(c.min_lr, base)
        if c.kind == "constant":
            value = base
        elif c.kind == "step":
            value = base * c.gamma ** sum(step >= m for m in self.milestones)
        elif c.kind == "cosine":
            frac = min(t, span) / span
            value = floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * frac))
        elif c.kind == "exponential":
            if c.gamma < 1.0:
                value = base * c.gamma ** t
            else:  # decay geometrically to the floor (or base/100 without one) at the horizon
                target = floor if floor > 0 else base * 1e-2
                value = base * (target / base) ** (min(t, span) / span)
        else:  # plateau
            value = base * self.plateau_mult
        return max(value, floor) * warm

    def lrs(self, start: int, n: int) -> np.ndarray:
        """The rates of steps ``start .. start+n-1`` (float32, what the JAX scan consumes)."""
        return np.array([self.lr(s) for s in range(start, start + n)], dtype=np.float32)

    def observe(self, val_loss: float) -> bool:
        """Feed one evaluation; return True when a plateau reduction happened."""
        if self.cfg.kind != "plateau" or not math.isfinite(val_loss):
            return False
        if val_loss < self._best * (1.0 - 1e-4):
            self._best, self._bad = val_loss, 0
            return False
        self._bad += 1
        if self._bad > self.cfg.patience:
            self.plateau_mult *= self.cfg.factor
            self._bad = 0
            return True
        return False
