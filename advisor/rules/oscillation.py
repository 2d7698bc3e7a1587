"""Loss swings with large amplitude relative to its trend and makes little net progress.

Why it matters: swinging means the optimiser overshoots — the learning rate is too high for
the batch size, batches are too small and unrepresentative, or the data arrives in a biased
order — and the swings eat the progress.

Signals: train loss.

Trigger: the smoothed curve (binned medians) swings — its residual around a wide rolling
median (an eighth of the bins, at least 9; it keeps monotone stretches and steps) exceeds ``min_amplitude`` of the loss level and ``min_amp_of_drop`` of the whole fall
(small wiggles on a curve that fell far are not swings) and is more than ``structure_k``
times what independent point-to-point noise would leave in a bin (so the swings are structure,
not noise — at any logging cadence: with one logged point a bin, that is the point's own noise) — and it makes little net progress: the fall over the second
half is smaller than the swing amplitude (``max_progress_over_amp``). Needs ``min_bins``
binned points, and ``min_point_bins`` when each bin holds one logged point (a dozen single
minibatch losses cannot tell a swing from noise).

A second form, spikes from a floor (on a positive loss of at least ``min_points_spikes``
points, judged on the log scale against the run's own floor): the loss reached a floor — the 5th
percentile of the first half — and over the second half keeps blowing up far above it and coming
back: between ``min_spike_share`` and ``max_spike_share`` of its points lie above
``spike_ratio`` times the floor (and ``spike_floor_k`` times the second half's own
point-to-point log noise above it), in at least ``min_spike_episodes`` separate spikes, each
ended by a return to within ``recovered_within`` of the floor (its 10th percentile is there too),
and its median sits at least ``min_level_rise`` times the floor: the spikes eat the progress the
run had made. A loss that is still falling by decades has its floor at its end and never shows
this; one that stays far up (more than ``max_spike_share`` of the points) is a divergence's case.
Remedies: ``scale_lr`` 0.3, ``clip_grad_norm``, a plateau schedule.

Remedies, ordered by evidence: ``batch_size`` up (powers of two, 32-256) when the configured
batch is small, else ``scale_lr`` 0.3 first; then ``batch_size``; ``shuffle``; ``capacity``
(add a layer) — per the practitioners' list: too little capacity, batch too small, data not
shuffled.

Known false positives: cyclic learning-rate schedules (swings follow the schedule; warm restarts
can look like spikes); losses on deliberately alternating objectives (GANs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence, pow2_batch
from advisor.signals import diff_noise, fmt, median, pct, robust_sigma, rolling_median

ID = "oscillation"
SEVERITY = Severity.WARNING
SIGNALS = ("train loss",)


@dataclass(frozen=True)
class Params:
    min_amplitude: float = 0.1
    min_amp_of_drop: float = 0.1
    structure_k: float = 3.0
    max_progress_over_amp: float = 1.0
    min_bins: int = 12
    # one logged point a bin: the swing/noise ratio of pure noise around a trend exceeds
    # ``structure_k`` in 1.4% of 12-point curves, 0.3% at 16 and about 0.1% from 20 on (simulated,
    # Gaussian and t3 noise): fewer single points cannot tell swings from noise
    min_point_bins: int = 20
    spike_ratio: float = 30.0
    spike_floor_k: float = 6.0
    min_spike_share: float = 0.05
    max_spike_share: float = 0.5
    min_spike_episodes: int = 3
    recovered_within: float = 3.0
    min_level_rise: float = 3.0
    min_points_spikes: int = 200


def swings(ctx: Context) -> tuple[float, float, float] | None:
    """(amplitude, expected bin noise from i.i.d. per-step noise, level) of the train curve."""
    c = ctx.train
    if c is None or len(c.bvals) < 12:
        return None
    b = c.bvals
    # A wide median filter keeps monotone stretches and real steps (lr drops) exactly and
    # removes swings shorter than its window; what it removes is the swing.
    resid = b - rolling_median(b, max(9, len(b) // 8))
    amp = robust_sigma(resid)
    m = max(float(median(c.bcount)), 1.0)
    # What i.i.d. point noise leaves in a bin: the median of m points has sd ~1.25 sigma/sqrt(m);
    # with one point a bin (sparse logging: every 50 steps, per epoch) it is the point's own noise.
    expected = (1.25 if m > 1 else 1.0) * c.noise / math.sqrt(m)
    level = abs(float(median(b[-max(3, len(b) // 4) :])))
    return amp, expected, level


def detect(ctx: Context, p: Params) -> list[Finding]:
    return _swinging(ctx, p) or _spiking(ctx, p)


def _swinging(ctx: Context, p: Params) -> list[Finding]:
    got = ctx.finite_train(min_bins=p.min_bins)
    if got is None:
        return []
    c, sh = got
    sw = swings(ctx)
    if sw is None:
        return []
    amp, expected, level = sw
    if float(median(c.bcount)) <= 1 and len(c.bvals) < p.min_point_bins:
        return []
    drop = max(sh.v0 - sh.vend, 0.0)
    if level == 0 or amp < p.min_amplitude * level or amp < p.min_amp_of_drop * drop:
        return []
    if expected > 0 and amp < p.structure_k * expected:
        return []
    b = c.bvals
    half = len(b) // 2
    fall_second_half = float(median(b[max(0, half - 3) : half + 3]) - median(b[-max(3, len(b) // 10) :]))
    if fall_second_half > p.max_progress_over_amp * 2 * amp:
        return []
    bs = ctx.num_param("batch_size")
    rem = []
    if bs is not None and bs < 32:
        rem.append(R.batch_size(pow2_batch(bs), f"batch {int(bs)} is small: larger batches average out the swings"))
        rem.append(R.scale_lr(0.3, "smaller steps overshoot less"))
    else:
        rem.append(R.scale_lr(0.3, "the loss overshoots: smaller steps swing less"))
        rem.append(R.batch_size(pow2_batch(bs), "larger batches average out the swings"))
    rem += [
        R.shuffle(True, "a biased data order makes the loss swing"),
        R.capacity(depth_delta=1, rationale="too little capacity can make the fit flip between subsets (add a layer)"),
    ]
    evidence = {
        "swing_amplitude": amp,
        "level": level,
        "amplitude_over_level": round(amp / level, 3),
        "second_half_fall": fall_second_half,
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    if expected > 0:
        evidence["amplitude_over_iid_noise"] = round(amp / expected, 2)
    summary = (
        f"train loss swings by about {fmt(amp)} ({pct(amp / level)} of its level {fmt(level)}) and fell only "
        f"{fmt(fall_second_half)} over the second half"
    )
    conf = margin_confidence(amp / level, p.min_amplitude, 0.2, base=0.55)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def spikes(y: np.ndarray, p: Params) -> dict | None:
    """The spike form's numbers on a positive loss (log scale), or None when it does not hold:
    the floor is the 5th percentile of the first half (a level the run held, not one lucky
    point); a spike is a point of the second half above ``spike_ratio`` times the floor and
    ``spike_floor_k`` times the second half's own point-to-point noise above it."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < p.min_points_spikes or not np.all(y > 0):
        return None
    ly = np.log10(y)
    floor = float(np.percentile(ly[: n // 2], 5))
    late = ly[n // 2 :]
    thr = floor + max(math.log10(p.spike_ratio), p.spike_floor_k * diff_noise(late))
    back = floor + math.log10(p.recovered_within)
    above = late > thr
    # separate episodes: a spike, then a return to within ``recovered_within`` of the floor
    episodes, out = 0, False
    for hi, lo in zip(above, late <= back):
        if hi and not out:
            episodes, out = episodes + 1, True
        elif lo:
            out = False
    share = float(np.mean(above))
    rise = 10 ** (float(median(late)) - floor)
    recovered = 10 ** (float(np.percentile(late, 10)) - floor)
    if not p.min_spike_share <= share <= p.max_spike_share or episodes < p.min_spike_episodes or recovered > p.recovered_within or rise < p.min_level_rise:
        return None
    return {"floor": 10**floor, "spike_share": share, "episodes": episodes, "level_over_floor": rise, "max_over_floor": 10 ** (float(np.max(late)) - floor)}


def _spiking(ctx: Context, p: Params) -> list[Finding]:
    """The spike form: having reached a floor early, the loss keeps blowing up far above it and
    coming back (an optimiser that overshoots from a sharp minimum: Adam at too high a rate or
    too small an epsilon), so its typical level sits well above the floor it had reached."""
    got = ctx.finite_train(min_points=p.min_points_spikes)
    if got is None:
        return []
    c, _ = got
    sp = spikes(c.values, p)
    if sp is None:
        return []
    half = float(c.steps[len(c.steps) // 2])
    evidence = {
        "form": "spikes",
        "floor": sp["floor"],
        "spike_share_second_half": round(sp["spike_share"], 3),
        "spike_episodes": sp["episodes"],
        "median_over_floor": round(sp["level_over_floor"], 2),
        "max_over_floor": round(sp["max_over_floor"], 1),
        "step_range": [int(half), int(c.steps[-1])],
        "signal": "train_loss",
    }
    summary = (
        f"train loss reached a floor of {fmt(sp['floor'])} early, then kept blowing up from it: over the second half "
        f"{pct(sp['spike_share'])} of its points sit over {fmt(p.spike_ratio)}x the floor in {sp['episodes']} separate spikes "
        f"(up to {fmt(sp['max_over_floor'])}x), and its median is {fmt(sp['level_over_floor'])}x the floor"
    )
    rem = [
        R.scale_lr(0.3, "the steps overshoot out of the minimum the run had found: smaller steps stay in it"),
        R.clip_grad_norm(1.0, "bound the updates that throw the loss off its floor"),
        R.lr_schedule("plateau", "cut the rate once the loss reaches its floor", factor=0.2, patience=3),
    ]
    conf = margin_confidence(sp["spike_share"], p.min_spike_share, 0.2, base=0.55)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(half))]
