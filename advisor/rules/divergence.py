"""Training loss rises persistently or explodes.

Why it matters: a rising training loss means the optimiser is making the fit worse — almost
always a learning rate too high for the current curvature (or no warmup), sometimes an
architecture that is numerically unstable. It often ends in NaN.

Signals: train loss (val loss, if logged, tells "both rising").

Trigger (on the binned medians of the finite part of the train loss; a NaN at the end excuses
the noise test only when the finite part rose as a trend): after its minimum, the
loss rises by more than ``min_rise`` of what it had gained (initial level minus minimum) —
or ends above its initial level, or by half of ``min_rise`` while validation, rising from the
train minimum on to its highest at the end, ends above its first evaluation (worse than the
untrained model: a train loss early in its climb understates the blow-up) — the rise exceeds ``noise_k`` times the curve's noise, the
rise is a trend (Mann-Kendall z > ``min_z`` over the part after the minimum) and that part
covers at least ``min_span`` of the run — or, in place of the trend, the later half of that part
(``shift_points`` or more) sits at or above the initial level (its lower quartile), ``noise_k`` noises above the
minimum, after a fall of ``shift_learned`` of the start and never past ``shift_max`` times it (a
jump that stayed: the points after a step are noise around a level, with no trend of their
own). Critical when the loss gives back more than
``critical_rise`` of its gain or goes non-finite; a slow creep is a warning.

Needs at least ``min_points`` points.

A small rise (under half the minimum's level) that was over by halfway through the stretch
after the minimum (the second half added under ``min_late_rise`` of it) is a step to a new
level, not a persistent rise, and is left to the rules for what it settled at; a blow-up that
then sits at a far higher level is still a divergence.

Remedies: ``scale_lr`` (0.1 for an explosion, 0.3 for a creep), ``clip_grad_norm`` near the
healthy 90th percentile of the gradient norm, ``warmup``; for a slow creep also
``early_stop`` at the loss minimum. When validation rises with it (both rising) the
architecture or hyperparameters are suspect: ``normalization``.

Known false positives: warm restarts (SGDR) that end mid-restart; curricula that make the
data harder on purpose; losses that are not minimised (GAN generator losses). The rise must be
persistent to the end of the run, which excludes transient spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.non_finite import clip_threshold
from advisor.signals import fmt, mann_kendall_z, median, pct, rolling_median

ID = "divergence"
SEVERITY = Severity.CRITICAL
SIGNALS = ("train loss",)


@dataclass(frozen=True)
class Params:
    min_rise: float = 0.25  # rise after the minimum, as a fraction of the gain before it
    critical_rise: float = 0.5
    noise_k: float = 4.0
    min_z: float = 2.6
    min_span: float = 0.15  # fraction of the run after the minimum
    min_points: int = 8
    min_late_rise: float = 0.2  # share of the rise still happening in the second half after the minimum
    shift_points: int = 5  # a jump that stayed: points in the later half after the minimum
    shift_learned: float = 0.25  # ... after the loss had fallen this share of its start
    shift_max: float = 2.0  # ... and never went this many times above its start


def _saturated(c, step_min: float, rise: float, p: Params) -> bool:
    """Whether the rise after the minimum was over by halfway: the second half of the stretch
    added under ``min_late_rise`` of it (a step up to a new level, e.g. a regulariser settling)."""
    mid = step_min + (float(c.steps[-1]) - step_min) / 2
    at_mid = float(np.interp(mid, c.bsteps, c.bvals))
    return rise > 0 and (c.end() - at_mid) < p.min_late_rise * rise


def _gave_all_back(after: np.ndarray, v0: float, v_min: float, noise: float, p: Params) -> bool:
    """A jump that stayed: the loss had learned (fallen ``shift_learned`` of its start), then the
    later half of the stretch after the minimum (``shift_points`` or more) has three points in
    four at or above the initial level and ``noise_k`` noises above the minimum, never having been thrown
    past ``shift_max`` times its start (a loss thrown orders of magnitude up and back is the
    lr-too-high rule's story). A step is not a trend — the points after it are noise around a
    level, so their Mann-Kendall z stays low — but a loss sitting above where training started
    has lost everything it learned."""
    late = after[after.size // 2 :]
    if late.size < p.shift_points or v0 <= 0 or v0 - v_min < p.shift_learned * v0 or float(np.max(after)) > p.shift_max * v0:
        return False
    level = float(np.quantile(late, 0.25))  # three points in four: a level, not a mode of a per-example loss
    return level >= v0 and level - v_min >= p.noise_k * noise


def _val_blew_up(ctx: Context, step_min: float) -> bool:
    """Validation (4+ evaluations) ends above its first evaluation — worse than the untrained
    model — after rising from the train loss's minimum on (Mann-Kendall z > 2): the weights are
    being thrown out, which a train loss still early in its climb understates."""
    v = ctx.val
    if v is None or v.n < 4 or v.cut_short:
        return False
    after = v.values[v.steps >= step_min]
    return after.size >= 2 and float(v.values[-1]) > float(v.values[0]) and float(after[-1]) == float(np.max(after)) and (
        after.size < 4 or mann_kendall_z(after) > 2.0)


def detect(ctx: Context, p: Params) -> list[Finding]:
    c = ctx.train
    if c is None or c.n < p.min_points:
        return []
    b = c.bvals
    # with one minibatch a point (sparse logging) the lowest point is a lucky batch: the minimum
    # is the smoothed curve's (5-point rolling median), so the trend after it is not cut short
    sm = rolling_median(b, 5) if len(b) >= 15 and c.point_bins else b
    i_min = int(np.argmin(sm))
    if i_min >= len(b) - 2:
        return []
    step_min, v_min = float(c.bsteps[i_min]), float(sm[i_min])
    v0 = c.start()
    v_end = c.end()
    gain = max(v0 - v_min, 0.0)
    rise = v_end - v_min
    scale = max(gain, abs(v_min) * 0.05, 1e-12)
    frac_after = (float(c.steps[-1]) - step_min) / max(c.span, 1)
    noise = max(c.bnoise, c.noise / np.sqrt(max(median(c.bcount), 1)))
    if sm is not b:
        noise *= 1.25 / np.sqrt(5)  # the minimum is a median of 5 points: that much less noisy
    exploded = c.cut_short  # (a loss that recovered from a few NaN points trained on)
    # a NaN stands in for neither the rise nor its trend: a finite part that rose within its own
    # noise, with no trend, before a sudden NaN is non-finite's business alone
    within_noise = rise < p.noise_k * noise
    if rise <= 0 or (within_noise and (not exploded or len(b) - i_min < 4 or mann_kendall_z(b[i_min:]) < p.min_z)):
        return []
    rise_frac = rise / scale
    ends_above_start = v_end > v0 + p.noise_k * noise
    if rise_frac < p.min_rise and not ends_above_start and not (rise_frac >= p.min_rise / 2 and _val_blew_up(ctx, step_min)):
        return []  # a NaN after a healthy, falling loss is non-finite's business, not divergence
    if frac_after < p.min_span and not exploded:
        return []
    z = mann_kendall_z(b[i_min:]) if len(b) - i_min >= 4 else (3.0 if exploded else 0.0)
    if z < p.min_z and not (exploded and rise_frac >= p.min_rise) and not _gave_all_back(b[i_min:], v0, v_min, noise, p):
        return []
    if not exploded and rise < 0.5 * abs(v_min) and _saturated(c, step_min, rise, p):
        return []  # rose a little once and settled at a higher level: not a persistent rise

    critical = exploded or ends_above_start or rise_frac >= p.critical_rise
    severity = Severity.CRITICAL if critical else Severity.WARNING
    val_rising = False
    v = ctx.val
    if v is not None and v.n >= 4:
        vb = v.bvals[v.bsteps >= step_min]
        val_rising = len(vb) >= 4 and mann_kendall_z(vb) > 2.0 and vb[-1] > vb.min() + 2 * max(v.bnoise, 1e-12)
    evidence = {
        "step_range": [int(step_min), int(c.steps[-1])],
        "min_step": int(step_min),
        "min_loss": v_min,
        "initial_loss": v0,
        "final_loss": v_end,
        "rise_fraction_of_gain": round(rise_frac, 3),
        "trend_z": round(z, 2),
        "val_rising": val_rising,
        "signal": "train_loss",
    }
    clip = clip_threshold(ctx, step_min)
    factor = 0.1 if critical else 0.3
    rem = [R.scale_lr(factor, "the training loss rises: the learning rate is too high for this point of training")]
    if clip:
        rem.append(R.clip_grad_norm(clip, "bound each update near the healthy gradient norm"))
    else:
        rem.append(R.clip_grad_norm(1.0, "bound each update"))
    if critical:
        rem.append(R.warmup(max(100, int(0.05 * max(c.steps[-1], 1))), "a warmup avoids blowing up before the curvature settles"))
    else:
        rem.append(R.early_stop(step=int(step_min), restore_best=True, rationale="stop at the loss minimum"))
    if val_rising:
        rem.append(R.normalization("batchnorm", "train and validation both rise: stabilise the architecture"))
    conf = margin_confidence(rise_frac, p.min_rise, 0.5, base=0.6) if not exploded else 0.95
    how = "exploded" if exploded else "rose"
    tail = f" and went non-finite at step {c.nonfinite_step}" if exploded else ""
    both = "; validation rose with it (both rising)" if val_rising else ""
    summary = (
        f"train loss {how} from its minimum {fmt(v_min)} at step {int(step_min)} to {fmt(v_end)} at step "
        f"{int(c.steps[-1])} (gave back {pct(min(rise_frac, 9.99))} of its gain, trend z={z:.1f}){tail}{both}"
    )
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(step_min))]
