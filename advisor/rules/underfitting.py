"""Training loss stays high and flat, validation close to it: capacity or training too small.

Why it matters: a model that cannot fit its own training data will not do better on new
data; more capacity, longer training or less regularisation are needed, not early stopping.

Signals: train loss (val loss and train accuracy refine it).

Trigger: the train loss has flattened (no significant fall in its last quarter and under 5%
of its progress made there, or under ``max_late_drop`` of it however significant after at least ``creep_progress``
progress, or under any share once it made ``creep_progress`` while the accuracy — train, else
validation — gained under ``acc_flat_gain`` between the two quarters of the second half), it made real progress (more than ``min_progress``, else it is
no-learning) but still ends above ``min_ratio`` of its initial value (``min_ratio_low_acc`` when the
model's accuracy — train, else validation; of the way from chance to perfect when the class count
is known — ended under ``low_acc``: a 10-class model at 40%
accuracy whose loss fell from 2.3 to 1.25 fits its data badly, though the loss halved) (the first logged point, or a
validation loss evaluated before it when that point already includes updates), validation (if logged)
sits within ``max_gap`` of it, the curve is not swinging (noise under ``max_rel_noise``) and
train accuracy (if logged) is below ``max_train_acc``.

A warning only when the run declares a model too small to fit (a hidden width under
``small_width``) and train accuracy is below ``info_train_acc`` or not logged; else info. The curves
alone cannot tell a model too small from a task whose floor is high: a 64-wide MLP on eight
overlapping classes stops at loss 1.45 from 2.08, accuracy 0.48, train and val together — the same
picture as a 2-wide one on spirals (population ``healthy/hard-*``). The advice holds for both (a
larger model either goes lower or shows the floor), but only declared capacity makes it an alarm.

Needs at least ``min_points`` points.

Remedies: ``capacity`` (one more layer; the width toward ~64 when it is known and under 32,
else x4 when the loss barely moved — final above ``barely_moved`` of initial — else x2),
``train_longer``, less regularisation
(``dropout`` 0, ``weight_decay`` 0 when they are set), ``optimizer`` adam.

Known false positives: tasks whose irreducible loss is high (heavy label noise, inherently
ambiguous data) — the curve cannot tell an underfit model from a perfect one there; a sweep
where other runs get lower is the decisive evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.lr_evidence import first_logged_after_updates
from advisor.signals import fmt, median, pct, percent_scale

ID = "underfitting"
SEVERITY = Severity.WARNING
SIGNALS = ("train loss", "val loss (optional)")


@dataclass(frozen=True)
class Params:
    min_ratio: float = 0.7  # final / initial train loss at or above this is "high"
    min_progress: float = 0.03
    max_gap: float = 0.15
    max_rel_noise: float = 0.1
    max_train_acc: float = 0.95
    info_train_acc: float = 0.9
    small_width: int = 32
    barely_moved: float = 0.85
    max_late_drop: float = 0.03
    creep_progress: float = 0.1
    min_points: int = 10
    acc_flat_gain: float = 0.02
    low_acc: float = 0.6
    min_ratio_low_acc: float = 0.4


def detect(ctx: Context, p: Params) -> list[Finding]:
    got = ctx.finite_train(p.min_points)
    if got is None:
        return []
    c, sh = got
    # a smooth (per-epoch) curve's last creep is "significant" yet buys nothing: under
    # ``max_late_drop`` of the fall in the late window is flat too — once the run made real
    # progress (``creep_progress``); below that the fall is too small to take a fraction of —
    # and so is a creep while the accuracy stays where it was
    flat = sh.end_flat or (0 <= sh.late_drop < p.max_late_drop and sh.progress >= p.creep_progress)
    flat = flat or (sh.progress >= p.creep_progress and _accuracy_flat(ctx, p))
    if sh.v0 <= 0 or not flat or sh.progress < p.min_progress:
        return []
    v0 = _initial(ctx, c, sh.v0)
    ratio = sh.vend / v0
    if ratio < (p.min_ratio_low_acc if _low_accuracy(ctx, p) else p.min_ratio) or sh.rel_noise > p.max_rel_noise:
        return []
    acc = ctx.train_acc
    severity = SEVERITY
    train_acc = None
    if acc is not None and acc.n:
        a = float(median(acc.values[-max(1, acc.n // 10) :]))
        train_acc = a / 100 if a > 1.5 else a
        if train_acc >= p.max_train_acc:
            return []
        if train_acc >= p.info_train_acc:
            severity = Severity.INFO  # a model fitting most of its data: more capacity is advice, not an alarm
    gap = None
    v = ctx.val
    if v is not None and v.n >= 2 and not v.cut_short:
        gap = (v.end() - sh.vend) / abs(sh.vend)
        if abs(gap) > p.max_gap:
            return []
    width = ctx.num_param("width")
    small = bool(width and width < p.small_width)  # far below the 32-256 practitioners start from
    if not small:
        severity = Severity.INFO  # a model too small, or a task whose floor is this high: advice
    if small:  # aim for ~64
        factor = float(2 ** round(math.log2(min(32.0, max(2.0, 64.0 / width)))))
        why = f"a hidden width of {int(width)} cannot fit the training data"
    else:
        factor = 4.0 if ratio >= p.barely_moved else 2.0
        why = "the model cannot fit its own training data"
    rem = [R.capacity(width_factor=factor, depth_delta=1, rationale=why)]
    rem.append(R.train_longer(2.0, "the loss may still creep down with more steps"))
    drop = ctx.num_param("dropout")
    if drop:
        rem.append(R.dropout(0.0, f"dropout {drop} regularises a model that is already underfitting"))
    wd = ctx.num_param("weight_decay")
    if wd:
        rem.append(R.weight_decay(0.0, f"weight decay {wd} holds back a model that is underfitting"))
    opt = str(ctx.param("optimizer") or "").lower()
    if "adam" not in opt:
        rem.append(R.optimizer("adam", rationale="Adam fits faster"))
    evidence = {
        "initial_loss": v0,
        "final_loss": sh.vend,
        "final_over_initial": round(ratio, 3),
        "flat_since_step": int(sh.late_start),
        "step_range": [int(sh.late_start), int(c.steps[-1])],
        "signal": "train_loss",
    }
    if gap is not None:
        evidence["val_gap"] = round(gap, 3)
    if train_acc is not None:
        evidence["final_train_accuracy"] = round(train_acc, 4)
    gap_txt = f"; validation is within {pct(abs(gap))} of the train loss" if gap is not None else ""
    summary = (
        f"train loss flattened at {fmt(sh.vend)}, still {pct(ratio)} of its initial {fmt(v0)}, "
        f"from step {int(sh.late_start)} on{gap_txt}"
    )
    if not small:
        summary += "; a model too small looks the same as a task whose floor is this high: a larger model tells"
    conf = margin_confidence(ratio, p.min_ratio, 0.2, base=0.5)
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(sh.late_start))]


def _initial(ctx: Context, c, v0: float) -> float:
    """The loss the run started from. A first logged point that already includes updates (a sparse
    cadence, an epoch mean) sits below it: then a validation loss evaluated at or before that step
    shows the start when higher. (Not ln C: ``min_ratio`` is calibrated on first logged points,
    which for a sparse cadence are already below it.)"""
    if not first_logged_after_updates(ctx, c):
        return v0
    refs = [v0]
    v = ctx.val
    if v is not None and v.n and not v.cut_short and float(v.steps[0]) <= float(c.steps[0]):
        refs.append(float(v.values[0]))
    return max(refs)


def _low_accuracy(ctx: Context, p: Params) -> bool:
    """The model's accuracy ended under ``low_acc`` (train, else validation: median of the last
    tenth, at least 3 points) — of the way from chance to perfect when the class count is known
    (0.79 on two classes is 58% of the way, what 0.62 is on ten)."""
    for acc in (ctx.train_acc, ctx.val_acc):
        if acc is None or acc.n < 3 or acc.cut_short:
            continue
        a = median(acc.values[-max(3, acc.n // 10):]) / percent_scale(acc.values)
        c = ctx.num_classes
        if c and c >= 2:
            a = (a - 1.0 / c) / (1.0 - 1.0 / c)
        return a < p.low_acc
    return False


def _accuracy_flat(ctx: Context, p: Params) -> bool:
    """The accuracy (train, else validation; at least 8 points) gained under ``acc_flat_gain``
    between the two quarters of the run's second half."""
    for acc in (ctx.train_acc, ctx.val_acc):
        if acc is None or acc.n < 8 or acc.cut_short:
            continue
        b = acc.bvals[len(acc.bvals) // 2 :]
        scale = percent_scale(acc.values)
        q = max(1, b.size // 2)
        gain = (median(b[-q:]) - median(b[:q])) / scale
        return gain < p.acc_flat_gain
    return False
