"""Loss stays at its initial value, or accuracy at chance, for the whole run.

Why it matters: nothing is being learned, so every step is wasted. Typical causes: labels
not matching inputs (shuffled or mis-joined), a learning rate so small nothing moves or so
large the loss bounces in place, dead or saturated units, a frozen model.

Signals: train loss; validation accuracy and the class count (config, or an initial loss of
ln C) for the held-out variant.

Trigger, either:
  * the train loss never moves: it removes less than ``min_progress`` of its initial value,
    its minimum (of a 5-bin running median: one outlying minibatch is no dip) is within
    ``min_gain`` of the start (less three times the binned noise: the lowest of many noisy bins
    sits below the level), and it is not falling steadily — a
    significant trend (Mann-Kendall z below ``trend_z``) that does not decelerate (second-half
    fall at least ``steady_decel`` of the first half's) is slow-convergence, unless the progress
    is under ``hard_floor`` or validation did not improve at all (never below its first evaluation
    by more than its noise, ending no lower); a quick small drop (the class priors) followed by
    nothing is no learning, and so is a creep under ``memorise_progress`` while validation rises
    in order over the run to its highest (exact Kendall p below ``val_order_p``, 6 to 30
    evaluations): memorisation, nothing transfers. Not when validation (``val_order_evals`` evaluations or more) falls
    in order over the run (exact Kendall p below ``val_order_p``; Mann-Kendall z below -3.1 past
    30 evaluations) to its lowest at the end, and the val accuracy gained ``val_order_acc_gain``
    and ends more than twice ``chance_margin`` above chance when the class count is known
    (without an accuracy: the val loss fell ``val_order_drop``): that model learns, slowly. Nor
    when the per-step loss's first point came after updates and its epoch-mean twin (Lightning's
    ``_step``/``_epoch`` pair) starts clearly above it: the loss fell before the curve begins.
    Or at chance: a classifier (class count known) whose train loss ended at ``at_chance`` of ln C
    or above, never sat below ``at_chance_floor`` of it (a running median: one thrown back to
    chance after learning did learn), with no significant fall over its second half and no
    accuracy clearly above chance,
    whatever it fell from its start (a start above ln C is the initialisation's). Needs
    ``min_points`` points (twice that for the at-chance form); or
  * held-out: over at least ``min_evals`` evaluations, the typical (median) validation
    accuracy stays within a margin of chance (1/C) — ``chance_margin``, or three binomial
    standard deviations when the validation set's size is known — and even the best stays
    within twice that margin: the model may memorise the training set, but it learns nothing
    that transfers (e.g. labels shuffled against inputs) — unless validation falls in order as
    above; or, without that, a validation ROC AUC (``min_evals`` evaluations) whose median stays
    within ``chance_margin`` + 0.02 of 0.5 and whose best within twice the margin, never rising
    more than the margin from its first evaluation (AUC's chance is 0.5 whatever the class
    balance; accuracy's is the majority share, which the class count does not give); or
  * epoch means: a short train loss (``epoch_min_points`` up to ``min_points`` logged steps)
    where a kept step is (the median one) the last of at least ``epoch_per_step`` points written at it (a
    running mean logged every batch at the epoch's step) and every step's value lies within
    ``epoch_band`` of their median, at a level of at least ``epoch_min_level`` (lower may be a
    converged loss), ending no more than half ``epoch_band`` below its start, and no logged
    accuracy above chance plus twice ``chance_margin``.

Remedies: ``check_data`` (labels against inputs, the pipeline) first; then the learning rate
only where the evidence gives its direction (see ``advisor.rules.lr_evidence``): ``scale_lr``
0.1 when the loss climbed above its start or the declared rate is far above its optimizer's
range, ``scale_lr`` 10 and ``optimizer`` adam when the declared rate is far below it; otherwise
no rate change and a note to log the rate and the first steps; ``normalization`` for saturated
units.

Not when the run starts already trained (``Context.started_trained``: accuracy at 2.2x chance or
more and a loss under half ln C from its first points, and staying there; without an accuracy,
a val loss 1.15-4x the train loss's level from its first evaluation on while neither moves — a
resumed run, a fine-tune at a small rate): a model that learned before the run has nothing left to learn from
where it starts.

Known false positives: runs that are only a few steps long; a loss logged as a constant
placeholder; a resumed run that logs no accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.io.tags import tokens
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.lr_evidence import epoch_twin, first_logged_after_updates, lr_direction
from advisor.rules.rl_signals import rl_no_learning
from advisor.signals import fmt, in_order, mann_kendall_z, median, percent_scale, rolling_median

ID = "no-learning"
SEVERITY = Severity.CRITICAL
SIGNALS = ("train loss or accuracy",)
WORKLOADS = ("supervised", "unknown", "rl")


@dataclass(frozen=True)
class Params:
    min_progress: float = 0.03
    memorise_progress: float = 0.1
    min_gain: float = 0.06
    trend_z: float = -4.0
    steady_decel: float = 0.5
    hard_floor: float = 0.01  # below this progress, a trend does not count either
    chance_margin: float = 0.05
    min_evals: int = 4
    val_order_evals: int = 6
    val_order_p: float = 0.001
    val_order_acc_gain: float = 0.03
    val_order_drop: float = 0.03
    min_points: int = 10
    # A short curve of per-step means (e.g. a running mean logged every batch at the epoch's step):
    epoch_min_points: int = 3
    epoch_per_step: int = 100  # at least this many points written at each kept step
    epoch_band: float = 0.02  # the step values stay within this fraction of their level
    epoch_min_level: float = 0.1  # a level below this may be a converged loss, not a stuck one
    at_chance: float = 0.97  # at chance: a classifier's late train loss at this share of ln C or above
    at_chance_floor: float = 0.9  # ... and its running median never below this share of ln C


def detect(ctx: Context, p: Params) -> list[Finding]:
    if ctx.workload == "rl": return rl_no_learning(ctx, p)  # noqa: E701 - the RL branch: advisor.rules.rl_signals
    if ctx.started_trained:
        return []  # a model that learned before the run has nothing left to learn from its start
    c = ctx.train
    sh = ctx.train_shape
    if c is not None and p.epoch_min_points <= c.n < p.min_points:
        return _epoch_means(ctx, p) or _held_out(ctx, p)
    if c is None or sh is None or c.n < p.min_points:
        return _held_out(ctx, p)
    if c.cut_short:
        return []
    scale = abs(sh.v0) if sh.v0 else 1.0
    # the lowest of many noisy binned medians sits a few of their sigmas below the level: that
    # much of the "gain" is the noise's
    gain_frac = max(_gain(c, sh) - 3.0 * c.bnoise, 0.0) / scale
    # A steady, non-decelerating fall, however small, is slow-convergence; a quick small drop
    # (fitting the class priors) followed by nothing is still no learning — and so is a small
    # creep of the train loss while validation gets no better at all (nothing transfers).
    steady = sh.z_all <= p.trend_z and sh.decel >= p.steady_decel and sh.progress >= p.hard_floor and not _val_stuck(ctx, p)
    # a creep that transfers nothing — validation climbing in order from its first evaluation —
    # is memorisation (labels shuffled against inputs), allowed up to ``memorise_progress``
    memorising = 0 <= sh.progress < p.memorise_progress and in_order(ctx.val, rising=True, p_max=p.val_order_p, min_n=p.val_order_evals)
    flat = (sh.progress < p.min_progress and gain_frac < p.min_gain and not steady) or memorising
    late_at_chance = None if flat else _at_chance(ctx, c, p)  # its late level when at chance
    at_chance = late_at_chance is not None
    if not (flat or at_chance) or _val_falls_in_order(ctx, p) or _fell_before_first_point(ctx, c, sh, p):
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
    acc_txt = _accuracy(ctx, evidence)
    rem = _remedies(ctx, evidence, bouncing)
    conf = margin_confidence(p.min_progress - max(sh.progress, 0), 0.0, p.min_progress, base=0.7)
    # a loss that ended well above its start did not "stay" there: say it never got below it
    where = "stayed at its initial level" if sh.progress > -0.1 else "never got below its initial level"
    summary = (
        f"train loss {where} for the whole run: {fmt(sh.v0)} -> {fmt(sh.vend)} "
        f"({100 * sh.progress:.1f}% progress over steps {int(c.steps[0])}-{int(c.steps[-1])}){acc_txt}"
    )
    if at_chance:
        chance = math.log(ctx.num_classes)
        evidence.update(form="at-chance", chance_loss=chance, late_loss=late_at_chance)
        summary = (
            f"train loss went from {fmt(sh.v0)} to {fmt(evidence['late_loss'])} and never got clearly below ln C = {fmt(chance)} "
            f"({ctx.num_classes} classes: what an output that says nothing scores): it learned no more than the uniform output{acc_txt}"
        )
    if memorising and sh.progress >= p.min_progress:
        v = ctx.val
        evidence.update(form="memorising", val_first=float(v.values[0]), val_last=float(v.values[-1]))
        summary = (
            f"train loss crept down only {100 * sh.progress:.1f}% ({fmt(sh.v0)} -> {fmt(sh.vend)}) while the val loss climbed "
            f"across its evaluations ({fmt(float(v.values[0]))} -> {fmt(float(v.values[-1]))}): nothing it learns transfers{acc_txt}"
        )
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def _accuracy(ctx: Context, evidence: dict) -> str:
    """Add the peak accuracy against chance to ``evidence``; the summary's clause for it."""
    chance = ctx.chance_accuracy
    acc = ctx.val_acc or ctx.train_acc
    if acc is None or not acc.n or not chance:
        return ""
    evidence["max_accuracy"] = float(np.max(acc.values))
    evidence["chance_accuracy"] = chance
    return f"; accuracy peaked at {fmt(float(np.max(acc.values)))} (chance {fmt(chance)})"


def _remedies(ctx: Context, evidence: dict, bouncing: bool) -> list:
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
        rem.append(_log_the_rate(why))
    return rem


def _log_the_rate(why: str):
    """When nothing says which way the rate is off: what would tell."""
    return R.check_data(f"log the learning rate and the loss of the first steps: {why}")


def _epoch_means(ctx: Context, p: Params) -> list[Finding]:
    """A few steps, each the last of many points (a per-epoch running mean): no learning when
    every step's value stays in a tight band at a level that is not already low, and any
    accuracy logged stays near chance."""
    s = ctx.series(Role.TRAIN_LOSS)
    c = ctx.train
    if s is None or c is None or s.per_step < p.epoch_per_step or c.cut_short:
        return []
    vals = c.values
    level = median(vals)
    if not level >= p.epoch_min_level or float(vals[-1]) < float(vals[0]) * (1 - p.epoch_band / 2):
        return []
    band = float(np.max(vals) - np.min(vals)) / level
    if band > p.epoch_band:
        return []
    evidence = {
        "initial_loss": float(vals[0]),
        "final_loss": float(vals[-1]),
        "band": round(band, 4),
        "points_per_step": int(s.per_step),
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    acc_txt = _accuracy(ctx, evidence)
    chance = evidence.get("chance_accuracy")
    if "max_accuracy" in evidence and chance and evidence["max_accuracy"] > chance + 2 * p.chance_margin:
        return []  # it learns something the loss does not show at this resolution
    rem = _remedies(ctx, evidence, bouncing=False)
    conf = margin_confidence(p.epoch_band - band, 0.0, p.epoch_band, base=0.6)
    summary = (
        f"train loss stayed at one level for the whole run: {c.n} logged steps (each the last of "
        f"{int(s.per_step)} points, e.g. a running mean per epoch) all within {100 * band:.1f}% of "
        f"{fmt(level)}, {fmt(float(vals[0]))} -> {fmt(float(vals[-1]))}{acc_txt}"
    )
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def _at_chance(ctx: Context, c, p: Params) -> float | None:
    """The late level (:func:`_late_level`) of a classifier (class count known) whose train loss
    ended at ``at_chance`` of ln C or above and never sat below ``at_chance_floor`` of it, without
    a significant fall over its second half, and with no accuracy clearly above chance — whatever
    it fell from its start, it got no further than the uniform output (or the class priors);
    else None."""
    k = ctx.num_classes
    if not k or c.n < 2 * p.min_points:
        return None
    twin = epoch_twin(ctx)
    late = _late_level(c, twin)
    levels = twin.values if twin is not None and len(twin) >= 5 else c.bvals
    # never clearly below it either (a 5-point running median): a model that learned and was then
    # thrown back to chance (exploding gradients, a rate ramp) did learn
    low = float(np.min(rolling_median(levels, 5))) if levels.size >= 5 else float(np.min(levels))
    if late < p.at_chance * math.log(k) or low < p.at_chance_floor * math.log(k):
        return None
    half = c.bvals[c.bvals.size // 2 :]
    if half.size >= 4 and mann_kendall_z(half) < -2.6:
        return None  # still on its way down
    chance = ctx.chance_accuracy
    acc = ctx.val_acc or ctx.train_acc
    if acc is not None and acc.n >= 3 and chance and median(acc.values[-max(3, acc.n // 10):]) / percent_scale(acc.values) > chance + 2 * p.chance_margin:
        return None
    return late


def _late_level(c, twin) -> float:
    """The train loss's level at the end: the median of its last tenth (5 points at least), or of
    its epoch-mean twin's last 3 points when it has one (:func:`advisor.rules.lr_evidence.epoch_twin`)
    — single logged minibatches of a per-example loss only sample the level an epoch's mean gives."""
    if twin is not None and len(twin) >= 3:
        return median(twin.values[-3:])
    return median(c.values[-max(5, c.n // 10):])


def _fell_before_first_point(ctx: Context, c, sh, p: Params) -> bool:
    """The per-step train loss's first point came after updates, and its epoch-mean twin's first
    value (the first epoch's mean: :func:`advisor.rules.lr_evidence.epoch_twin`) sits above it by
    more than ``min_gain`` of it and three point noises: the loss fell before the curve begins —
    the run learned, then sat."""
    twin = epoch_twin(ctx)
    if twin is None or not first_logged_after_updates(ctx, c):
        return False
    return float(twin.values[0]) - sh.v0 > max(p.min_gain * abs(sh.v0), 3.0 * c.noise)


def _gain(c, sh) -> float:
    """How far below its start the loss got: to the lowest 5-bin running median — a single
    outlying bin (one minibatch of a heavy-tailed loss, five of its noises below the level) is no
    dip the run made."""
    if c.bvals.size < 5:
        return sh.gain
    return max(float(sh.v0) - float(np.min(rolling_median(c.bvals, 5))), 0.0)


def _val_falls_in_order(ctx: Context, p: Params) -> bool:
    """Validation (at least ``val_order_evals`` evaluations) falls in order over the whole run
    (exact Kendall p below ``val_order_p``) and ends at its lowest: the model is learning, however
    slowly its noisy train loss shows it."""
    v = ctx.val
    if v is None or v.n < p.val_order_evals or v.cut_short:
        return False
    if v.n <= 30:
        if not in_order(v, rising=False, p_max=p.val_order_p, min_n=p.val_order_evals):
            return False
    elif not (mann_kendall_z(v.values) < -3.1 and float(v.values[-1]) <= float(np.min(v.values)) + 1e-12):
        return False
    # in order is not enough (a rate of 1e-7 moves the loss in perfect order by 0.01%): the
    # accuracy must gain too, or without one the loss must fall a real amount
    acc = ctx.val_acc
    if acc is not None and acc.n >= 3:
        scale = percent_scale(acc.values)
        end = median(acc.values[-2:]) / scale
        chance = ctx.chance_accuracy
        # and the accuracy ends clearly above chance when that is known: a model that only
        # learns the class priors (labels shuffled) edges toward chance from below in order too
        above = chance is None or end > chance + 2 * p.chance_margin
        return above and end - median(acc.values[:2]) / scale >= p.val_order_acc_gain
    first = abs(float(v.values[0])) or 1.0
    return (float(v.values[0]) - float(v.values[-1])) / first >= p.val_order_drop


def _val_stuck(ctx: Context, p: Params) -> bool:
    """Validation (at least ``min_evals`` evaluations) never got below its first evaluation by
    more than its own noise, and ends no lower than it started."""
    v = ctx.val
    if v is None or v.n < p.min_evals or v.cut_short:
        return False
    first = float(v.values[0])
    return float(np.min(v.values)) >= first - 3.0 * max(v.noise, 0.0) - 0.01 * abs(first) and v.end() >= first


def _val_auc(ctx: Context):
    """The validation ROC AUC series (a tag of the val side naming auc/auroc), or None."""
    for key, s in ctx.run.series.items():
        toks = set(tokens(key))
        if toks & {"auc", "auroc"} and toks & {"val", "valid", "validation", "eval"}:
            return s
    return None


def _auc_at_chance(ctx: Context, p: Params) -> list[Finding]:
    """Validation ROC AUC (``min_evals`` evaluations) whose median stayed within ``chance_margin``
    (plus one more for the best) of 0.5 and never rose from its first evaluation by more than
    that: AUC's chance level is 0.5 whatever the class balance, where accuracy's is the majority
    share, which the class count alone does not give."""
    s = _val_auc(ctx)
    if s is None or len(s) < p.min_evals or not np.all(np.isfinite(s.values)):
        return []
    v = np.asarray(s.values, dtype=float) / percent_scale(s.values)
    typical, best = median(v), float(np.max(v))
    if abs(typical - 0.5) > p.chance_margin + 0.02 or best > 0.5 + 2 * p.chance_margin or best - float(v[0]) > p.chance_margin:
        return []
    summary = f"validation ROC AUC stayed at chance over {len(s)} evaluations: median {fmt(typical)}, best {fmt(best)} (chance 0.5)"
    evidence = {"val_auc_median": typical, "val_auc_best": best, "evaluations": len(s), "form": "auc-at-chance",
                "step_range": [int(s.steps[0]), int(s.steps[-1])], "signal": s.key}
    rem = [R.check_data("labels against inputs and the train/validation split: nothing the model learns ranks validation examples")]
    return [finding(ID, SEVERITY, 0.6, summary, evidence, rem, onset=int(s.steps[0]))]


def _held_out(ctx: Context, p: Params) -> list[Finding]:
    acc = ctx.val_acc
    chance = ctx.chance_accuracy
    if acc is None or chance is None or acc.n < p.min_evals or acc.cut_short:
        return _auc_at_chance(ctx, p)
    vals = acc.values
    # Accuracy logged in percent?
    scale = percent_scale(vals)
    best = float(np.max(vals)) / scale
    typical = median(vals) / scale
    # Chance plus noise: the binomial spread of an accuracy on the validation set when its size
    # is known; the best of many noisy evaluations sits a few of those above chance.
    n_val = ctx.num_param("n_val_samples")
    sd = (chance * (1 - chance) / n_val) ** 0.5 if n_val else 0.0
    margin = max(p.chance_margin, 3 * sd)
    if typical > chance + margin or best > chance + 2 * margin or _val_falls_in_order(ctx, p):
        return _auc_at_chance(ctx, p)
    sh = ctx.train_shape
    # Memorisation means the train loss really fell (by a third at least), not a drift to the prior.
    # And below the uniform output's loss ln C when the class count is known: a loss that fell
    # from a blown-up first point to ln C or above memorised nothing.
    ln_c = math.log(ctx.num_classes) if ctx.num_classes else None
    train_moved = sh is not None and sh.progress > 0.33 and (ln_c is None or sh.vend < 0.9 * ln_c)
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
            rem.append(_log_the_rate(why))
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
