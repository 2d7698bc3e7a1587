"""Validation loss stays clearly below training loss.

Why it matters: usually harmless but worth knowing — the train loss is measured with
dropout or other train-only regularisation active (and averaged over an epoch in which the
model improved). When the gap is large it points at regularisation so strong that it holds
the model back (val near zero while train stays high: dropout too strong), at a validation
set that is too small or easy, at leakage between the splits, or at a metric bug.

Signals: train and val loss.

Trigger: with at least ``min_evals`` validation points, over the second half of the run, at least ``min_share`` of the validation points lie
below the train loss at the same step by more than ``margin`` of the train loss, and the
median gap exceeds ``noise_k`` times the train loss's noise. The train loss there is its level: a
rolling median over the train bins between two evaluations (at most 15), whose noise is the
bins' noise shrunk by the window; or the median train loss over the second half exceeds the
median val loss there by ``noise_k`` times the noise of that median. "Strong" when val is below
``strong_ratio`` of train. Not when the train loss ended below ``solved`` of its start: the model
has solved its training set, and val "below" train is a ratio of two numbers near zero (a blobs
MLP at 1e-4 vs 1e-3, one val batch of 16 jumping by its own size).

Remedies: for a strong gap with dropout configured, ``dropout`` lower; ``larger_val_set``;
``check_data`` (leakage between splits; whether both losses are computed the same way).

Known false positives: heavy augmentation on the training set only, which legitimately makes
training examples harder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import fmt, median, pct, rolling_median

ID = "val-below-train"
SEVERITY = Severity.INFO
SIGNALS = ("train loss", "val loss")


@dataclass(frozen=True)
class Params:
    margin: float = 0.1
    min_share: float = 0.8
    noise_k: float = 2.0
    strong_ratio: float = 0.5
    min_evals: int = 4
    solved: float = 0.01  # a train loss that ended below this share of its start has solved its set


def detect(ctx: Context, p: Params) -> list[Finding]:
    v, t = ctx.val, ctx.train
    if v is None or t is None or v.n < p.min_evals or t.n < 3:
        return []
    if t.end() < p.solved * t.start():
        return []  # the train set is solved: two losses near zero, a ratio between them says nothing
    half = ctx.first_step + (ctx.last_step - ctx.first_step) / 2
    m = v.steps >= half
    if m.sum() < max(2, p.min_evals // 2):
        return []
    vs, vv = v.steps[m], v.values[m]
    # The train level at each evaluation: a rolling median over the train bins between two
    # evaluations (one noisy minibatch a point when the loss is logged sparsely), its noise
    # shrunk accordingly.
    w = int(min(15, max(1, len(t.bvals) // max(v.n, 1))))
    w += 1 - w % 2
    level = rolling_median(t.bvals, w) if w > 1 else t.bvals
    t_noise = t.bnoise * (1.25 / np.sqrt(w) if w > 1 else 1.0)
    tv = np.interp(vs, t.bsteps, level)
    ok = tv > 0
    if ok.sum() < 2:
        return []
    ratio = vv[ok] / tv[ok]
    share = float(np.mean(ratio < 1 - p.margin))
    gap = float(median(tv[ok] - vv[ok]))
    # pooled over the second half, the train level is known far better than at any one step
    tb = t.bvals[t.bsteps >= half]
    pooled = float(median(tb) - median(vv)) if tb.size >= 3 else 0.0
    pooled_noise = t.bnoise * 1.25 / np.sqrt(max(tb.size, 1))
    if share < p.min_share or (gap <= p.noise_k * t_noise and pooled <= p.noise_k * pooled_noise):
        return []
    r = float(median(ratio))
    strong = r < p.strong_ratio
    drop = ctx.num_param("dropout")
    rem = []
    if drop and drop > 0:
        rem.append(R.dropout(round(drop / 2, 3) if drop > 0.2 else 0.0, f"dropout {drop} inflates the train loss; val far below train says it is too strong"))
    rem += [
        R.check_data("leakage or duplicates between train and validation; that both losses are computed the same way"),
        R.larger_val_set("a small or easy validation set can sit below train"),
    ]
    evidence = {
        "median_val_over_train": round(r, 3),
        "share_of_evals_below": round(share, 3),
        "median_gap": gap,
        "step_range": [int(vs[0]), int(vs[-1])],
        "signal": "val_loss",
    }
    summary = (
        f"val loss sat below train loss in {pct(share)} of evaluations over the second half "
        f"(val at {pct(r)} of train, e.g. {fmt(float(vv[-1]))} vs {fmt(float(tv[-1]))} at the end)"
        + ("; that strong a gap suggests regularisation (dropout) too strong or a leaky/easy val set" if strong else "")
    )
    conf = margin_confidence(1 - r, p.margin, 0.3, base=0.5)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(vs[0]))]
