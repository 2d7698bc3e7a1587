"""The learning-rate schedule reaches its floor long before training ends, or never decays as configured.

Why it matters: a decay schedule sized for fewer steps than the run (a horizon of a quarter
of the run, a scheduler stepped per batch when it was meant per epoch) leaves most of the
training at a rate too small to learn anything; a schedule that is configured but never
stepped leaves the run at its initial rate. Size the decay to the real number of steps.

Signals: the learning rate (logged), and the configured schedule kind when available.

Trigger, any of:
  * warmup the whole run: the logged rate starts under half its peak and is still rising (never
    falling) for at least ``max_warmup_share`` of the run — info, a warning from
    ``warn_warmup_share`` (a fine-tune whose warmup takes 53% of its one epoch learns at its peak
    rate for the rest: worth knowing, not a fault);
  * stuck tiny: the logged rate is constant for the whole run at or below ``tiny_lr`` (6e-8 from
    a scheduler that never stepped learns nothing with any optimizer);
  * early floor: the logged rate decays (ends at most ``min_decay`` of its peak), reaches its
    floor — within 10% of its final value, or 1% of its peak (the highest rate after the first
    ``spike_share`` of the run, when only the start was higher) — and stays there for at least
    ``max_floor_share`` of the run, and that floor is either negligible (at most ``negligible``
    of the peak) or stalls training (the train loss, still falling just before the floor, fell
    by less than ``max_floor_gain`` of its whole fall after reaching it) — a ÷10 step followed
    by a productive low-rate phase, or by a loss that had converged anyway, is normal;
  * past its horizon: the logged rate falls to about zero (``zero`` of its peak) before
    ``max_restart_at`` of the run and then climbs smoothly back above half its peak (no single
    jump of more than a third of the peak) — a cosine whose period (``T_max``) is shorter than
    the run, continuing past its end; an abrupt restart (SGDR) or a declared cyclic schedule is
    intended and not reported;
  * never decays: the config names a decaying schedule (cosine, linear, step, exponential,
    polynomial) but the logged rate is constant after any warmup — a scheduler never stepped, or
    one sized (``schedule_horizon``: a TF Object Detection API ``total_steps``) for ``far_horizon``
    times the run or more. Without a configured horizon, a rate that never rises and falls a little
    (under 1% in all) at two logged points or more is a scheduler that is stepped, over a horizon
    longer than what was logged — a run cut off after 74 of its planned steps — and is not reported.

Needs at least ``min_points`` points.

Remedies: ``lr_schedule`` of the same kind with ``horizon`` set to the run's real length (and
``min_lr`` about 1/1000 of the peak); a ``warmup`` of about 5% of the run; for a stuck tiny rate,
check that the scheduler is stepped, then ``scale_lr`` up to the usual range.

Known false positives: deliberate two-phase training (decay, then a long low-rate fine-tune);
a plateau scheduler that legitimately never triggered (not counted as decaying).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.lr_evidence import ADAPTIVE_TARGET, SGD_TARGET, declared_lr
from advisor.signals import fmt, pct

ID = "schedule-misconfigured"
SEVERITY = Severity.WARNING
SIGNALS = ("lr",)

_DECAYING = ("cosine", "linear", "step", "multistep", "exponential", "polynomial", "poly", "onecycle", "inverse_sqrt")


@dataclass(frozen=True)
class Params:
    max_warmup_share: float = 0.5
    warn_warmup_share: float = 0.75  # a warning from here (the run spent its last quarter or less at its peak rate); info below
    tiny_lr: float = 1e-6
    min_decay: float = 0.1
    max_floor_share: float = 0.4
    negligible: float = 0.01  # a floor at or below this fraction of the peak learns next to nothing
    far_horizon: float = 5.0  # a configured horizon this many times the run: the decay never starts
    spike_share: float = 0.05  # a peak only within this first share of the run is not the rate the run held
    max_floor_gain: float = 0.1
    zero: float = 0.005
    max_restart_at: float = 0.6  # the loss's fall after the floor, as a fraction of its whole fall
    min_points: int = 5


def _stalled_after(ctx: Context, floor_step: int, max_gain: float) -> bool:
    """Whether the loss was improving before ``floor_step`` and stopped once the rate got there.

    After the floor it fell by less than ``max_gain`` of its whole fall, while just before it
    (over a window as long as the run after the floor, at most a quarter of the run) it fell by
    more than that — so the stall follows the schedule, not an earlier convergence.
    """
    c = ctx.train
    if c is None or c.n < 10:
        return False
    v0, vend = c.start(), c.end()
    total = v0 - vend
    if total <= 0:
        return False
    at_floor = float(np.interp(floor_step, c.bsteps, c.bvals))
    window = min(float(c.steps[-1]) - floor_step, 0.25 * c.span)
    before = float(np.interp(max(floor_step - window, float(c.steps[0])), c.bsteps, c.bvals))
    return (at_floor - vend) / total < max_gain and (before - at_floor) / total >= max_gain


def detect(ctx: Context, p: Params) -> list[Finding]:
    lr = ctx.lr
    if lr is None or lr.n < p.min_points or lr.cut_short:
        return []
    vals, steps = lr.values, lr.steps
    end_step = max(int(steps[-1]), ctx.last_step)
    start_step = min(int(steps[0]), ctx.first_step) if ctx.first_step else int(steps[0])
    span = max(end_step - start_step, 1)
    i_peak = int(np.argmax(vals))
    peak = float(vals[i_peak])
    final = float(vals[-1])
    kind = str(ctx.param("schedule") or "").lower()
    kind_name = next((k for k in _DECAYING if k in kind), None)
    if peak <= 0:
        return []
    if final <= p.min_decay * peak and (early := _early_floor(ctx, lr, start_step, end_step, kind_name, p)) is not None:
        return [early]
    late = _warmup_whole_run(lr, start_step, span, p) or _past_horizon(lr, kind, start_step, end_step, p)
    if late is not None:
        return [late]
    stuck = _stuck_tiny(ctx, lr, end_step, p)
    if stuck is not None:
        return [stuck]
    if kind_name is not None and "plateau" not in kind:
        return _never_decays(ctx, lr, i_peak, kind, kind_name, end_step, p)
    return []


def _early_floor(ctx: Context, lr, start_step: int, end_step: int, kind_name: str | None, p: Params) -> Finding | None:
    """The decayed rate reached its floor early and stayed there (the first trigger), or None — and
    then the other forms are tried (a rate that rises again after its floor may be a cosine that
    ran past its period: ``_past_horizon``)."""
    vals, steps = lr.values, lr.steps
    span = max(end_step - start_step, 1)
    i_peak = int(np.argmax(vals))
    peak = float(vals[i_peak])
    final = float(vals[-1])
    # "negligible" is judged against the rate the run held, not a start of a few percent of the
    # run (YOLO's bias warmup starts at 0.1 and falls to lr0 0.001 in three epochs of 150).
    held = vals[steps >= start_step + p.spike_share * span]
    level = min(peak, float(held.max())) if held.size else peak
    floor = max(final * 1.1, level * 0.01)
    after = np.nonzero(vals[i_peak:] <= floor)[0]
    if after.size == 0:
        return None
    i_floor = i_peak + int(after[0])
    if np.any(vals[i_floor:] > max(floor * 1.5, final * 2)):
        return None  # it rises again: cyclic, restarts or a cosine past its period, not a floor
    floor_step = int(steps[i_floor])
    share = (end_step - floor_step) / span
    if share < p.max_floor_share:
        return None
    # A ÷10 step followed by a long low-rate phase is a normal schedule when the loss keeps
    # improving there; a negligible floor (or a loss that stops improving) is the waste.
    stalled = _stalled_after(ctx, floor_step, p.max_floor_gain)
    if final > p.negligible * level and not stalled:
        return None
    horizon = end_step
    rem = [
        R.lr_schedule(
            kind_name if kind_name in ("cosine", "step", "exponential") else "cosine",
            f"size the decay to the real run ({end_step} steps) instead of ending at step {floor_step}",
            horizon=horizon,
            min_lr=float(f"{peak / 1000:.3g}"),
        )
    ]
    evidence = {
        "peak_lr": peak,
        "floor_lr": final,
        "floor_step": floor_step,
        "run_end_step": end_step,
        "share_at_floor": round(share, 3),
        "step_range": [floor_step, end_step],
        "signal": "lr",
    }
    summary = (
        f"learning rate reached its floor {fmt(final)} (from {fmt(peak)}) at step {floor_step} and stayed there for "
        f"the last {pct(share)} of the run: the schedule's horizon is shorter than the run"
    )
    conf = margin_confidence(share, p.max_floor_share, 0.3, base=0.6)
    return finding(ID, SEVERITY, conf, summary, evidence, rem, onset=floor_step)

def _never_decays(ctx: Context, lr, i_peak: int, kind: str, kind_name: str, end_step: int, p: Params) -> list[Finding]:
    """The config names a decaying schedule but the logged rate is flat from its peak to the end:
    a scheduler never stepped, or one sized for ``far_horizon`` times the run or more."""
    vals, steps = lr.values, lr.steps
    peak = float(vals[i_peak])
    post = vals[i_peak:]
    if post.size < p.min_points or float(post.min()) < float(post.max()) / 1.01:
        return []
    sched = kind_name if kind_name in ("cosine", "step", "exponential") else "cosine"
    evidence = {"configured_schedule": kind, "lr": peak, "step_range": [int(steps[i_peak]), end_step], "signal": "lr"}
    horizon = ctx.num_param("schedule_horizon")
    if horizon and horizon >= p.far_horizon * end_step:
        # stepped, but sized for a run many times longer than this one
        evidence["configured_horizon"] = int(horizon)
        rem = [R.lr_schedule(sched, f"size the decay to the real run ({end_step} steps), not {int(horizon)}", horizon=end_step)]
        summary = (f"the config sizes its {kind} schedule for {int(horizon)} steps but the run ended at step {end_step}: "
                   f"the logged learning rate stays at {fmt(peak)} from step {int(steps[i_peak])} to the end, it never decays")
    else:
        d = np.diff(post)
        if np.all(d <= 0) and np.count_nonzero(d < 0) >= 2:
            # it does fall, a little, step after step: the scheduler is stepped, over a horizon
            # longer than what was logged (a run cut short), and nothing says how long
            return []
        rem = [R.lr_schedule(sched, "the configured decay never happened: step the scheduler", horizon=end_step)]
        summary = f"the config asks for a {kind} schedule but the logged learning rate stays at {fmt(peak)} from step {int(steps[i_peak])} to the end"
    return [finding(ID, SEVERITY, 0.7, summary, evidence, rem, onset=int(steps[i_peak]))]

def _warmup_whole_run(lr, start_step: int, span: int, p: Params) -> Finding | None:
    """The rate is still ramping up (from under half its peak) for ``max_warmup_share`` of the run."""
    vals, steps = lr.values, lr.steps
    i_peak = int(np.argmax(vals))
    peak = float(vals[i_peak])
    rising_until = (float(steps[i_peak]) - start_step) / span
    if vals[0] > 0.5 * peak or rising_until < p.max_warmup_share or np.any(np.diff(vals[: i_peak + 1]) < -1e-12 * peak):
        return None
    warm = max(1, int(0.05 * span))
    evidence = {"peak_lr": peak, "peak_step": int(steps[i_peak]), "warmup_share": round(rising_until, 3), "step_range": [int(steps[0]), int(steps[i_peak])], "signal": "lr"}
    summary = (
        f"the learning rate was still warming up from {fmt(float(vals[0]))} to {fmt(peak)} until step {int(steps[i_peak])}, "
        f"{pct(rising_until)} of the run: the warmup is sized for a much longer run"
    )
    rem = [R.warmup(warm, f"a warmup of about 5% of the run ({warm} steps) instead of {int(steps[i_peak]) - int(steps[0])}")]
    # over half the run is worth knowing; the run was mis-sized when it barely ran at its peak rate
    severity = SEVERITY if rising_until >= p.warn_warmup_share else Severity.INFO
    return finding(ID, severity, margin_confidence(rising_until, p.max_warmup_share, 0.3, base=0.6), summary, evidence, rem, onset=int(steps[0]))


def _stuck_tiny(ctx: Context, lr, end_step: int, p: Params) -> Finding | None:
    """A constant rate at or below ``tiny_lr`` for the whole run: a scheduler or warmup that never
    stepped past its starting value (a rate of 6e-8 learns nothing with any optimizer)."""
    vals, steps = lr.values, lr.steps
    hi, lo = float(np.max(vals)), float(np.min(vals))
    if not (0 < hi <= p.tiny_lr) or lo < hi / 1.01:
        return None
    declared = declared_lr(ctx)
    target = ADAPTIVE_TARGET if declared.family == "adaptive" else SGD_TARGET if declared.family == "sgd" else ADAPTIVE_TARGET
    factor = float(f"{10 ** round(np.log10(target / hi)):.3g}")
    evidence = {"lr": hi, "step_range": [int(steps[0]), end_step], "signal": "lr"}
    summary = (
        f"the learning rate stays at {fmt(hi)} for the whole run (steps {int(steps[0])}-{end_step}): far too small to "
        f"learn with any optimizer — a scheduler or warmup that never stepped?"
    )
    rem = [
        R.check_data("that the scheduler is stepped (once per batch or per epoch, as it was written for) and starts from the intended rate"),
        R.scale_lr(factor, f"bring the rate to the usual range (about {target:g})"),
    ]
    return finding(ID, SEVERITY, 0.8, summary, evidence, rem, onset=int(steps[0]))


def _past_horizon(lr, kind: str, start_step: int, end_step: int, p: Params) -> Finding | None:
    """A cosine that reached ~0 early and then rose smoothly again: its period is shorter than the run."""
    if any(k in kind for k in ("cycl", "restart", "triangular", "sgdr", "one_cycle", "onecycle")):
        return None
    vals, steps = lr.values, lr.steps
    peak = float(np.max(vals))
    span = max(end_step - start_step, 1)
    high = np.nonzero(vals >= 0.5 * peak)[0]
    low = np.nonzero(vals[int(high[0]) :] <= p.zero * peak)[0] if high.size else np.array([], dtype=int)
    if low.size == 0:
        return None  # (a warmup from zero is not a fall to zero)
    i0 = int(high[0]) + int(low[0])
    if (float(steps[i0]) - start_step) / span > p.max_restart_at:
        return None
    later = vals[i0:]
    if float(later.max()) < 0.5 * peak or float(np.max(np.diff(later), initial=0.0)) > peak / 3:
        return None
    floor_step = int(steps[i0])
    rem = [
        R.lr_schedule("cosine", f"set the cosine's horizon (T_max) to the real run ({end_step} steps), not {floor_step - start_step}", horizon=end_step,
                      min_lr=float(f"{peak / 1000:.3g}")),
    ]
    evidence = {"peak_lr": peak, "floor_step": floor_step, "run_end_step": end_step, "form": "past-horizon",
                "step_range": [floor_step, end_step], "signal": "lr"}
    summary = (
        f"the learning rate fell to about zero at step {floor_step} ({pct((floor_step - start_step) / span)} of the run) and then climbed "
        f"back to {fmt(float(later.max()))}: a cosine schedule whose period is shorter than the run kept going past its end"
    )
    return finding(ID, SEVERITY, 0.65, summary, evidence, rem, onset=floor_step)
