"""Training loss went flat early, far above what the run later reaches.

Why it matters: a long early plateau is time spent stuck — at a saddle, with a learning rate
too small to escape it, or with saturated units — before real progress starts. Escaping
sooner saves that time and often ends lower.

Signals: train loss.

Trigger: a stretch of the binned train loss that stays within a band of ``tol_noise`` times
the curve's noise (the noise of the part above the final levels when larger: noise grows with the level) or ``tol_gain`` of its total fall (whichever is wider) for at least
``min_len`` of the run (``min_len_no_lr`` when it starts at the first steps and no learning rate
is logged: a warmup from a tiny rate looks the same — and reported at info when shorter than
``warn_len_no_lr``, a default one-cycle warmup), that starts in the first ``max_start`` of the run and is not a
learning-rate warmup (a logged lr
rising over it), after which the loss falls by at least ``min_escape`` of the total fall (and at most
``max_escape``: a level far above where the loss started is a blow-up, not a stall; a little
above it is a stall above a noisy first point) —
the plateau sits far above where the run ends — and falls right after it at least
1/``max_slope_ratio`` times as steeply as it drifted within it (a stall, not a noisy stretch
of a steady decline; the fall measured over a window as long as the stall or over the escape,
until the loss is three quarters of the way down to its end, whichever is steeper, and over
at least ``min_escape_bins`` points after the stall when each is one minibatch: one noisy batch or
two are no fall), over at least ``min_stall_bins`` bins (a steady fall has flat stretches of a
few points), and ends below every level the stall visited (its rolling medians for one minibatch a
point; each evaluation of a validation loss): a run ending no lower than its stall already dipped
fell within its own scatter; and, when validation is logged (``min_stall_evals`` evaluations within
the stall), it did not fall meanwhile at more than ``max_slope_ratio`` of its pace after the stall
while the train loss drifted down within its band by ``drift_of_fall`` of the whole fall — a steady decline the noise of one-minibatch
points hid. Needs at least ``min_bins`` binned points (the lasting form below,
``min_points_lasting``).

With one minibatch a logged point the train loss's noise can hide the stall: then it is read
on the validation loss the same way, when that has ``min_val_evals`` evaluations and fell at
least ``min_val_progress`` of its first value, over ``min_stall_evals`` evaluations at least, none
of them ``max_stall_jump`` times the stall's level or more (a val loss evaluated whole that jumps
that far within the "stall" is being thrown about, not sitting at a saddle; a larger rate, a
plateau's first remedy, would point the wrong way).

A tight form, for a stall lower in the fall than the first form looks: a smooth loss (epoch
means: binned noise under ``tight_band`` of its level) that sat within ``tight_band`` of one level
for ``min_len`` of the run, starting in its first ``max_start``, then ended ``tight_escape`` below
that level — info, unless a logged rate stayed level across the fall (at least 0.9 of the rate
within the stall): a scheduled drop of the rate looks the same.

A second form, the plateau that lasts: the loss stopped improving early and the rest of the run —
at least ``tail_min`` of it, starting within the first ``max_start`` — bought less than
``tail_gain`` of the total fall (train loss flat within its noise band; validation, when logged,
not improving either). On an RL run it is read on the reward — the evaluation reward when one is
logged (``eval/mean_reward``: the policy's own level, free of exploration noise) — and needs a
tail of only ``tail_min_reward`` (an agent's return usually climbs over a longer first stretch).
That is reported at ``info`` (the run may simply have converged early; a
person decides whether the level is good enough): stop earlier, decay the rate, or add capacity.

A run that starts from a trained model (``Context.trained_start`` by its accuracy or a task metric
whose untrained value is zero: a resumed run, a fine-tune) has
no fall to measure a plateau against; when its train loss (``min_points_lasting`` points) ended within
``trained_flat`` of its first value, and validation (when logged, 4
evaluations or more) got no more than that below its first evaluation either (its best 3-point
median), the whole run bought little: the ``trained-flat`` form, at info, with early stopping and a
lower rate as remedies (never a larger one: a trained model is refined with smaller steps).

Remedies: ``scale_lr`` 3 (a larger step escapes a saddle; 0.001 -> 0.01 style) — unless the loss
climbed above its start or the declared rate is high (``advisor.rules.lr_evidence.lr_direction``
says down): then ``warmup`` instead, never a larger rate; and not when nothing says the direction
while the fall after the stall raised the validation accuracy by less than ``min_escape_acc_gain``
(the median of its last three evaluations over its median up to the stall's end): then
``check_data`` to log the rate, the direction unclear — ``optimizer``
adam (converges fast from a stall), ``normalization`` batchnorm, ``warmup`` when the plateau
follows an early spike.

Not (yet) compared across a sweep: a plateau that lasts is reported at info, never raised to a
warning by a sibling run that goes lower.

Known false positives: curricula and multi-phase training (e.g. a frozen backbone unfrozen
later) that are flat by design; very long warmups when the learning rate is not logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence, warmup_steps
from advisor.rules.lr_evidence import lr_direction
from advisor.rules.rl_signals import eval_reward, reward
from advisor.rules.shape import shape
from advisor.signals import binned_noise, flat_run, fmt, make_curve, median, pct, percent_scale, rolling_median, theil_sen


ID = "plateau"
WORKLOADS = ("supervised", "unknown", "rl")  # rl: the lasting form, on the reward
SEVERITY = Severity.WARNING
SIGNALS = ("train loss",)


@dataclass(frozen=True)
class Params:
    min_len: float = 0.15
    min_len_no_lr: float = 0.25
    warn_len_no_lr: float = 0.3  # one-cycle's default warmup (pct_start) is 30% of the run
    min_escape_bins: int = 3  # the escape of a loss logged one minibatch a point: at least this many points
    min_escape_acc_gain: float = 0.1  # an escape that raises val accuracy less than this gives no rate direction
    max_slope_ratio: float = 0.25
    max_start: float = 0.5
    tol_noise: float = 8.0
    tol_gain: float = 0.06
    min_escape: float = 0.75
    max_escape: float = 2.0
    min_bins: int = 20
    min_stall_bins: int = 6
    min_stall_evals: int = 4  # on the validation loss, evaluated whole
    max_stall_jump: float = 1.3  # on the validation loss: no evaluation within the stall this far above its level
    tail_min: float = 0.66
    tail_min_reward: float = 0.55
    tail_gain: float = 0.04
    min_points_lasting: int = 8
    min_val_evals: int = 10
    min_val_progress: float = 0.3
    drift_of_fall: float = 0.1  # a train loss drifting down this share of the fall within its stall
    tight_band: float = 0.01  # the tight form: a smooth loss within this share of one level ...
    tight_escape: float = 0.25  # ... ending this share below it
    trained_flat: float = 0.1  # a trained start: the whole run lowered train and val by under this share


def detect(ctx: Context, p: Params) -> list[Finding]:
    if ctx.workload == "rl":
        return _reward_lasting(ctx, p)
    got = ctx.finite_train(min_points=p.min_points_lasting)
    if got is None:
        return []
    c, sh = got
    if ctx.trained_start in ("accuracy", "metric") and (flat := _trained_flat(ctx, c, sh, p)):
        return flat
    total_fall = sh.v0 - sh.vend
    if total_fall <= 0:
        return []
    # The range of many noisy bins grows like ~6 sigma, hence the generous noise multiple.
    tol = max(p.tol_noise * c.bnoise, p.tol_gain * total_fall, 1e-12)
    if len(c.bvals) < p.min_bins:  # too few points to see a stall and its escape; a lasting one shows
        return _lasting(ctx, c, sh, p)
    return _escaped(ctx, c, sh, p, tol) or _escaped_on_val(ctx, c, p) or _tight_stall(ctx, c, sh, p) or _lasting(ctx, c, sh, p)


def _escaped_on_val(ctx: Context, c, p: Params) -> list[Finding]:
    """With one minibatch a point (sparse logging) the train loss's noise can hide a stall that the
    validation loss, evaluated whole, shows plainly: read the stall there (``min_val_evals``
    evaluations at least, and a val loss that fell ``min_val_progress`` of its first value)."""
    v, vs = ctx.val, ctx.val_shape
    if not c.point_bins or v is None or vs is None or v.n < p.min_val_evals or v.cut_short:
        return []
    fall = vs.v0 - vs.vend
    if fall <= 0 or vs.progress < p.min_val_progress:
        return []  # a stall is escaped by a real fall, not a level that ends where it sat
    tol = max(p.tol_noise * v.bnoise, p.tol_gain * fall, 1e-12)
    return _escaped(ctx, v, vs, p, tol, what="val loss", min_stall=p.min_stall_evals)


def _escaped(ctx: Context, c, sh, p: Params, tol: float, what: str = "train loss", min_stall: int | None = None) -> list[Finding]:
    """The early stall the run escaped from: the longest flat stretch, followed by a steep fall,
    searched for before the loss left the levels a plateau can sit at (at least ``min_escape`` of
    the fall above the end): the converged tail is flat too, and often longer."""
    total_fall = sh.v0 - sh.vend
    high = np.nonzero(c.bvals >= sh.vend + p.min_escape * total_fall)[0]
    if high.size < 2:
        return []
    head = c.bvals[: int(high[-1]) + 1]
    # The noise of a loss scales with its level: measured over the whole run it is the quiet
    # converged tail's, far below the noise of a stall at a high loss. Judge the stall's band by
    # the noise where it sits.
    head_noise = binned_noise(head) if head.size >= 10 else 0.0
    tol = max(tol, p.tol_noise * head_noise)
    # Bins of one point each (sparse logging: every point one minibatch) leave single-batch
    # outliers in the curve: one of them must not cut a stall in two
    band = rolling_median(head, 3) if head.size >= 5 and c.point_bins else head
    a, b = flat_run(band, tol)
    if head_noise > c.bnoise:
        # a band that wide also takes in the first bins of the escape: end the stall where the
        # loss leaves its level for good
        lvl = float(median(head[a:b]))
        while b - a > 2 and float(head[b - 1]) < lvl - 2.0 * head_noise:
            b -= 1
    if b - a < (min_stall or p.min_stall_bins):
        return []  # a flat stretch of a few points is no stall: a steady fall has those
    if not _ends_below(sh.vend, c.bvals[a:b] if min_stall else band[a:b]) or (min_stall and _thrown_within(c.bvals[a:b], p)):
        return []
    s_a, s_b = float(c.bsteps[a]), float(c.bsteps[b - 1])
    length = (s_b - s_a) / max(c.span, 1)
    start_frac = (s_a - c.steps[0]) / max(c.span, 1)
    lr_known = ctx.lr is not None and ctx.lr.n >= 3
    # from the first step and with no logged rate, a low-rate warmup phase looks just the same:
    # then it takes a longer stall to be sure
    unseen_warmup = not lr_known and start_frac <= 0.05
    need = p.min_len_no_lr if unseen_warmup else p.min_len
    if length < need or start_frac > p.max_start:
        return []
    plateau_level = float(median(c.bvals[a:b]))
    escape = (plateau_level - sh.vend) / total_fall
    # a fall is more than the last point or two when each is one noisy minibatch (evaluations on
    # a whole val set, or binned medians, are not)
    escape_bins = p.min_escape_bins if c.point_bins and not min_stall else 2
    if escape < p.min_escape or escape > p.max_escape or b > len(c.bvals) - escape_bins:
        return []  # far above where the loss started it is a blow-up, not a stall
    s_in = theil_sen(c.bsteps[a:b], c.bvals[a:b])  # the drift within the stall
    # a train loss drifting down within the band (``drift_of_fall`` of the whole fall) while
    # validation fell as fast: a steady decline its one-minibatch noise hid (a calm or rising
    # train loss beside a falling val metric stalled)
    drifting = -s_in * (s_b - s_a) >= p.drift_of_fall * total_fall
    if not _steep_escape(c, a, b, s_in, plateau_level, sh.vend, p) or (not min_stall and drifting and _val_fell_meanwhile(ctx, s_a, s_b, p)):
        return []
    if _lr_warms_up(ctx, s_a, s_b):
        return []  # a warmup, not a stall
    evidence = {
        "step_range": [int(s_a), int(s_b)],
        "plateau_level": plateau_level,
        "final_loss": sh.vend,
        "plateau_fraction_of_run": round(length, 3),
        "escape_fraction": round(escape, 3),
        "signal": what.replace(" ", "_"),
    }
    rem = _remedies(ctx, s_b, evidence, p)
    summary = (
        f"{what} sat flat at {fmt(plateau_level)} from step {int(s_a)} to {int(s_b)} "
        f"({pct(length)} of the run) before falling to {fmt(sh.vend)}"
    )
    severity = SEVERITY
    if unseen_warmup and length < p.warn_len_no_lr:
        # as long as a default one-cycle warmup: the stall may be its tiny first rates
        severity = Severity.INFO
        summary += f"; the learning rate is not logged, and a warmup of up to {pct(p.warn_len_no_lr)} of the run looks the same"
    conf = margin_confidence(length, p.min_len, 0.2, base=0.55)
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(s_a))]


def _tight_stall(ctx: Context, c, sh, p: Params) -> list[Finding]:
    """A smooth loss (epoch means: binned noise under ``tight_band`` of its level) that sat within
    ``tight_band`` of one level for ``min_len`` of the run, starting in its first ``max_start``,
    then fell ``tight_escape`` below that level by the end — a stall lower in the fall than the
    early form looks (a forecasting loss at 0.2992-0.2996 for 160 epochs, then down to 0.17).
    Info unless a logged rate stayed level across the escape: a scheduled drop of the rate looks
    the same, so only a rate that did not drop makes it a stall."""
    level_all = float(median(c.bvals))
    if level_all <= 0 or c.bnoise > p.tight_band * level_all:
        return []  # not smooth: one-minibatch points never sit within 1% of a level
    b = rolling_median(c.bvals, 3) if c.bvals.size >= 5 else c.bvals
    a, e = flat_run(b, p.tight_band * float(np.min(b[b > 0])) if np.any(b > 0) else 0.0)
    if e - a < p.min_stall_bins:
        return []
    s_a, s_b = float(c.bsteps[a]), float(c.bsteps[e - 1])
    level = float(median(c.bvals[a:e]))
    length, start_frac = (s_b - s_a) / max(c.span, 1), (s_a - c.steps[0]) / max(c.span, 1)
    if length < p.min_len or start_frac > p.max_start or sh.vend > (1 - p.tight_escape) * level or e >= len(b) - 1:
        return []
    lr = ctx.lr
    steady_lr = lr is not None and lr.n >= 3 and _lr_level_across(lr, s_a, s_b) >= 0.9
    evidence = {"form": "tight", "step_range": [int(s_a), int(s_b)], "plateau_level": level, "final_loss": sh.vend,
                "plateau_fraction_of_run": round(length, 3), "signal": "train_loss"}
    summary = (f"train loss sat at {fmt(level)} (within {pct(p.tight_band)}) from step {int(s_a)} to {int(s_b)} ({pct(length)} of "
               f"the run), then fell to {fmt(sh.vend)}" + ("" if steady_lr else "; the rate is not logged level across the fall, and "
               "a scheduled drop of it looks the same"))
    rem = [R.warmup(warmup_steps(ctx), "a stall escaped later: steps that differ early find the way sooner"),
           R.normalization("batchnorm", "normalisation shortens plateaus from saturated units")]
    return [finding(ID, SEVERITY if steady_lr else Severity.INFO, 0.6, summary, evidence, rem, onset=int(s_a))]


def _lr_level_across(lr, s_a: float, s_b: float) -> float:
    """The logged rate after the stall over the rate within it (medians)."""
    inside, after = lr.values[(lr.steps >= s_a) & (lr.steps <= s_b)], lr.values[lr.steps > s_b]
    return float(median(after)) / float(median(inside)) if inside.size and after.size and median(inside) > 0 else 0.0


def _steep_escape(c, a: int, b: int, s_in: float, level: float, end: float, p: Params) -> bool:
    """A stall, not a noisy stretch of a steady decline: the fall right after the plateau is much
    steeper than the drift ``s_in`` within it — over a window as long as the stall, or over the escape
    itself, up to where the loss has made three quarters of its way down to the end, whichever is
    steeper (after a quick escape the long window is mostly the converged floor, as flat as the
    stall's drift; an escape in stages is steep only over the long one)."""
    k = min(len(c.bvals), b + max(5, b - a))
    s_out = theil_sen(c.bsteps[b - 1 : k], c.bvals[b - 1 : k])
    reached = np.flatnonzero(c.bvals[b:k] <= end + 0.25 * (level - end))
    if reached.size:  # the steeper of the two: an escape in stages is steep over the longer window
        e = min(k, b + max(5, int(reached[0]) + 1))
        s_out = min(s_out, theil_sen(c.bsteps[b - 1 : e], c.bvals[b - 1 : e]))
    return s_out < 0 and s_in >= p.max_slope_ratio * s_out


def _val_fell_meanwhile(ctx: Context, s_a: float, s_b: float, p: Params) -> bool:
    """Validation (evaluated whole; ``min_stall_evals`` evaluations within the stall at least) fell
    within the stall at more than ``max_slope_ratio`` of the pace it fell at after it, over its
    escape (three quarters of the way down to its best evaluation) — the same test the train
    loss's stall passes: no stall, but a steady decline the noise of one-minibatch points hid."""
    v = ctx.val
    if v is None or v.cut_short:
        return False
    inside = (v.steps >= s_a) & (v.steps <= s_b)
    if int(inside.sum()) < p.min_stall_evals:
        return False
    best, last_in = int(np.argmin(v.values)), int(np.flatnonzero(inside)[-1])
    if best <= last_in:
        return False  # validation's best lies within the stall: nothing after it to compare
    # the pace over the escape: down to three quarters of the way to its best (as for the train loss)
    lo, hi = float(v.values[best]), float(v.values[last_in])
    k = last_in + 1 + int(np.argmax(v.values[last_in + 1 : best + 1] <= lo + 0.25 * (hi - lo)))
    s_out = (float(v.values[k]) - hi) / max(float(v.steps[k] - v.steps[last_in]), 1.0)
    s_in = theil_sen(v.steps[inside].astype(float), v.values[inside].astype(float))
    return s_out < 0 and s_in < p.max_slope_ratio * s_out


def _ends_below(end: float, stall_levels: np.ndarray) -> bool:
    """An escape ends below every level the stall visited (a validation loss, evaluated whole, at
    each point; a per-batch loss at its rolling medians): a run that ends no lower than its stall
    already dipped fell within its own scatter (a noisy val loss bouncing 2.0-4.5 whose last two
    points land low escaped no stall)."""
    return end < float(np.min(stall_levels))


def _thrown_within(stall: np.ndarray, p: Params) -> bool:
    """A val loss, evaluated whole, that jumped ``max_stall_jump`` times its level or more within
    the "stall" was thrown about, not stalled."""
    return float(np.max(stall)) >= p.max_stall_jump * float(median(stall))


def _lr_warms_up(ctx: Context, s_a: float, s_b: float) -> bool:
    """A logged learning rate that rises over the stall (by half or more): a warmup."""
    lr = ctx.lr
    if lr is None or lr.n < 3:
        return False
    seg = lr.values[(lr.steps >= s_a) & (lr.steps <= s_b)]
    return bool(seg.size >= 2 and seg[-1] > 1.5 * seg[0])


def _reward_lasting(ctx: Context, p: Params) -> list[Finding]:
    """An RL run whose reward stopped rising early: the lasting form on the negated reward — the
    evaluation reward when one is logged (deterministic episodes: the policy's own level, without
    the exploration noise and the lag of a rolling training mean)."""
    ev = eval_reward(ctx, p.min_points_lasting)
    r = reward(ctx, p.min_points_lasting) if ev is None else ev[1]
    if r is None:
        return []
    c = make_curve(r.steps, -r.values)
    sh = shape(c)
    if sh is None or sh.v0 - sh.vend <= 0:
        return []
    return _lasting(ctx, c, sh, p, what="reward")


def _lasting(ctx: Context, c, sh, p: Params, what: str = "train loss") -> list[Finding]:
    """The plateau that lasts to the end: the earliest point after which the (window-median)
    train loss never again improves by more than ``tail_gain`` of the total fall. A run still
    being written has no end yet: nothing."""
    if ctx.partial:
        return []
    total_fall = sh.v0 - sh.vend
    y = c.bvals
    n = len(y)
    h = max(1, n // 20) if n >= 20 else 1
    smooth = rolling_median(y, 2 * h + 1)  # centred window medians, shrinking at the ends
    later_best = np.minimum.accumulate(smooth[::-1])[::-1]  # best level reached from i on
    # the earliest start below which the rest of the run never goes by more than the allowance
    # (a bump above the level and back is not progress)
    # the allowance: the gain, or what the noise of a window median gives its lowest later value
    allow = max(p.tail_gain * total_fall, 3.0 * c.bnoise / np.sqrt(2 * h + 1), 1e-12)
    ok = np.nonzero(smooth - later_best <= allow)[0]
    if ok.size == 0:
        return []
    k = int(ok[0])
    s_a = float(c.bsteps[k])
    start_frac = (s_a - c.steps[0]) / max(c.span, 1)
    tail = 1.0 - start_frac
    if k == 0 or tail < (p.tail_min_reward if what == "reward" else p.tail_min) or start_frac > p.max_start:
        return []
    sign = -1.0 if what == "reward" else 1.0  # the reward was negated into a loss
    v = ctx.val if what != "reward" else None
    if v is not None and v.n >= 4:
        vt = v.values[v.steps >= s_a]
        v_range = float(np.max(v.values) - np.min(v.values))
        gain = float(vt[0] - vt[-1]) if vt.size >= 2 else 0.0
        if v_range > 0 and gain > 0.25 * v_range and gain > 0.05 * abs(float(vt[0])):
            return []  # validation kept improving: not a plateau of the run
    level = float(smooth[k])
    evidence = {
        "step_range": [int(s_a), int(c.steps[-1])],
        "plateau_level": sign * level,
        "final_level": sign * sh.vend,
        "plateau_fraction_of_run": round(tail, 3),
        "tail_fraction_of_fall": round(max(level - sh.vend, 0.0) / total_fall, 3),
        "form": "lasting",
        "signal": "reward" if what == "reward" else "train_loss",
    }
    rem = [
        R.early_stop(int(s_a), patience=max(2, min(10, (v.n // 10) if v is not None else 3)), rationale="the rest of the run bought almost nothing"),
        R.lr_schedule("plateau", "cut the rate when progress stalls; a lower rate often goes below the floor", factor=0.2, patience=3),
        R.capacity(2.0, rationale="if the level is not good enough, a larger model can go lower"),
    ]
    moved = "raised" if what == "reward" else "lowered"
    rest = (
        f"the last {pct(tail)} of the run {moved} it by only {pct(max(level - sh.vend, 0.0) / total_fall)} of its whole gain (to {fmt(sign * sh.vend)})"
        if sh.vend <= level
        else f"the last {pct(tail)} of the run never went beyond it and ended at {fmt(sign * sh.vend)}"  # ended worse than the stall
    )
    summary = f"{what} stopped improving at about {fmt(sign * level)} from step {int(s_a)}: {rest}"
    # below the other advice: this one is about compute spent, not about what went wrong
    conf = min(margin_confidence(tail, p.tail_min, 0.3, base=0.3), 0.45)
    return [finding(ID, Severity.INFO, conf, summary, evidence, rem, onset=int(s_a))]


def _trained_flat(ctx: Context, c, sh, p: Params) -> list[Finding]:
    """A run that started trained and whose whole length lowered neither its train loss nor its
    validation by ``trained_flat`` of where they started: the compute bought little (info)."""
    if ctx.partial or sh.v0 <= 0 or abs(sh.progress) >= p.trained_flat:
        return []  # (a loss that rose from where it started did not merely stay)
    v = ctx.val
    val_txt = ""
    if v is not None and v.n >= 4:
        if v.cut_short or float(v.values[0]) <= 0:
            return []
        best = float(np.min(rolling_median(v.values, 3) if v.n >= 5 else v.values))
        v_gain = (float(v.values[0]) - best) / float(v.values[0])
        if v_gain >= p.trained_flat:
            return []  # validation still improved: the run bought something
        val_txt = f", val loss {fmt(float(v.values[0]))} -> {fmt(best)} at best ({pct(max(v_gain, 0.0))}) over {v.n} evaluations"
    role, acc = (Role.VAL_ACC, ctx.val_acc) if ctx.val_acc is not None else (Role.TRAIN_ACC, ctx.train_acc)
    start_txt = f" ({ctx.tag(role)} {fmt(float(acc.values[0]))} at its first point)" if acc is not None and acc.n else ""
    evidence = {
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "plateau_level": sh.v0,
        "final_level": sh.vend,
        "plateau_fraction_of_run": 1.0,
        "train_progress": round(sh.progress, 4),
        "started_trained": ctx.trained_start,
        "form": "trained-flat",
        "signal": "train_loss",
    }
    summary = (
        f"the run started from a trained model{start_txt} and its whole length bought little: "
        f"train loss {fmt(sh.v0)} -> {fmt(sh.vend)} ({pct(max(sh.progress, 0.0))}){val_txt}"
    )
    rem = [
        R.early_stop(int(c.steps[0]), patience=max(2, min(10, (v.n // 10) if v is not None else 3)), rationale="the run added little to the model it started from"),
        R.lr_schedule("plateau", "a trained model is refined with smaller steps: cut the rate when validation stalls", factor=0.2, patience=3),
    ]
    return [finding(ID, Severity.INFO, 0.4, summary, evidence, rem, onset=int(c.steps[0]))]


def _remedies(ctx: Context, stall_end: float, evidence: dict, p: Params) -> list:
    """A larger rate, unless something says the steps were too large or the direction is unclear;
    Adam (unless already on it) and normalisation."""
    opt = str(ctx.param("optimizer") or "").lower()
    direction, why = lr_direction(ctx)
    rem = []
    acc_gain = _escape_accuracy_gain(ctx, stall_end)
    if direction == "down":  # never a larger rate for a loss that climbed above its start
        rem.append(R.warmup(warmup_steps(ctx), f"not a larger rate: {why}"))
    elif direction is None and acc_gain is not None and acc_gain[0] < p.min_escape_acc_gain:
        # a saddle's escape is learning resuming: the accuracy jumps (population plateaus: +0.27 to
        # +0.81). A fall that buys none is a loss coming down from where large steps threw it (Adam
        # at 2 on an LSTM: 5.1 -> 1.6 at accuracy 0.33 -> 0.39) as much as a stall escaped
        evidence.update(val_acc_during=acc_gain[1], val_acc_end=acc_gain[2])
        rem.append(R.check_data(f"log the learning rate: the fall after the stall raised val accuracy only {fmt(acc_gain[1])} -> "
                                f"{fmt(acc_gain[2])}, which a loss coming down from steps too large does too — the direction is unclear"))
    else:
        rem.append(R.scale_lr(3.0, "a larger step escapes the stall sooner (e.g. 0.001 -> 0.003-0.01)"))
    if "adam" not in opt:
        rem.append(R.optimizer("adam", rationale="Adam converges fast from a stall; switch back to SGD to fine-tune"))
    rem.append(R.normalization("batchnorm", "normalisation shortens plateaus from saturated units"))
    return rem


def _escape_accuracy_gain(ctx: Context, stall_end: float) -> tuple[float, float, float] | None:
    """(gain, level up to the stall's end, level at the end) of the validation accuracy (fraction):
    the median of its last three evaluations over the median of those up to ``stall_end``; None
    without an accuracy evaluated at least twice on each side."""
    acc = ctx.val_acc
    if acc is None or acc.cut_short:
        return None
    during, after = acc.values[acc.steps <= stall_end], acc.values[acc.steps > stall_end]
    if during.size < 2 or after.size < 2:
        return None
    scale = percent_scale(acc.values)
    a, b = float(median(during)) / scale, float(median(after[-3:])) / scale
    return b - a, a, b

