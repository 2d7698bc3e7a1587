"""Both curves are still falling at the end: training stopped too early.

Why it matters: the run ended while it was still getting better; more steps (with the
schedule stretched to match) would likely reach a lower loss.

Signals: train loss (and val loss when logged).

Trigger: validation, when logged with at least ``min_evals`` points, is still falling over the
train loss's last quarter (z below ``val_z``) or at its minimum at the end having fallen over 2% across that quarter, and either the
train loss falls significantly over its last quarter (Mann-Kendall z below -2.6; a window of at
most ``short_late`` points, where z reaches -2.6 only in perfect order, by its exact Kendall p at
``short_late_p``) with at least
``min_late_drop`` of its total fall there — or ``min_late_rel`` of the late window's own level
(its first third's median against its last third's: a loss whose untrained start was ten times
its later level still falls a sixth of that level late, however small a share of the whole fall
that is) —, or — noisy per-step train losses hide a real trend
— it falls there less significantly (z below -1.5, or with any downward tendency when that quarter
brought ``min_late_drop`` of its fall) while validation is at its minimum at the
very last evaluation and dropped by at least ``val_last_drop`` of its total fall since the one
before, or its last evaluations (at least 4) fell as a run (exact Kendall p at most ``val_run_p``; Mann-Kendall's p past 30 evaluations)
by at least ``val_run_drop`` of their level ("both falling"). With the train loss logged one minibatch
a point (its trend lost in the noise: its point noise ``noisy_train`` of its level or more), validation falling in order over all its evaluations
(``val_order_evals`` at least, exact p at most ``val_order_p``) to its lowest at the last, its
last quarter still ``val_order_drop`` of its level down, is enough beside a train loss that only
leans down (a lower late level, a negative trend z). A learning rate annealed to near
zero at the end does not silence it: readers of such runs (a 20-epoch YOLOv5 fine-tune whose every
val loss was lowest at its last epoch) call them stopped too early, and the remedy stretches the
schedule with the steps.

Needs at least ``min_points`` points — or, with fewer (3 or more, and fewer than the evaluations: a
loss logged every 500 steps), the
validation's last ``sparse_val_evals`` evaluations (half of them when more) falling in order (exact
Kendall p at ``short_late_p``) to its lowest at the end, with ``min_late_drop`` of its whole fall
in its second half, and the train loss's last point its lowest.

RL runs: the reward, not a loss — its last quarter (its last 8 points when the quarter holds
fewer: five in order cannot reach the test) trends up (Mann-Kendall z above 2.6), brought
``min_late_drop`` of its whole gain or more, and ends at its best within its bins' noise.

Remedies: ``train_longer`` (x2), with any decay schedule stretched to the new length.

Known false positives: cosine or linear schedules whose annealing phase produces a final
drop that a longer run would not improve on (the info then costs a longer run to find out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.rl_signals import reward, still_rising
from advisor.signals import fmt, mann_kendall_z, median, pct, rising_p, rising_p_exact

ID = "still-improving"
SEVERITY = Severity.INFO
SIGNALS = ("train loss", "val loss (optional)")
WORKLOADS = ("supervised", "unknown", "rl")  # rl: the reward, never the losses


@dataclass(frozen=True)
class Params:
    min_late_drop: float = 0.05
    min_late_rel: float = 0.1  # ... or the late window fell this share of its own level
    val_z: float = -1.0
    val_last_drop: float = 0.05
    min_evals: int = 4
    min_points: int = 10
    val_run_p: float = 0.05
    val_run_drop: float = 0.05
    short_late: int = 10  # a late window this short is judged by its exact Kendall p ...
    short_late_p: float = 0.01  # ... at this level
    sparse_val_evals: int = 6  # with a train loss under min_points: validation's last evaluations in order
    val_order_evals: int = 6  # validation falling in order over the whole run (at least this many) ...
    val_order_p: float = 0.001  # ... at this exact p ...
    val_order_drop: float = 0.02  # ... its last quarter still this share of its level down
    noisy_train: float = 0.05  # ... beside a train loss whose point noise is at least this share of its level


def _late_rel_drop(late_bins: np.ndarray) -> float:
    """How far the late window's level fell, as a share of its own level: the median of its first
    third against that of its last third (0 for fewer than 6 bins)."""
    if late_bins.size < 6:
        return 0.0
    third = late_bins.size // 3
    a, b = median(late_bins[:third]), median(late_bins[-third:])
    return (a - b) / abs(a) if a else 0.0


def _val_falling_steadily(vals: np.ndarray, p: Params) -> bool:
    """The last evaluations (at least 4, a quarter when there are more) fall as a run — exact
    Kendall test at ``val_run_p``, Mann-Kendall's z past 30 of them — by at least ``val_run_drop`` of their level: evaluations on a
    whole val set are far less noisy than per-batch train losses, so a steady run of them still
    going down is the clearer sign that the model was still improving."""
    k = max(4, vals.size // 4)
    if vals.size < k:
        return False
    tail = vals[-k:]
    return rising_p(-tail) <= p.val_run_p and float(tail[0] - tail[-1]) >= p.val_run_drop * abs(float(tail[0]))


def _few_train_points(ctx: Context, p: Params) -> list[Finding]:
    """A train loss logged too rarely to judge its own trend (3 to ``min_points`` points, fewer
    than the evaluations: a Hugging Face fine-tune logging every 500 steps) beside a validation that says it: its last
    ``sparse_val_evals`` evaluations or half of them fall in order (exact Kendall p at most
    ``short_late_p``) to its lowest at the very end, its second half brought ``min_late_drop`` of
    its whole fall, and the train loss's last point is its lowest."""
    t, v = ctx.train, ctx.val
    # validation logged more often than the train loss: it, not a short run, is why the train
    # loss is too sparse (a run of six epochs logging both per epoch is judged by the usual test)
    if t is None or v is None or not 3 <= t.n < min(p.min_points, v.n) or t.cut_short or v.cut_short:
        return []
    k = max(p.sparse_val_evals, v.n // 2)
    if v.n < k or float(t.values[-1]) > float(np.min(t.values)) or int(np.argmin(v.values)) != v.n - 1:
        return []
    tail, late = v.values[-k:], v.values[v.n // 2 :]
    fall = float(v.values[0] - v.values[-1])
    if fall <= 0 or rising_p(-tail) > p.short_late_p or float(late[0] - late[-1]) < p.min_late_drop * fall:
        return []
    share = float(late[0] - late[-1]) / fall
    evidence = {"late_window_start": int(v.steps[-k]), "late_fraction_of_fall": round(share, 3), "evaluations": k,
                "train_points": t.n, "final_loss": float(v.values[-1]), "step_range": [int(v.steps[-k]), int(v.steps[-1])], "signal": "val_loss"}
    rem = [R.train_longer(2.0, "validation was still falling when training stopped; stretch any decay schedule to match")]
    summary = (f"validation was still falling at the end: its last {k} evaluations fell in order, {fmt(float(tail[0]))} -> "
               f"{fmt(float(tail[-1]))}, lowest at the last ({pct(share)} of its whole fall in its second half); the train loss, logged only "
               f"{t.n} times, ends at its lowest too")
    return [finding(ID, SEVERITY, margin_confidence(share, p.min_late_drop, 0.1, base=0.5), summary, evidence, rem, onset=int(v.steps[-k]))]


def _reward_rising(ctx: Context, p: Params) -> list[Finding]:
    """RL: the reward still rising at the end (:func:`advisor.rules.rl_signals.still_rising`). A
    policy that converged (a Reacher at -4.2 after -61) adds a hair in its last quarter; one cut
    off mid-climb adds a third of its gain there."""
    c = reward(ctx, p.min_points)
    got = still_rising(c, p.min_late_drop) if c is not None else None
    if got is None:
        return []
    share, z, late_start, tr = got
    evidence = {"late_window_start": int(late_start), "late_fraction_of_gain": round(share, 3), "late_trend_z": round(z, 2),
                "final_reward": float(tr.values[-1]), "step_range": [int(late_start), int(c.steps[-1])], "signal": "reward"}
    rem = [R.train_longer(2.0, "the reward was still rising when training stopped; stretch any decay schedule to match")]
    summary = (f"reward was still rising at the end: {pct(share)} of its whole gain came after step {int(late_start)} "
               f"(trend z={z:.1f}), to {fmt(float(tr.values[-1]))}, its best")
    return [finding(ID, SEVERITY, margin_confidence(share, p.min_late_drop, 0.1, base=0.5), summary, evidence, rem, onset=int(late_start))]


def _val_in_order(vals: np.ndarray, p: Params) -> bool:
    """Every evaluation (``val_order_evals`` or more) lower than the last, to its lowest at the end,
    the last quarter of them still ``val_order_drop`` of the level down: no noise makes a whole val
    set fall like that — it speaks for a train loss logged one minibatch a point, whose trend the
    noise hides."""
    k = max(4, vals.size // 4)
    return (
        vals.size >= p.val_order_evals and rising_p(-vals) <= p.val_order_p and int(np.argmin(vals)) == vals.size - 1
        and float(vals[-k] - vals[-1]) >= p.val_order_drop * abs(float(vals[-k]))
    )


def _late_text(sh, rel: float, p: Params) -> str:
    """How much the late window fell: its share of the whole fall — or, when the start was far
    above the rest (an untrained model's first loss) and that share says little, its fall against
    its own level ``rel``."""
    if sh.late_drop >= p.min_late_drop or rel <= sh.late_drop:
        return f"{pct(sh.late_drop)} of its whole fall came after step {int(sh.late_start)}"
    return f"it fell {pct(rel)} of its own level after step {int(sh.late_start)}, {pct(sh.late_drop)} of its whole fall"


def detect(ctx: Context, p: Params) -> list[Finding]:
    if ctx.workload == "rl":
        return _reward_rising(ctx, p)
    got = ctx.finite_train(p.min_points)
    if got is None:
        return _few_train_points(ctx, p)
    c, sh = got
    if sh.progress <= 0:
        return []
    # a short late window (six epochs) reaches z -2.6 only in perfect order: there the exact
    # Kendall p of its fall, at the same 1% as a long window's z of -2.33, stands in
    late_bins = c.bvals[c.bsteps >= sh.late_start]
    falling = sh.z_late < -2.6 or (late_bins.size <= p.short_late and rising_p_exact(-late_bins) <= p.short_late_p)
    train_strong = falling and (sh.late_drop >= p.min_late_drop or _late_rel_drop(late_bins) >= p.min_late_rel)
    v = ctx.val
    val_txt = val_core = ""
    val_strong = val_in_order = False
    if v is not None and v.n >= p.min_evals:
        if v.cut_short:
            return []
        late = v.values[v.steps >= sh.late_start]
        if late.size < 3:
            late = v.values[-max(3, v.n // 4) :]
        zv = mann_kendall_z(late)
        at_min = float(np.min(v.values)) >= float(np.min(late)) - 1e-12 and int(np.argmin(v.values)) >= v.n - 2
        third = max(1, late.size // 3)
        a, b = median(late[:third]), median(late[-third:])  # levels, not single noisy points
        # a flat validation that happens to end on its lowest point is not "still improving"
        if not (zv < p.val_z or (at_min and a - b > 0.02 * abs(a))):
            return []
        # Validation at its minimum at the very end, and still dropping steeply there.
        fall = float(v.values[0] - np.min(v.values))
        last_drop = float(v.values[-2] - v.values[-1]) if v.n >= 2 else 0.0
        val_strong = int(np.argmin(v.values)) == v.n - 1 and fall > 0 and (last_drop >= p.val_last_drop * fall or _val_falling_steadily(v.values, p))
        # or a late trend no noise makes (z under -2.6 over many evaluations) down to a minimum in
        # the last tenth of them, that brought ``min_late_drop`` of validation's whole fall (a
        # converged curve creeping 0.6% of it is not): a summed loss whose flat term hides the
        # falling one in train
        val_strong = val_strong or (
            zv < -2.6 and late.size >= 10 and int(np.argmin(v.values)) >= v.n - max(2, v.n // 10) and fall > 0 and a - b >= p.min_late_drop * fall
        )
        val_in_order = _val_in_order(v.values, p)
        val_core = (
            f"still falling ({fmt(a)} -> {fmt(b)} over its last {late.size} evaluations)"
            if b < a
            else f"at its lowest at the end ({fmt(float(np.min(v.values)))})"
        )
        val_txt = f"; validation is {val_core.replace('still falling', 'still falling too', 1)}"
    # Both falling: a significant train trend, or a weaker one with validation still dropping fast.
    leans = sh.late_drop > 0 and sh.z_late < 0
    if not (train_strong or (val_strong and (sh.z_late < -1.5 or sh.late_drop >= p.min_late_drop) and leans) or (val_in_order and c.point_bins and sh.rel_noise > p.noisy_train and leans)):
        return []
    evidence = {
        "late_window_start": int(sh.late_start),
        "late_fraction_of_fall": round(sh.late_drop, 3),
        "late_trend_z": round(sh.z_late, 2),
        "final_loss": sh.vend,
        "step_range": [int(sh.late_start), int(c.steps[-1])],
        "signal": "train_loss",
    }
    rem = [R.train_longer(2.0, "the loss was still falling when training stopped; stretch any decay schedule to match")]
    rel = _late_rel_drop(late_bins)
    late_txt = _late_text(sh, rel, p)
    evidence["late_fraction_of_level"] = round(rel, 3)
    summary = (
        f"train loss was still falling at the end: {late_txt} (trend z={sh.z_late:.1f}){val_txt}"
    ) if train_strong else (
        # the evidence is validation's: the train loss only leans down in its scatter
        f"validation is {val_core} and the train loss leans down with it ({late_txt}; trend z={sh.z_late:.1f}): "
        "the run ended before it settled"
    )
    conf = margin_confidence(sh.late_drop, p.min_late_drop, 0.1, base=0.5)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(sh.late_start))]
