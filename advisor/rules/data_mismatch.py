"""Training loss flat while validation improves: the two are not measuring the same thing.

Why it matters: if validation gets better while training does not, the training signal is
not what the model learns from (a broken or shuffled training target, a training loss
logged from the wrong place), or the splits come from different distributions.

Signals: train and val loss.

Trigger: the train loss changes by less than ``train_flat`` of its level (and never went
``thrown`` times above its start: one thrown up and back by a rate far too high is not flat, and
validation then falls back with it) and either shows no
trend (Mann-Kendall |z| under ``flat_z``) or falls at most 1/``val_ratio`` as much as
validation does (from the first evaluation on, where that is less) (a long curve makes a 2% drift significant; what matters is that validation
improves several times more than training), while the validation loss, over at least
``min_evals`` points, falls with a significant trend (z below ``val_z``, over all evaluations or up
to its best one: a fall then a floor dilutes the whole curve's trend — or its first evaluation sits
above every evaluation of its second half by ``floor_k`` times their point noise) by more than
``val_drop`` of its initial value.

Second form: a test loss logged beside the validation loss ends ``test_ratio`` times above it or
more (compared at the same steps): the test set is not drawn like the validation set, so what
validation promises will not hold there.

Third form: the validation loss sits ``apart_ratio`` times above the train loss (its mean over
the nearby logged points, in a window no wider after the evaluation than before it) from the first evaluation on — that evaluation within the first
``apart_within`` of the run — and over the evaluations of the run's first half (at least
``apart_evals`` of them; the first ``apart_evals`` when fewer), while at that first evaluation the
train loss still holds ``apart_start_share`` of its start or validation is already
``apart_over_start`` times that start: early in training the same weights
score two splits drawn alike about alike, so one of them is prepared differently (a feature
standardised with a train statistic near 0 — a column constant in the train split — throws the
val inputs far off; a transform applied to one split only; labels encoded differently). Overfitting
and batch-norm statistics warming up open such a gap only later or only at one evaluation. Not when
the run starts from a trained model by its validation accuracy (``Context.trained_start``: a resumed
fit whose first epoch already scores validation at 2.2x chance has its generalisation gap of its own,
not two splits prepared apart).
When an accuracy at that first evaluation sits at chance for C classes, validation near ln C and
the train loss started under half of ln C (no untrained classifier's mean loss does), the train
loss is logged on another scale (Ultralytics' classifier logs a batch sum over another count):
an info (form ``scale-apart``) that the levels cannot be compared, not a split to fix.

The mirror of the third form, at info (form ``val-below``): validation ``below_ratio`` times or
more below the train loss at the first evaluation and at every evaluation of the first half, the train loss there
not thrown ``thrown`` times above its start — no train-only regulariser opens that gap from the
start, so the two losses are on different scales (a sum against a mean, targets normalised
differently, other data); which one slipped, the curves cannot say.

Fourth form (chance-apart, :func:`chance_apart`): a classifier whose train accuracy is already
``learned_over_chance`` times chance (and ``learned_margin`` above it) by the first evaluation and
stays there, while its validation accuracy never rises above ``val_chance_ratio`` times chance
(``apart_evals`` evaluations at least). Memorising shuffled labels is slow; a model that learns
that fast generalises to data drawn the same way. ``no-learning`` leaves such a run to this form.

Remedies: ``check_data`` (that the logged train loss is the optimised one; labels; that train
and validation come from the same distribution and pipeline).

Known false positives: a training loss that is logged as a running average over a very long
window (it moves too slowly to show a trend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import diff_noise, fmt, mann_kendall_z, pct, percent_scale, rolling_median, times

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
    test_ratio: float = 3.0
    thrown: float = 1.5  # a train loss whose rolling median went this far above its start is not flat
    floor_k: float = 4.0  # a fall then a floor: the first evaluation over the second half's, in its noise
    apart_ratio: float = 4.0  # val over train at the first evaluation and over the first half
    apart_within: float = 0.2  # the first evaluation within this share of the run
    apart_evals: int = 3
    apart_start_share: float = 0.5  # ... while the train loss still holds this share of its start
    apart_over_start: float = 2.0  # ... or validation is this many times the start already
    below_ratio: float = 20.0  # val-below: train over val at the first evaluation and over the first half
    learned_over_chance: float = 2.0  # chance-apart: train accuracy by the first evaluation, over chance ...
    learned_margin: float = 0.2  # ... and above chance by this much
    val_chance_ratio: float = 1.5  # ... while validation accuracy never rose above this many times chance


def detect(ctx: Context, p: Params) -> list[Finding]:
    return _flat_train(ctx, p) or _val_apart(ctx, p) or _chance_apart(ctx, p) or _test_apart(ctx, p)


def chance_apart(ctx: Context, p: Params | None = None) -> tuple[float, float, float] | None:
    """(train accuracy by the first evaluation, best validation accuracy, chance) when a classifier
    learned its training data from the first epoch while validation sat at chance from its first
    evaluation: train accuracy (the median of the last quarter of its points up to the first
    evaluation, and of its second half) at least ``learned_over_chance`` times chance and
    ``learned_margin`` above it, validation accuracy never above ``val_chance_ratio`` times chance
    over at least ``apart_evals`` evaluations. Memorising shuffled labels is slow (its train
    accuracy is at chance after one epoch); a model that learns that fast generalises to data from
    the same distribution — a validation split prepared differently does not (other transforms or
    normalisation, another label mapping, a model evaluated in another mode)."""
    p = p or Params()
    ta, va, chance = ctx.train_acc, ctx.val_acc, ctx.chance_accuracy
    if ta is None or va is None or not chance or va.n < p.apart_evals or ta.n < 4 or ta.cut_short or va.cut_short:
        return None
    upto = ta.values[ta.steps <= va.steps[0]]
    if upto.size < 2:
        return None
    t_scale, v_scale = percent_scale(ta.values), percent_scale(va.values)
    early = float(np.median(upto[-max(1, upto.size // 4):])) / t_scale
    late = float(np.median(ta.values[ta.n // 2 :])) / t_scale
    best = float(np.max(va.values)) / v_scale
    need = max(p.learned_over_chance * chance, chance + p.learned_margin)
    if min(early, late) < need or best > p.val_chance_ratio * chance:
        return None
    return early, best, chance


def _chance_apart(ctx: Context, p: Params) -> list[Finding]:
    got = chance_apart(ctx, p)
    if got is None:
        return []
    early, best, chance = got
    va = ctx.val_acc
    evidence = {"form": "chance-apart", "train_accuracy_at_first_eval": round(early, 4), "best_val_accuracy": round(best, 4),
                "chance_accuracy": chance, "evaluations": va.n, "step_range": [int(va.steps[0]), int(va.steps[-1])], "signal": "val_acc"}
    summary = (f"train accuracy was already {fmt(early)} by the first evaluation while validation accuracy sat at chance from its first "
               f"evaluation on (best {fmt(best)} vs chance {fmt(chance)} over {va.n} evaluations): a model that learns that fast "
               "generalises to data drawn the same way, so the validation split is prepared differently")
    rem = [R.check_data("that validation goes through the training preprocessing (transforms, normalisation), uses the same label mapping, "
                        "and that the model is evaluated in eval mode with its trained statistics")]
    conf = margin_confidence(early / chance, p.learned_over_chance, 2 * p.learned_over_chance, base=0.6)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(va.steps[0]))]


def _val_apart(ctx: Context, p: Params) -> list[Finding]:
    """Validation far above the train loss from the first evaluation on (the third form)."""
    t, v = ctx.train, ctx.val
    if t is None or v is None or t.n < 5 or v.n < p.apart_evals or t.cut_short or v.cut_short:
        return []
    first, span = float(t.steps[0]), float(t.steps[-1] - t.steps[0])
    if span <= 0 or float(v.steps[0]) > first + p.apart_within * span:
        return []
    # a window no wider after an evaluation than before it: at the first steps a steeply falling
    # train loss would otherwise be read from later weights (an evaluation of the untrained model at
    # step 0 against a train mean over steps 0-66 that had already fallen 6x)
    level = _local_means(t.steps, t.values, v.steps, np.minimum(0.05 * span, np.maximum(v.steps - first, 0.0)))
    if not np.all(level > 0):
        return []
    ratio = np.asarray(v.values, dtype=float) / level
    early = np.flatnonzero(v.steps <= first + 0.5 * span)
    if early.size < p.apart_evals:
        early = np.arange(p.apart_evals)
    r0, rmid = float(ratio[0]), float(np.median(ratio[early]))
    start = float(np.mean(t.values[: max(3, min(10, t.n // 20))]))
    if float(np.max(ratio[early])) * p.below_ratio <= 1.0 and level[0] <= p.thrown * start:
        # every evaluation of the first half that far below, against the train loss's local median
        # too: a train loss thrown up for a while (a rate far too high) sits far above validation
        # at some evaluations, or in its mean only (one epoch's mean of 900 among losses of 2.5)
        med = _local_medians(t.steps, t.values, v.steps[early], np.minimum(0.05 * span, np.maximum(v.steps[early] - first, 0.0)))
        below = np.asarray(v.values, dtype=float)[early] / med
        if np.all(med > 0) and float(np.max(below)) * p.below_ratio <= 1.0:
            return [_val_below(v, float(med[0]), float(below[0]), float(np.max(below)), early)]
    if r0 < p.apart_ratio or rmid < p.apart_ratio:
        return []
    if ctx.trained_start == "accuracy" and ctx.val_acc is not None:
        # a trained model that already scores the validation split well (its accuracy is what said
        # "trained") is not early in training: its gap is its own, the splits are one task
        return []
    v0 = float(v.values[0])
    # "early" in what the model has learned, not in steps: a 100-example train split is memorised
    # within 50 steps and opens the gap of overfitting by the first evaluation. The train loss must
    # still hold most of its start there — or validation already sits far above the untrained
    # model's loss, which no overfitting reaches that soon
    if level[0] < p.apart_start_share * start and v0 < p.apart_over_start * start:
        return []
    last_early = int(v.steps[early[-1]])
    scaled = _train_scale_off(ctx, v, start)
    if scaled is not None:
        return [_scale_apart(ctx, v, start, scaled, r0)]
    evidence = {
        "form": "val-apart",
        "first_val_loss": v0,
        "train_loss_there": round(float(level[0]), 6),
        "val_over_train_first": round(r0, 2),
        "val_over_train_median": round(rmid, 2),
        "evaluations": int(early.size),
        "step_range": [int(v.steps[0]), last_early],
        "signal": "val_loss",
    }
    rem = [R.check_data("that validation inputs go through the same preprocessing as training (a feature scaled by a train statistic near 0, a transform on one split only), that labels are encoded alike, and that both losses are reduced alike (a sum over batches against a mean)")]
    summary = (
        f"val loss {fmt(v0)} at the first evaluation (step {int(v.steps[0])}) is {times(r0)} the train loss "
        f"{fmt(float(level[0]))} there, and stayed {times(rmid)} above it over {early.size} evaluations to step {last_early}: "
        f"early in training a model scores two splits drawn from one distribution about equally, so these two are not prepared alike"
    )
    conf = margin_confidence(min(r0, rmid), p.apart_ratio, 10.0, base=0.6)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(v.steps[0]))]


def _val_below(v, train_there: float, r0: float, rmax: float, early: np.ndarray) -> Finding:
    """Validation ``below_ratio`` times below a train loss that was not thrown above its start, from
    the first evaluation on: no train-only regulariser opens a gap that wide that early (dropout
    0.75 leaves validation at about a fifth of the train loss), so the two are on different scales
    — a loss summed against one averaged, targets normalised differently, other data. Info: which
    of them is the slip, the curves cannot say."""
    last_early = int(v.steps[early[-1]])
    evidence = {
        "form": "val-below",
        "first_val_loss": float(v.values[0]),
        "train_loss_there": round(train_there, 6),
        "val_over_train_first": round(r0, 4),
        "val_over_train_max": round(rmax, 4),
        "evaluations": int(early.size),
        "step_range": [int(v.steps[0]), last_early],
        "signal": "val_loss",
    }
    summary = (
        f"val loss {fmt(float(v.values[0]))} at the first evaluation (step {int(v.steps[0])}) is {pct(r0)} of the train loss "
        f"{fmt(train_there)} there, and stayed at most {pct(rmax)} of it over {early.size} evaluations to step {last_early}: no "
        f"regulariser opens that gap from the start (dropout 0.75 leaves validation near a fifth of train), so the two losses are "
        f"on different scales"
    )
    rem = [R.check_data("that both losses are computed alike (a sum against a mean, the same reduction and units), that targets "
                        "are normalised with the same statistics in both splits, and that both splits are the data you mean")]
    return finding(ID, Severity.INFO, 0.6, summary, evidence, rem, onset=int(v.steps[0]))


def _train_scale_off(ctx: Context, v, start: float) -> int | None:
    """C when the train loss is on another scale than validation: an accuracy at the first
    evaluation sits at chance (0.7/C to 1.3/C), so the model there is untrained and validation's
    loss near ln C (half to 1.25 times) says so too — while the train loss started under half of
    ln C, which no untrained classifier's mean loss does (a loss summed over a batch and divided by
    another count, a per-token loss). Its level then cannot be set against validation's."""
    acc = ctx.val_acc if ctx.val_acc is not None else ctx.train_acc
    if acc is None or acc.n < 3 or acc.cut_short:
        return None
    i = int(np.argmin(np.abs(acc.steps - float(v.steps[0]))))
    if abs(float(acc.steps[i]) - float(v.steps[0])) > max(1.0, 0.02 * float(acc.steps[-1] - acc.steps[0])):
        return None
    a0 = float(acc.values[i]) / percent_scale(acc.values)
    if not 0.001 < a0 <= 0.55:
        return None
    c = int(round(1.0 / a0))
    if c < 2 or not 0.7 / c <= a0 <= 1.3 / c:
        return None
    ln_c = math.log(c)
    v0 = float(v.values[0])
    return c if 0.5 * ln_c <= v0 <= 1.25 * ln_c and start < 0.5 * ln_c else None


def _scale_apart(ctx: Context, v, start: float, c: int, r0: float) -> Finding:
    """Validation apart from a train loss logged on another scale: an info, not a split to fix."""
    v0, ln_c = float(v.values[0]), math.log(c)
    evidence = {
        "form": "scale-apart",
        "first_val_loss": v0,
        "train_start": round(start, 6),
        "chance_classes": c,
        "val_over_train_first": round(r0, 2),
        "step_range": [int(v.steps[0]), int(v.steps[-1])],
        "signal": "train_loss",
    }
    rem = [R.check_data("that the logged train loss is the per-example mean validation reports (not a sum over a batch divided by another count); compare the two curves' shapes, not their levels")]
    summary = (
        f"the train loss started at {fmt(start)}, {pct(start / ln_c)} of ln {c} = {fmt(ln_c)}, where the first evaluation "
        f"(accuracy at chance for {c} classes) puts validation at {fmt(v0)}: the train loss is logged on another scale, "
        f"so its level cannot be compared with validation's ({times(r0)} apart at the first evaluation)"
    )
    return finding(ID, Severity.INFO, 0.5, summary, evidence, rem, onset=int(v.steps[0]))


def _local_windows(steps: np.ndarray, at: np.ndarray, half_width: float | np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) index bounds of the logged points within ``half_width`` steps of each of ``at``
    — the ``min_points`` around it when fewer fall there."""
    at = np.asarray(at, dtype=float)
    n = steps.size
    k = min(min_points, n)
    lo = np.searchsorted(steps, at - half_width, side="left")
    hi = np.searchsorted(steps, at + half_width, side="right")
    few = hi - lo < k
    if few.any():  # sparse logging: the k points around each step instead
        mid = np.searchsorted(steps, at[few])
        lo[few] = np.clip(mid - k // 2, 0, n - k)
        hi[few] = lo[few] + k
    return lo, hi


def _local_means(steps: np.ndarray, values: np.ndarray, at: np.ndarray, half_width: float | np.ndarray, min_points: int = 10) -> np.ndarray:
    """The mean of the logged values within ``half_width`` steps of each of ``at`` (the
    ``min_points`` around it when fewer fall there). A mean, not a median: with one or a few
    examples a point, most logged losses sit far below their mean (a few misclassified examples
    carry it), and a validation loss is a mean over its set. Cumulative sums: O(n + m log n)."""
    values = np.asarray(values, dtype=float)
    cs = np.concatenate(([0.0], np.cumsum(values)))
    lo, hi = _local_windows(steps, at, half_width, min_points)
    return (cs[hi] - cs[lo]) / (hi - lo)


def _local_medians(steps: np.ndarray, values: np.ndarray, at: np.ndarray, half_width: np.ndarray, min_points: int = 10) -> np.ndarray:
    """The median of the logged values around each of ``at``, over the same windows as
    :func:`_local_means` (called only for the few evaluations of a run already far apart)."""
    values = np.asarray(values, dtype=float)
    lo, hi = _local_windows(steps, at, half_width, min_points)
    return np.array([float(np.median(values[a:b])) for a, b in zip(lo, hi)])


def _test_apart(ctx: Context, p: Params) -> list[Finding]:
    """A held-out test loss far above the validation loss at the same steps."""
    v, te = ctx.val, ctx.test
    if v is None or te is None or v.n < 1 or te.n < 1 or v.cut_short or te.cut_short:
        return []
    k = max(1, min(3, te.n))
    at = te.steps[-k:]
    val_at = np.interp(at, v.steps, v.values)
    test_end, val_end = float(np.median(te.values[-k:])), float(np.median(val_at))
    if val_end <= 0 or test_end < p.test_ratio * val_end:
        return []
    ratio = test_end / val_end
    evidence = {
        "test_loss": test_end, "val_loss": val_end, "test_over_val": round(ratio, 2), "test_tag": ctx.tag(Role.TEST_LOSS),
        "form": "test-vs-val", "step_range": [int(at[0]), int(at[-1])], "signal": "test_loss",
    }
    rem = [R.check_data("how the test split is built (distribution, preprocessing, label mapping) against the validation split")]
    summary = (
        f"test loss {fmt(test_end)} is {times(ratio)} the validation loss {fmt(val_end)} at the same steps: the test set is not "
        f"drawn like the validation set, so validation results will not carry over"
    )
    conf = margin_confidence(ratio, p.test_ratio, 10.0, base=0.6)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(at[0]))]


def _val_fell(vals: np.ndarray, z_all: float, p: Params) -> bool:
    """Validation fell significantly: its Mann-Kendall z over all evaluations, or up to its best
    one (at least ``min_evals`` points), is below ``val_z`` — or, a fall then a floor, whose flat
    evaluations dilute any trend statistic: its first evaluation sits above every one of its second
    half (``min_evals`` of them at least) by more than ``floor_k`` times their point noise."""
    best = int(np.argmin(vals))
    z = min(z_all, mann_kendall_z(vals[: best + 1])) if best + 1 >= p.min_evals else z_all
    if z < p.val_z:
        return True
    late = vals[len(vals) // 2 :]
    return late.size >= p.min_evals and float(vals[0]) - float(np.max(late)) > p.floor_k * diff_noise(late)


def _flat_train(ctx: Context, p: Params) -> list[Finding]:
    ts, vs = ctx.train_shape, ctx.val_shape
    v = ctx.val
    if ts is None or vs is None or v is None or v.n < p.min_evals:
        return []
    if ctx.train.cut_short or v.cut_short:
        return []
    if not _val_fell(v.values, vs.z_all, p) or vs.progress < p.val_drop or abs(ts.progress) >= p.train_flat:
        return []
    c = ctx.train
    if float(np.max(rolling_median(c.bvals, 5))) > p.thrown * ts.v0:
        return []  # thrown far above its start and back (a rate far too high): not a flat loss
    # compared over the span both cover: the train loss's first logged steps (before the first
    # evaluation) are no part of what validation measured
    t_from = float(np.interp(float(v.steps[0]), c.bsteps, rolling_median(c.bvals, 5)))
    t_prog = min(abs(ts.progress), abs((t_from - ts.vend) / t_from)) if t_from else abs(ts.progress)
    if abs(ts.z_all) >= p.flat_z and vs.progress < p.val_ratio * t_prog:
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
