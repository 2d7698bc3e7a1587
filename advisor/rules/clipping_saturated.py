"""Gradient clipping is active on nearly every step.

Why it matters: clipping is meant to catch rare outliers. If most steps are clipped, every
update has the same length regardless of the gradient — the clip threshold, not the learning
rate, sets the step size, and more than half the steps clipped usually means the learning
rate is too high. (Clipping by value is worse: it can also flip the update direction.)

Signals: the gradient norm before clipping and the clip threshold (from hparams or
config.json: ``max_norm``, ``max_grad_norm``, ``gradient_clip_val``, ...).

Trigger: more than ``min_share`` of the logged gradient norms exceed the clip threshold — a
warning from ``warn_share`` (nearly every step) with a median norm at least ``warn_ratio`` times
the threshold, advice at info otherwise: clipping on most steps is common, e.g. when fine-tuning
large pretrained models at their usual rates (Hugging Face's default ``max_grad_norm`` 1.0 under
norms of 2-3 shortens each step by a factor of 2-3, an ordinary rate adjustment, not the clip
taking over; the population's clip-bound runs sit at 7x and more).

Needs at least ``min_points`` points.

Remedies: ``scale_lr`` by about threshold / typical norm (between 0.01 and 0.5: the usual root
cause, sized by how far off it is), ``clip_grad_norm`` at about the 90th
percentile of the observed norm so that only outliers are clipped, ``warmup``.

Known false positives: a gradient norm logged after clipping (then it never exceeds the
threshold and nothing is reported), or clipping used on purpose as normalised SGD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor, warmup_steps
from advisor.signals import fmt, median, pct

ID = "clipping-saturated"
SEVERITY = Severity.WARNING
SIGNALS = ("gradient norm", "clip threshold")


@dataclass(frozen=True)
class Params:
    min_share: float = 0.5
    warn_share: float = 0.9
    warn_ratio: float = 4.0  # median norm / threshold for a warning
    min_points: int = 20


def detect(ctx: Context, p: Params) -> list[Finding]:
    g = ctx.grad
    clip = ctx.num_param("clip")
    if g is None or g.n < p.min_points or clip is None or clip <= 0:
        return []
    share = float(np.mean(g.values > clip * 1.0001))
    if share < p.min_share:
        return []
    p90 = float(np.quantile(g.values, 0.9))
    med = median(g.values)
    # How far off: clipped steps all have length lr * clip; unclipped ones would have lr * norm.
    # Cutting the rate by clip / typical-norm keeps the typical step while clipping stops.
    factor = nice_factor(clip / med) if med > clip else 0.5
    rem = [
        R.scale_lr(factor, f"{pct(share)} of steps clipped (typical norm {fmt(med)} vs threshold {fmt(clip)}): the learning rate is too high, not the gradients rare outliers"),
        R.clip_grad_norm(float(f"{p90:.2g}"), "clip only outliers (about the 90th percentile of the observed norm)"),
        R.warmup(warmup_steps(ctx), "a warmup lets early large gradients settle"),
    ]
    evidence = {
        "clip_threshold": clip,
        "clipped_share": round(share, 3),
        "median_grad_norm": float(median(g.values)),
        "p90_grad_norm": p90,
        "step_range": [int(g.steps[0]), int(g.steps[-1])],
        "signal": "grad_norm",
    }
    summary = (
        f"gradient norm exceeded the clip threshold {fmt(clip)} on {pct(share)} of steps "
        f"(median norm {fmt(float(median(g.values)))}): clipping sets the step size"
    )
    conf = margin_confidence(share, p.min_share, 0.3, base=0.6)
    severity = SEVERITY if share >= p.warn_share and med >= p.warn_ratio * clip else Severity.INFO
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(g.steps[0]))]
