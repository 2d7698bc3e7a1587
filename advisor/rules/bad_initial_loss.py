"""The first loss is far from what a correct output layer gives (ln C for C classes).

Why it matters: a freshly initialised classifier should predict roughly uniformly, so its
cross-entropy starts near ln C. Far above means confident wrong predictions at step 0 —
unnormalised inputs, a large final-layer init, or a loss on the wrong scale — and the first
part of training is spent undoing that. Far below means the task leaks the answer or the loss
is not what it seems.

Signals: train loss and the class count (``num_classes`` in hparams or config).

Trigger: the run is a classifier with C known, the loss is logged from the start (first step
within ``max_first`` of the run), and its first value is above ``high`` x ln C or below
``low`` x ln C. When C is not known but the run logs an accuracy (it is a classifier), a first
loss above ``unknown_high`` is reported all the same: that is over 3x ln C for any C under 150,
and above what a uniform output over even millions of classes gives.

Remedies: ``sanitize_inputs`` (normalise features), ``normalization``, ``check_data`` (last-layer
init, label encoding, the loss's reduction).

Known false positives: label smoothing or class weighting (which shift the expected value a
little); losses summed over tokens or pixels instead of averaged (not per-example
cross-entropy at all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import fmt, median

ID = "bad-initial-loss"
SEVERITY = Severity.INFO
SIGNALS = ("train loss", "class count")


@dataclass(frozen=True)
class Params:
    high: float = 2.0
    low: float = 0.3
    max_first: float = 0.01
    unknown_high: float = 15.0


def detect(ctx: Context, p: Params) -> list[Finding]:
    c = ctx.train
    k = ctx.num_classes
    if c is None or c.n < 2:
        return []
    span = max(ctx.last_step - ctx.first_step, 1)
    if (c.steps[0] - ctx.first_step) > p.max_first * span and c.steps[0] > 10:
        return []  # not logged from the start: its first point is not the initial loss
    first = float(median(c.values[: min(3, c.n)] if c.n >= 100 else c.values[:1]))
    if k is None:
        return _unknown_classes(ctx, c, first, p)
    expected = math.log(k)
    ratio = first / expected
    if p.low <= ratio <= p.high:
        return []
    evidence = {"first_loss": first, "expected_loss": expected, "classes": k, "ratio": round(ratio, 3), "step_range": [int(c.steps[0]), int(c.steps[0])], "signal": "train_loss"}
    if ratio > p.high:
        rem = [
            R.sanitize_inputs("normalise the inputs: large features make confident, wrong logits at step 0"),
            R.normalization("batchnorm", "normalised activations keep the initial logits small"),
            R.check_data("the final layer's initialisation (small weights, zero bias) and the label encoding"),
        ]
        summary = f"first train loss {fmt(first)} is {ratio:.1f}x ln({k}) = {fmt(expected)}, what a uniform {k}-class output gives"
        conf = margin_confidence(ratio, p.high, 2.0, base=0.5)
    else:
        rem = [R.check_data("the labels for leakage into the inputs, and that the loss is per-example cross-entropy")]
        summary = f"first train loss {fmt(first)} is only {ratio:.2f}x ln({k}) = {fmt(expected)}: suspiciously low for an untrained {k}-class model"
        conf = 0.5
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def _unknown_classes(ctx: Context, c, first: float, p: Params) -> list[Finding]:
    """A classifier whose class count is not known, starting at a loss no uniform output gives."""
    if ctx.train_acc is None and ctx.val_acc is None:
        return []
    # one point is enough here: no initialisation near uniform puts e^-15 on a single example's
    # true class, so a first point this high is the initial weights' loss, however noisy the
    # minibatch (the median of the first three hides it when the next point is logged 100 steps on)
    first = max(first, float(c.values[0]))
    if not first > p.unknown_high:
        return []
    evidence = {"first_loss": first, "classes": None, "step_range": [int(c.steps[0]), int(c.steps[0])], "signal": "train_loss"}
    rem = [
        R.check_data("the final layer's initialisation (small weights, zero bias), the label encoding and the loss's reduction"),
        R.sanitize_inputs("normalise the inputs: large features make confident, wrong logits at step 0"),
    ]
    summary = (
        f"first train loss {fmt(first)} of a classifier (it logs accuracy): a uniform output over C classes gives ln C, "
        f"about {fmt(math.log(10))} for 10 and {fmt(math.log(1000))} for 1000 (class count not known; set num_classes)"
    )
    conf = margin_confidence(first, p.unknown_high, 15.0, base=0.45)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]
