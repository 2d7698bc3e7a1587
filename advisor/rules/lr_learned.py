"""The ``lr-too-high`` forms of a run whose loss moved: it learned and then was thrown back, gave
its progress back, keeps spiking off its floor, or never descended while its validation loss
lurched. Each is a warning whose first remedy cuts the rate (to the family's usual top when the
run declares a rate above it); the statistics live in :mod:`advisor.rules.lr_evidence`, the
trigger and the other forms in :mod:`advisor.rules.lr_too_high`."""

from __future__ import annotations

import dataclasses

from typing import Any

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor, warmup_steps
from advisor.rules.lr_evidence import DeclaredLr, GaveBack, Thrashing, gave_back
from advisor.rules.non_finite import clip_threshold
from advisor.rules.oscillation import Params as OscParams
from advisor.rules.oscillation import spikes
from advisor.signals import fmt, rolling_median, times

ID = "lr-too-high"  # the condition these findings carry (the rule module is advisor.rules.lr_too_high)


def keeps_spiking(values, p: Any) -> dict | None:
    sp = spikes(values, OscParams())
    if sp is None or sp["max_over_floor"] < p.min_spike_peak or sp["episodes"] < p.min_spike_episodes:
        return None
    return sp


def spikes_finding(ctx: Context, c, sp: dict, lr: DeclaredLr) -> Finding:
    """A loss that keeps spiking far off the floor it had reached and coming back: steps too
    large for the sharp minimum it found."""
    half = int(c.steps[len(c.steps) // 2])
    evidence = {
        "form": "keeps-spiking",
        "floor": sp["floor"],
        "spike_episodes": sp["episodes"],
        "spike_share_second_half": round(sp["spike_share"], 3),
        "max_over_floor": round(sp["max_over_floor"], 1),
        "median_over_floor": round(sp["level_over_floor"], 2),
        "step_range": [half, int(c.steps[-1])],
        "signal": "train_loss",
    }
    summary = (
        f"train loss keeps spiking: after reaching a floor of {fmt(sp['floor'])} it blew up {sp['episodes']} times over "
        f"the second half (up to {fmt(sp['max_over_floor'])}x the floor) and came back each time: the learning rate is "
        f"too high for the minimum it found ({lr.describe()})"
    )
    rest = [
        R.clip_grad_norm(clip_threshold(ctx, half) or 1.0, "bound the updates that throw the loss off its floor"),
        R.lr_schedule("plateau", "cut the rate once the loss reaches its floor", factor=0.2, patience=3),
    ]
    conf = margin_confidence(sp["max_over_floor"], 100.0, 1000.0, base=0.5)
    why = "smaller steps stay in the minimum the run had found instead of overshooting out of it"
    return warning_finding(evidence, lr, 0.3, why, rest, summary, conf, half)


def thrown_back_finding(ctx: Context, c, tb: tuple[int, float, float], lr: DeclaredLr) -> Finding:
    """A classifier that had learned and was thrown back to a cross-entropy no working model returns to."""
    step, level, low = tb
    evidence = {
        "form": "thrown-back",
        "thrown_to": level,
        "lowest_before": low,
        "thrown_step": step,
        "final_loss": float(c.values[-1]),
        "step_range": [step, int(c.steps[-1])],
        "signal": "train_loss",
    }
    summary = (
        f"train loss had come down to {fmt(low)}, then was thrown back to {fmt(level)} at step {step} ({times(level / low)}; a "
        f"classifier's cross-entropy that high puts e^-{level:.0f} on the true class, where no working model returns): "
        f"steps large enough to throw the weights away ({lr.describe()})"
    )
    rest = [
        R.clip_grad_norm(clip_threshold(ctx, step) or 1.0, "bound the updates that throw the weights away"),
        R.warmup(warmup_steps(ctx), "ramp the rate up so the first steps do not throw the weights away"),
    ]
    why = f"a loss thrown to a cross-entropy of {fmt(level)} after it had learned: the rate is far too high"
    return warning_finding(evidence, lr, 0.1, why, rest, summary, 0.7, step)


def gave_back_form(ctx: Context, c, p: Any) -> GaveBack | None:
    """The loss fell to under half its start, then climbed back by ``min_give_back`` of that
    progress (clearing ``min_gb_z`` standard errors) and ended with ``min_end_give_back`` of it
    still lost, or won it back only after the rate was cut (:func:`cut_step`) — while the logged
    rate, if any, did not rise (a warm restart or warmup rises on purpose)."""
    gb = gave_back(c, min_z=p.min_gb_z)
    if gb is None or gb.progress < p.min_gb_progress or gb.share < p.min_give_back:
        return None
    rate = ctx.lr
    if rate is not None and rate.n >= 2:
        at = np.interp([gb.best_step, gb.peak_step], rate.steps, rate.values)
        if at[1] > 1.05 * at[0]:
            return None
    gb = dataclasses.replace(gb, cut_at=cut_step(ctx, c, gb))
    if gb.end_share < p.min_end_give_back and gb.cut_at is None:
        return None  # it won its progress back, and not because the rate was cut
    return gb


def cut_step(ctx: Context, c, gb: GaveBack, cut: float = 0.5, soon: float = 0.1) -> int | None:
    """The step of the rate cut that ended a give-back: the logged rate fell to ``cut`` of its
    level where the climb began, and the loss (rolling median of three) first came back to
    within a quarter of the climb above its best no more than ``soon`` of the run after that cut —
    a plateau scheduler doing, late, what a lower rate would have done (a loss at 0.84 thrown to
    2.1 at SGD 0.08 sat at 1.6 for 20 epochs, then fell to 0.91 the epoch the rate went to 0.02).
    None when there was no such cut, or the loss came back before it."""
    rate = ctx.lr
    if rate is None or rate.n < 2:
        return None
    # the rate the climb began at (the climb's bin ends where a scheduler may already have cut it)
    r_climb = float(np.interp(gb.best_step, rate.steps, rate.values))
    after = (rate.steps > gb.best_step) & (rate.values <= cut * r_climb)
    if r_climb <= 0 or not after.any():
        return None
    t_cut = int(rate.steps[np.argmax(after)])
    sm = rolling_median(c.values, 3) if c.n >= 5 else c.values
    back = (c.steps > gb.peak_step) & (sm <= gb.best + 0.25 * (gb.peak - gb.best))
    if not back.any():
        return None
    t_back = int(c.steps[np.argmax(back)])
    return t_cut if t_cut <= t_back <= t_cut + soon * max(float(c.steps[-1] - c.steps[0]), 1.0) else None


def gave_back_finding(ctx: Context, c, gb: GaveBack, lr: DeclaredLr) -> Finding:
    """A loss that learned, then gave much of it back without a schedule that asked for it: steps
    too large for the narrower region the loss had reached."""
    evidence = {
        "form": "gave-back",
        "start_level": gb.start,
        "best_level": gb.best,
        "climb_level": gb.peak,
        "end_level": gb.end,
        "given_back": round(gb.share, 3),
        "still_lost_at_end": round(gb.end_share, 3),
        "climb_z": round(gb.z, 1),
        "step_range": [gb.best_step, int(c.steps[-1])],
        "signal": "train_loss",
    }
    ended = f"and ended at {fmt(gb.end)}"
    if (t := gb.cut_at) is not None:
        evidence["recovered_after_cut_at"] = t
        ended = f"came back only once the learning rate was cut at step {t}, and ended at {fmt(gb.end)}"
    summary = (
        f"train loss fell from {fmt(gb.start)} to {fmt(gb.best)} by step {gb.best_step}, then climbed back to {fmt(gb.peak)} "
        f"by step {gb.peak_step} — {100 * gb.share:.0f}% of its progress given back, {gb.z:.0f} standard errors above its best — "
        f"{ended}: steps too large to stay in the region it had reached ({lr.describe()})"
    )
    rest = [
        R.lr_schedule("plateau", "cut the rate when the loss stops falling", factor=0.2, patience=3),
        R.clip_grad_norm(clip_threshold(ctx, gb.best_step) or 1.0, "bound the updates that throw the loss back up"),
    ]
    why = "smaller steps keep the progress the run makes instead of throwing it back"
    return warning_finding(evidence, lr, 0.3, why, rest, summary, margin_confidence(gb.share, 0.3, 1.0, base=0.5), gb.best_step)


def warning_finding(evidence: dict, lr: DeclaredLr, factor: float, why: str, rest: list[Remedy], summary: str, conf: float, onset: int) -> Finding:
    """A warning for a run that learned: a cut to the family's usual top when the rate is declared
    high, else ``factor``, first; then ``rest``."""
    evidence.update(lr.evidence())
    cut = lr.cut_factor()
    if cut is not None:
        factor = nice_factor(cut, lo=1e-4, hi=0.5)
    return finding(ID, Severity.WARNING, conf, summary, evidence, [R.scale_lr(factor, why), *rest], onset=onset)


def thrashing_finding(ctx: Context, c, th: Thrashing, lr: DeclaredLr) -> Finding:
    """A classifier that went nowhere while its validation loss lurched up and down: steps so large
    each update throws the weights somewhere else instead of descending."""
    val = ctx.val  # thrashing() read it: never None here
    evidence = {
        "form": "thrashing",
        "evaluations": th.evals,
        "val_accuracy_first": round(th.acc_first, 4),
        "val_accuracy_late_median": round(th.acc_late, 4),
        "val_accuracy_best": round(th.acc_best, 4),
        "val_loss_median_change": round(th.change, 3),
        "val_loss_reversals": [th.reversals, th.turns],
        "train_end_over_start": round(th.train_ratio, 3),
        "step_range": [int(val.steps[0]), int(val.steps[-1])],
        "signal": "val_loss",
    }
    summary = (
        f"validation accuracy went nowhere over {th.evals} evaluations (first {fmt(th.acc_first)}, second-half median "
        f"{fmt(th.acc_late)}, best {fmt(th.acc_best)}) while validation loss lurched between evaluations — up or down by a "
        f"median factor of {np.exp(th.change):.2f}, reversing direction {th.reversals} of {th.turns} times — and the "
        f"train loss ended at {100 * th.train_ratio:.0f}% of its start: steps too large to descend ({lr.describe()})"
    )
    rest = [
        R.warmup(warmup_steps(ctx), "ramp the rate up so the first steps do not throw the weights away"),
        R.clip_grad_norm(clip_threshold(ctx, int(c.steps[0])) or 1.0, "bound the updates while the rate is being fixed"),
    ]
    why = "a model that does not learn while its validation loss lurches: each step throws the weights too far"
    conf = margin_confidence(th.change, 0.15, 0.5, base=0.45)
    return warning_finding(evidence, lr, 0.1, why, rest, summary, conf, int(c.steps[0]))
