"""Loss stays at its initial value, or accuracy at chance, for the whole run.

Why it matters: nothing is being learned, so every step is wasted. Typical causes: labels
not matching inputs (shuffled or mis-joined), a learning rate so small nothing moves or so
large the loss bounces in place, dead or saturated units, a frozen model.

Signals: train loss; validation accuracy and the class count (config, or an initial loss of
ln C) for the held-out variant.

Trigger, either:
  * the train loss never moves: it removes less than ``min_progress`` of its initial value,
    its minimum is within ``min_gain`` of the start (less three times the binned noise: the lowest
    of many noisy bins sits below the level), and it is not falling steadily — a
    significant trend (Mann-Kendall z below ``trend_z``) that does not decelerate (second-half
    fall at least ``steady_decel`` of the first half's) is slow-convergence, unless the progress
    is under ``hard_floor`` or validation did not improve at all (never below its first evaluation
    by more than its noise, ending no lower); a quick small drop (the class priors) followed by
    nothing is no learning. Needs ``min_points`` points; or
  * held-out: over at least ``min_evals`` evaluations, the typical (median) validation
    accuracy stays within a margin of chance (1/C) — ``chance_margin``, or three binomial
    standard deviations when the validation set's size is known — and even the best stays
    within twice that margin: the model may memorise the training set, but it learns nothing
    that transfers (e.g. labels shuffled against inputs).

Remedies: ``check_data`` (labels against inputs, the pipeline) first; then the learning rate
only where the evidence gives its direction (see ``advisor.rules.lr_evidence``): ``scale_lr``
0.1 when the loss climbed above its start or the declared rate is far above its optimizer's
range, ``scale_lr`` 10 and ``optimizer`` adam when the declared rate is far below it; otherwise
no rate change and a note to log the rate and the first steps; ``normalization`` for saturated
units.

Known false positives: runs that are only a few steps long; a loss logged as a constant
placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.lr_evidence import lr_direction
from advisor.rules.rl_signals import rl_no_learning
from advisor.signals import fmt, median

ID = "no-learning"
SEVERITY = Severity.CRITICAL
SIGNALS = ("train loss or accuracy",)
WORKLOADS = ("supervised", "unknown", "rl")


@dataclass(frozen=True)
class Params:
    min_progress: float = 0.03
    min_gain: float = 0.06
    trend_z: float = -4.0
    steady_decel: float = 0.5
    hard_floor: float = 0.01  # below this progress, a trend does not count either
    chance_margin: float = 0.05
    min_evals: int = 4
    min_points: int = 10


def detect(ctx: Context, p: Params) -> list[Finding]:
    if ctx.workload == "rl": return rl_no_learning(ctx, p)  # noqa: E701 - the RL branch: advisor.rules.rl_signals
    c = ctx.train
    sh = ctx.train_shape
    if c is None or sh is None or c.n < p.min_points:
        return _held_out(ctx, p)
    if c.nonfinite_step is not None:
        return []
    scale = abs(sh.v0) if sh.v0 else 1.0
    # the lowest of many noisy binned medians sits a few of their sigmas below the level: that
    # much of the "gain" is the noise's
    gain_frac = max(sh.gain - 3.0 * c.bnoise, 0.0) / scale
    # A steady, non-decelerating fall, however small, is slow-convergence; a quick small drop
    # (fitting the class priors) followed by nothing is still no learning — and so is a small
    # creep of the train loss while validation gets no better at all (nothing transfers).
    steady = sh.z_all <= p.trend_z and sh.decel >= p.steady_decel and sh.progress >= p.hard_floor and not _val_stuck(ctx, p)
    flat = sh.progress < p.min_progress and gain_frac < p.min_gain and not steady
    if not flat:
        return _held_out(ctx, p)
    bouncing = sh.rel_noise > 0.05
    evidence = {
        "initial_loss": sh.v0,
        "final_loss": sh.vend,
        "progress": round(sh.progress, 4),
        "trend_z": round(sh.z_all, 2),
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    chance = ctx.chance_accuracy
    acc_txt = ""
    acc = ctx.val_acc or ctx.train_acc
    if acc is not None and acc.n and chance:
        evidence["max_accuracy"] = float(np.max(acc.values))
        evidence["chance_accuracy"] = chance
        acc_txt = f"; accuracy peaked at {fmt(float(np.max(acc.values)))} (chance {fmt(chance)})"
    rem = [R.check_data("labels against inputs, the data pipeline, and that the model's parameters are being optimised")]
    direction, why = lr_direction(ctx)
    evidence["lr_direction"] = direction or "unclear"
    if direction == "down":
        rem += [R.scale_lr(0.1, f"steps too large: {why}"), R.warmup(100, "ramp the rate up from a small value")]
    elif direction == "up":
        rem += [R.scale_lr(10.0, f"steps too small: {why}"), R.optimizer("adam", rationale="Adam converges fast from a stall")]
    elif bouncing:
        rem += [R.batch_size(128, "the loss bounces in place: less gradient noise")]
    rem.append(R.normalization("batchnorm", "saturated or dead units pass no signal"))
    if direction is None:
        rem.append(R.check_data(f"log the learning rate and the loss of the first steps: {why}"))
    conf = margin_confidence(p.min_progress - max(sh.progress, 0), 0.0, p.min_progress, base=0.7)
    summary = (
        f"train loss stayed at its initial level for the whole run: {fmt(sh.v0)} -> {fmt(sh.vend)} "
        f"({100 * sh.progress:.1f}% progress over steps {int(c.steps[0])}-{int(c.steps[-1])}){acc_txt}"
    )
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def _val_stuck(ctx: Context, p: Params) -> bool:
    """Validation (at least ``min_evals`` evaluations) never got below its first evaluation by
    more than its own noise, and ends no lower than it started."""
    v = ctx.val
    if v is None or v.n < p.min_evals or v.nonfinite_step is not None:
        return False
    first = float(v.values[0])
    return float(np.min(v.values)) >= first - 3.0 * max(v.noise, 0.0) - 0.01 * abs(first) and v.end() >= first


def _held_out(ctx: Context, p: Params) -> list[Finding]:
    acc = ctx.val_acc
    chance = ctx.chance_accuracy
    if acc is None or chance is None or acc.n < p.min_evals or acc.nonfinite_step is not None:
        return []
    vals = acc.values
    # Accuracy logged in percent?
    scale = 100.0 if np.nanmax(vals) > 1.5 else 1.0
    best = float(np.max(vals)) / scale
    typical = median(vals) / scale
    # Chance plus noise: the binomial spread of an accuracy on the validation set when its size
    # is known; the best of many noisy evaluations sits a few of those above chance.
    n_val = ctx.num_param("n_val_samples")
    sd = (chance * (1 - chance) / n_val) ** 0.5 if n_val else 0.0
    margin = max(p.chance_margin, 3 * sd)
    if typical > chance + margin or best > chance + 2 * margin:
        return []
    sh = ctx.train_shape
    # Memorisation means the train loss really fell (by a third at least), not a drift to the prior.
    train_moved = sh is not None and sh.progress > 0.33
    if train_moved:  # it fits the training set but nothing transfers: the data, not the optimiser
        rem = [
            R.check_data("labels against inputs (shuffled or mis-joined labels), and the train/validation split"),
            R.weight_decay(5e-4, "the model can only memorise; regularise while the data is checked"),
            R.early_stop(step=int(acc.steps[0]), restore_best=True, rationale="nothing transferable is learned"),
        ]
    else:
        direction, why = lr_direction(ctx)
        rem = [R.check_data("labels against inputs and the data pipeline")]
        if direction == "down":
            rem += [R.scale_lr(0.1, f"the train loss does not descend either: steps too large ({why})"), R.clip_grad_norm(1.0, "bound the updates")]
        elif direction == "up":
            rem += [R.scale_lr(10.0, f"the train loss does not move either: steps too small ({why})"), R.optimizer("adam", rationale="Adam converges fast from a stall")]
        else:
            rem.append(R.check_data(f"log the learning rate and the loss of the first steps: {why}"))
    summary = (
        f"validation accuracy never rose above chance: best {fmt(best)} vs chance {fmt(chance)} over {acc.n} evaluations"
        + (f" while the train loss fell {fmt(sh.v0)} -> {fmt(sh.vend)} (memorisation, not learning)" if train_moved else "")
    )
    evidence = {
        "max_val_accuracy": best,
        "chance_accuracy": chance,
        "evaluations": acc.n,
        "train_loss_fell": train_moved,
        "step_range": [int(acc.steps[0]), int(acc.steps[-1])],
        "signal": "val_acc",
    }
    conf = margin_confidence(chance + p.chance_margin - best, 0.0, p.chance_margin, base=0.65)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(acc.steps[0]))]
