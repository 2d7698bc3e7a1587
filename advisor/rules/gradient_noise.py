"""Step-to-step noise dominates progress: the batch is too small for the learning rate.

Why it matters: each update follows one small batch's gradient; when that noise is larger
than the signal, progress is slow and erratic and the final loss sits on a noise floor.
Batch sizes of 32-256 (powers of two) are the usual start; larger batches trade noise for
memory and, past a point, generalisation.

Signals: per-step train loss.

Trigger: at any logging cadence (each logged point is one minibatch's loss, or a mean over a
few, which only lowers the noise; ``min_bin`` points a bin at least), the noise over the last
``late`` of the run — robust point-to-point noise relative to the median level, or the
standard deviation relative to the mean (per-example losses are heavy-tailed, which a robust
estimate would hide) — exceeds ``min_ratio`` of the loss level there and
``min_of_drop`` of the loss's whole fall (a converged loss near zero is noisy relative to its
level, not to its progress). Info only: noisy small-batch training can be healthy.

Needs at least ``min_points`` points.

Remedies: ``batch_size`` x4 (to a power of two in 32-256), ``scale_lr`` 0.5, a decaying
``lr_schedule``.

Known false positives: losses whose per-example spread is large by nature (e.g. detection
losses with varying object counts).
"""

from __future__ import annotations

from dataclasses import dataclass


import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence, pow2_batch
from advisor.signals import diff_noise, fmt, median, pct

ID = "gradient-noise"
SEVERITY = Severity.INFO
SIGNALS = ("per-step train loss",)


@dataclass(frozen=True)
class Params:
    min_ratio: float = 0.75
    min_of_drop: float = 0.1
    late: float = 0.3
    min_bin: int = 1
    min_points: int = 100


def detect(ctx: Context, p: Params) -> list[Finding]:
    c = ctx.train
    if c is None or c.n < p.min_points or float(median(c.bcount)) < p.min_bin:
        return []
    k = max(p.min_points // 2, int(c.n * p.late))
    tail = c.values[-k:]
    # Two views of the spread: robust point-to-point noise (symmetric noise) and the standard
    # deviation (per-example losses are heavy-tailed: mostly ~0, now and then large — a MAD
    # misses exactly that). Each relative to the level it sits on.
    mean = abs(float(np.mean(tail)))
    robust, level = diff_noise(tail), abs(float(median(tail)))
    std = float(np.std(tail))
    ratio = max(robust / level if level else 0.0, std / mean if mean else 0.0)
    noise = max(robust, std)
    sh = ctx.train_shape
    drop = max(sh.v0 - sh.vend, 0.0) if sh is not None else 0.0
    if ratio < p.min_ratio or noise < p.min_of_drop * drop:
        return []  # a converged loss near zero is noisy relative to its level, not to its progress
    bs = ctx.num_param("batch_size")
    rem = [
        R.batch_size(pow2_batch(bs), "average more examples per step" + (f" (batch is {int(bs)})" if bs else "")),
        R.scale_lr(0.5, "smaller steps for noisy gradients"),
        R.lr_schedule("cosine", "decaying the rate lowers the noise floor late in training"),
    ]
    evidence = {
        "late_noise": noise,
        "late_level": level,
        "late_mean": mean,
        "noise_over_level": round(ratio, 3),
        "step_range": [int(c.steps[-k]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    if bs:
        evidence["batch_size"] = bs
    summary = (
        f"per-step train loss noise {fmt(noise)} is {pct(ratio)} of its level {fmt(mean)} over the last "
        f"{pct(p.late)} of the run" + (f" (batch size {int(bs)})" if bs else "")
    )
    conf = margin_confidence(ratio, p.min_ratio, 0.5, base=0.5)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[-k]))]
