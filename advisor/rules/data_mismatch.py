"""Training loss flat while validation improves: the two are not measuring the same thing.

Why it matters: if validation gets better while training does not, the training signal is
not what the model learns from (a broken or shuffled training target, a training loss
logged from the wrong place), or the splits come from different distributions.

Signals: train and val loss.

Trigger: the train loss changes by less than ``train_flat`` of its level and either shows no
trend (Mann-Kendall |z| under ``flat_z``) or falls at most 1/``val_ratio`` as much as
validation does (a long curve makes a 2% drift significant; what matters is that validation
improves several times more than training), while the validation loss, over at least
``min_evals`` points, falls with a significant trend (z below ``val_z``) by more than
``val_drop`` of its initial value.

Remedies: ``check_data`` (that the logged train loss is the optimised one; labels; that train
and validation come from the same distribution and pipeline).

Known false positives: a training loss that is logged as a running average over a very long
window (it moves too slowly to show a trend).
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import fmt, pct

ID = "data-mismatch"
SEVERITY = Severity.WARNING
SIGNALS = ("train loss", "val loss")


@dataclass(frozen=True)
class Params:
    flat_z: float = 2.0
    train_flat: float = 0.08
    val_ratio: float = 3.0
    val_z: float = -2.6
    val_drop: float = 0.1
    min_evals: int = 6


def detect(ctx: Context, p: Params) -> list[Finding]:
    ts, vs = ctx.train_shape, ctx.val_shape
    v = ctx.val
    if ts is None or vs is None or v is None or v.n < p.min_evals:
        return []
    if ctx.train.nonfinite_step is not None or v.nonfinite_step is not None:
        return []
    if vs.z_all >= p.val_z or vs.progress < p.val_drop or abs(ts.progress) >= p.train_flat:
        return []
    if abs(ts.z_all) >= p.flat_z and vs.progress < p.val_ratio * abs(ts.progress):
        return []
    evidence = {
        "train_progress": round(ts.progress, 3),
        "train_trend_z": round(ts.z_all, 2),
        "val_progress": round(vs.progress, 3),
        "val_trend_z": round(vs.z_all, 2),
        "step_range": [int(v.steps[0]), int(v.steps[-1])],
        "signal": "val_loss",
    }
    rem = [R.check_data("that the logged train loss is the optimised one; the training labels; that train and validation share a distribution and pipeline")]
    summary = (
        f"train loss stayed flat ({fmt(ts.v0)} -> {fmt(ts.vend)}) while val loss fell {pct(vs.progress)} "
        f"({fmt(vs.v0)} -> {fmt(vs.vend)}): training and validation are not measuring the same thing"
    )
    conf = margin_confidence(vs.progress, p.val_drop, 0.2, base=0.55)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(v.steps[0]))]
