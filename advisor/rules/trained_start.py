"""Whether a run's first logged state is an already trained model, told without an accuracy.

``Context.started_trained`` reads an accuracy against chance; these are its fallbacks for runs
that log none: the generalisation gap of a model resumed at its floor, and a task metric whose
untrained value is zero (a detector's mAP, a segmenter's IoU, a translator's BLEU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from advisor.io.tags import tokens
from advisor.signals import median, percent_scale, rolling_median

if TYPE_CHECKING:  # base asks this module; it never needs base at run time
    from advisor.rules.base import Context

# Metrics an untrained model scores about zero on: a random detector's mAP, a random mask's IoU
# with the objects, a random decoder's BLEU. (Not F1, dice or precision: predicting every
# example positive scores the positive share.)
ZERO_CHANCE = frozenset({"map", "ap", "ap50", "ap75", "iou", "miou", "fwiou", "bleu"})


def gap_from_start(ctx: Context) -> bool:
    """A model that learned nothing scores both splits alike (val/train 1.00-1.04 over every
    no-learning, frozen, shuffled-label and vanishing-gradient run of the population); one that
    has fitted its train split scores it better (a resumed regression MLP: 1.16-1.43 over six
    seeds). Validation 1.15-4x the train loss's level at
    its first evaluation (within the first 10% of the run) and over all of them — 4x and more
    is a split prepared differently, data-mismatch's — while the train loss's late median is
    no lower than 0.8 of its first points' (nothing learned in the run) and validation never
    climbs 25% above where it started: the run resumed a trained model at its floor."""
    t, v = ctx.train, ctx.val
    if v is None or v.n < 3 or v.cut_short or float(v.steps[0]) > float(t.steps[0]) + 0.1 * max(t.span, 1.0):
        return False
    level = np.interp(v.steps.astype(float), t.bsteps, rolling_median(t.bvals, 9) if t.bvals.size >= 15 else t.bvals)
    if not np.all(level > 0) or float(median(t.values[:10])) <= 0:
        return False
    ratio = np.asarray(v.values, dtype=float) / level
    r0, rall = float(ratio[0]), float(median(ratio))
    late = float(median(t.values[t.n // 2 :]))
    steady = late >= 0.8 * float(median(t.values[:10])) and float(np.max(rolling_median(v.values, 3))) <= 1.25 * float(v.values[0])
    return bool(1.15 <= r0 < 4.0 and 1.15 <= rall < 4.0 and steady)


def metric_from_start(ctx: Context, early: float = 0.05, level: float = 0.15, keep: float = 0.5) -> bool:
    """A metric an untrained model scores zero on (:data:`ZERO_CHANCE`, higher is better) is at
    ``level`` of its scale or more at its first evaluation, within the first ``early`` of the run,
    and its rolling median (three) never falls under ``keep`` of that start: the run resumed or
    fine-tunes a trained model (a YOLO run from COCO weights at mAP@0.5:0.95 0.19-0.30 after its
    first epoch; from scratch it scores under 0.01 there)."""
    tm, t = ctx.task_metric, ctx.train  # no accuracy is logged here: the task metric is the val metric
    if tm is None or t is None or not tm.higher_is_better or not ZERO_CHANCE & set(tokens(tm.tag)):
        return False
    m = tm.curve
    first_step, end = float(m.steps[0]), max(float(t.steps[-1]), float(m.steps[-1]))
    start = min(float(t.steps[0]), first_step)
    if first_step - start > early * max(end - start, 1.0):
        return False
    scale = percent_scale(m.values)
    first = float(m.values[0]) / scale
    lowest = float(np.min(rolling_median(m.values, 3) if m.n >= 5 else m.values)) / scale
    return bool(first >= level and lowest >= keep * first)
