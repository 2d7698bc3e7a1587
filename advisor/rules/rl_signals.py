"""What the reinforcement-learning rules share, and the RL branch of ``no-learning``.

An RL agent's reward is noisy (one point per episode in CleanRL, a 100-episode mean in
Stable-Baselines3, a per-period mean in ML-Agents) and is judged on its own scale: levels are
medians over bins of equal step width (:func:`track`), an improvement counts only when it clears
both the curve's noise and a share of its own level.

Policy entropy is read as a positive number: Stable-Baselines3 logs ``train/entropy_loss``, the
negative entropy, and TorchRL ``loss_entropy``, a negative multiple of it; a loss-named stream
whose values are negative is negated (:func:`entropy`). A discrete policy's entropy lies in
[0, ln k] for k actions; a stream that goes clearly negative is a differential entropy
(continuous actions), which has no zero floor, and the entropy rules leave it alone.

RL ``no-learning`` (reached from ``advisor.rules.no_learning`` for runs whose workload is ``rl``,
with that rule's ``min_points``): over at least ``min_points`` reward points, every bin of the
reward stays within ``FLAT_TOL`` of its initial level's magnitude or ``NOISE_K`` times the bins'
noise (whichever is larger) of that level (the median of the first tenth) — a reward whose bins
rose ``RISE_SHARE`` of it or more in a steady trend (Mann-Kendall z of the bins ``RISE_Z`` or more:
a traffic agent's 192 -> 220 over a random policy's offset) learned, and is not flat — while the policy entropy never
falls below ``ENTROPY_KEEP`` of its initial value (a policy still as random as it started; an
initial entropy of ln k says "uniform over k actions"), or the reward is the same in every
point (no episode ever paid anything else: there is nothing to learn from, whatever the entropy
does) or its median is exactly 0 in every step bin with at most ``STRAY_SHARE`` of either half's
points paid (a reward paid to a few stray episodes only: a policy that turns deterministic on it
has learned nothing either). A success-or-nothing reward paid more often than that has bin medians
of 0 whatever its success rate does: its bins are then means (:func:`median_blind`). A reward that only fell —
no bin above its start by more than that tolerance — under an entropy that stayed is the same
finding (the agent never did better than its random start); with no entropy logged, it is reported
at info, as a flat reward is. Otherwise, without an entropy stream, the same flat reward is reported at info (a flat
reward may also be a policy that had already converged). With no reward logged at all, a policy
entropy that began at ln k and never fell below ``ENTROPY_KEEP`` of it is reported at info: a
policy as random as it began learned no preference (a large entropy bonus cannot be ruled out).
Remedies follow the evidence: a reward that never changed at all -> the goal is out of the
policy's reach (``check_data``: shape the reward, a curriculum, exploration); an approximate KL
of ~0 between updates -> the policy is not being updated (its parameters in the optimizer,
``scale_lr`` up when the declared rate is tiny); otherwise the reward pipeline and a larger rate.
Known false positives: a run resumed from a converged checkpoint whose entropy bonus keeps the
policy near uniform; tasks whose reward cannot move in the logged window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.io.tags import tokens
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor
from advisor.signals import Curve, binned_noise, fmt, make_curve, mann_kendall_z, median
from advisor.workload import tag_kind

FLAT_TOL = 0.3  # reward bins within this share of the initial level ...
NOISE_K = 4.0  # ... or this many times the bins' noise count as "at the initial level"
RISE_SHARE, RISE_Z = 0.1, 3.0  # ... unless its bins rose this share of it in a trend of this z
ENTROPY_KEEP = 0.9  # entropy above this share of its start counts as "still at its maximum"
TRACK_BINS = 20
STRAY_SHARE = 0.25  # "a few stray episodes" paid: at most this share of the points
MAX_UNIFORM_K = 32  # the most actions an initial entropy of ln k is read as "uniform over k"
USUAL_LR = 3e-4  # PPO's and Adam's usual rate, the target of a rate that is far too small


@dataclass(frozen=True)
class Track:
    """A stream as medians over bins of equal step width (empty bins dropped)."""

    steps: np.ndarray
    values: np.ndarray
    noise: float  # robust noise of the bin medians

    def at(self, step: float) -> float:
        """The bin median at or before ``step`` (the first bin if none is)."""
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return float(self.values[max(i, 0)])


def track(c: Curve, bins: int = TRACK_BINS, stat=median) -> Track:
    """Medians (``stat``) of ``c`` over ``bins`` equal step-width bins: an agent logs more points
    when its episodes get short (a collapsed policy), so equal-count bins would stretch those
    stretches."""
    steps = c.steps.astype(float)
    if c.n < 2 or c.span <= 0:
        return Track(steps, c.values.astype(float), 0.0)
    edges = np.linspace(steps[0], steps[-1], bins + 1)
    idx = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, bins - 1)
    out_s, out_v = [], []
    for b in range(bins):
        m = idx == b
        if m.any():
            out_s.append(float(median(steps[m])))
            out_v.append(float(stat(c.values[m])))
    vals = np.array(out_v)
    return Track(np.array(out_s), vals, binned_noise(vals))


def curve(ctx: Context, role: Role) -> Curve | None:
    s = ctx.series(role)
    return make_curve(s.steps, s.values) if s is not None and len(s) else None


def reward(ctx: Context, min_points: int) -> Curve | None:
    """The reward curve when it has ``min_points`` points and never went non-finite (non-finite
    values are the non-finite rule's)."""
    c = curve(ctx, Role.REWARD)
    return c if c is not None and c.n >= min_points and not c.cut_short else None


_EVAL = {"eval", "evaluation", "test"}


def eval_reward(ctx: Context, min_points: int) -> tuple[str, Curve] | None:
    """(tag, curve) of the evaluation reward (``eval/mean_reward``, ``evaluation/episode_reward``:
    the greedy policy's own level, free of exploration noise), the longest such stream with
    ``min_points`` points, all finite; None when not logged."""
    best = None
    for s in ctx.run.series.values():
        toks = set(tokens(s.tag)) | ({s.split} if s.split else set())
        if len(s) >= min_points and toks & _EVAL and tag_kind(s.tag) == "reward" and np.all(np.isfinite(s.values)):
            if best is None or len(s) > len(best):
                best = s
    return (best.tag, make_curve(best.steps, best.values)) if best is not None else None


def entropy(ctx: Context, min_points: int) -> tuple[Curve, bool] | None:
    """(entropy as a positive curve, whether the logged stream was negated), or None when absent,
    short, non-finite or a differential entropy."""
    s = ctx.series(Role.ENTROPY)
    if s is None or len(s) < min_points:
        return None
    vals = s.values
    finite = vals[np.isfinite(vals)]
    if finite.size == 0 or finite.size < len(vals):
        return None
    # an entropy loss (-entropy, or -coef * entropy) is negative where it is large; a stream that
    # collapsed to ~0 has a median of either sign, so the largest magnitude decides
    negated = bool(finite[int(np.argmax(np.abs(finite)))] < 0)
    c = make_curve(s.steps, -vals if negated else vals)
    lo, h0 = float(np.min(c.values)), c.start()
    if h0 <= 0 or lo < -0.05 * h0:
        return None  # a differential entropy (continuous actions) has no zero floor
    return c, negated


def uniform_over(h0: float) -> int | None:
    """k when ``h0`` is ln k within 2% (a uniform policy over k actions), and closer to it than a
    quarter of the way to ln(k+1), for at most ``MAX_UNIFORM_K`` actions — else None. Past a dozen
    actions every entropy is within 2% of some ln k, and past a few dozen within a hair of one by
    chance (a Gaussian policy's 6.219 is ln 502 to 4 digits, not "uniform over 502 actions")."""
    if not (h0 > 0.5 and math.isfinite(h0)):
        return None
    k = int(round(math.exp(h0)))
    return k if 2 <= k <= MAX_UNIFORM_K and abs(h0 - math.log(k)) <= min(0.02 * math.log(k), 0.25 * math.log1p(1 / k)) else None


def start_level(c: Curve) -> float:
    """The initial level: median of the points in the first tenth of the span (at least one)."""
    head = c.values[c.steps <= c.steps[0] + 0.1 * c.span] if c.span > 0 else c.values[:1]
    return median(head if head.size else c.values[:1])


def reward_scale(c: Curve, r0: float) -> float:
    """The reward's own scale: its initial magnitude or its early spread, whichever is larger."""
    early = c.values[c.steps <= c.steps[0] + 0.2 * c.span] if c.span > 0 else c.values
    spread = float(np.percentile(early, 75) - np.percentile(early, 25)) if early.size >= 4 else 0.0
    return max(abs(r0), spread, 1e-12)


def declared(ctx: Context, *names: str) -> float | None:
    """The first of ``names`` the run's hyperparameters declare as a number."""
    for n in names:
        v = ctx.num_param(n)
        if v is not None and math.isfinite(v):
            return v
    return None


def unpaid(c: Curve) -> str | None:
    """``"every"`` when the reward is one number in every point (no episode paid anything else),
    ``"almost every"`` when the median of every one of (at least half of) the ``TRACK_BINS`` bins is
    exactly 0 (the typical episode is paid nothing; a few stray ones aside) — unless it is a
    success-or-nothing reward paid often (:func:`median_blind`) —, else None: nothing to learn from. A constant non-zero median is a payoff the policy may have settled for (a near,
    small reward: entropy-collapse's case), not an absence of reward."""
    if float(np.ptp(c.values)) == 0.0:
        return "every"
    tr = track(c)
    if tr.values.size >= TRACK_BINS // 2 and not np.any(tr.values) and not median_blind(c):
        return "almost every"
    return None


def _paid_share(c: Curve) -> float:
    """The larger share of paid (non-zero) points of the run's two halves (by step): a success rate
    that rose shows in the later half."""
    mid = float(c.steps[0]) + 0.5 * c.span
    halves = [h for h in (c.values[c.steps <= mid], c.values[c.steps > mid]) if h.size]
    return max(float(np.mean(h != 0)) for h in halves)


def median_blind(c: Curve) -> bool:
    """Every bin's median is exactly 0 while more than ``STRAY_SHARE`` of either half's points are
    paid, every payment positive: a success-or-nothing reward (a third of the episodes reaching the
    goal) whose medians stay 0 whatever its success rate does — its level is read on bin means
    instead. (Small payments of both signs around 0 are a reward that nets nothing, not a success.)"""
    tr = track(c)
    if tr.values.size < TRACK_BINS // 2 or np.any(tr.values) or np.any(c.values < 0):
        return False
    return _paid_share(c) > STRAY_SHARE


# the fewest points a "still rising at the end" window holds: eight in order give a trend z of 3.3
LATE_MIN_POINTS = 8


def still_rising(c: Curve, min_share: float) -> tuple[float, float, float, Track] | None:
    """(share of the whole gain its last quarter brought, that quarter's Mann-Kendall z, where it
    starts, the track) when the reward is still rising at the end: the last quarter's raw points
    trend up (z above 2.6), bring ``min_share`` of the gain or more and still climb in its second
    half (a higher median, a trend z above 1), and the last bin sits at the best within the bins'
    noise. A reward logged a few dozen times has five points in its last quarter, whose trend z
    cannot reach 2.6 even in order: the window is then its last ``LATE_MIN_POINTS`` points. None
    otherwise."""
    if c.span <= 0:
        return None
    tr = track(c)
    gain = float(np.max(tr.values)) - float(tr.values[0])
    late_start = float(c.steps[0]) + 0.75 * c.span
    if np.count_nonzero(c.steps >= late_start) < LATE_MIN_POINTS <= c.n:
        late_start = float(c.steps[-LATE_MIN_POINTS])
    late = c.values[c.steps >= late_start]
    if gain <= 0 or gain <= 3.0 * tr.noise or late.size < 5 or float(tr.values[-1]) < float(np.max(tr.values)) - tr.noise:
        return None
    z = mann_kendall_z(late)
    share = (float(median(late[-max(2, late.size // 4) :])) - tr.at(late_start)) / gain
    # still rising in the quarter's second half too: a reward that reached its ceiling early in the
    # quarter (CartPole's 500) and sat there has a trend over the quarter, not at the end
    h1, h2 = late[: late.size // 2], late[late.size // 2 :]
    on = float(median(h2)) > float(median(h1)) and mann_kendall_z(h2) > 1.0
    return (share, z, late_start, tr) if z >= 2.6 and share >= min_share and on else None


def rl_no_learning(ctx: Context, p) -> list[Finding]:  # p: advisor.rules.no_learning.Params
    """The RL branch of ``no-learning`` (see the module docstring)."""
    c = reward(ctx, p.min_points)
    if c is None and curve(ctx, Role.REWARD) is None:
        return _uniform_without_reward(ctx, p)
    if c is None or still_rising(c, 0.05) is not None:
        return []  # a reward climbing to its best at the end is learning, however small the climb
    blind = median_blind(c)
    tr = track(c, stat=np.mean) if blind else track(c)
    r0 = float(tr.values[0]) if blind else start_level(c)
    tol = max(FLAT_TOL * abs(r0), NOISE_K * tr.noise)
    moved = float(np.max(np.abs(tr.values - r0)))
    ent = entropy(ctx, 3)
    constant = unpaid(c) is not None
    h = track(ent[0]) if ent is not None else None
    kept = h is not None and float(np.min(h.values)) >= ENTROPY_KEEP * ent[0].start()
    rise = float(np.max(tr.values - r0))  # the highest bin over the start
    # A reward that only fell — never a bin above its start by more than the tolerance — under a
    # policy as random as it began learned nothing either (PPO on HalfCheetah: 0.02 -> -0.18).
    # (without an entropy stream, at info like a flat reward: an epsilon-greedy DQN logs none)
    fell_only = moved > tol and rise <= tol and (kept or h is None)
    if moved > tol and not fell_only:
        return []
    if rise > RISE_SHARE * abs(r0) and mann_kendall_z(tr.values) >= RISE_Z:
        return []  # a reward that climbed in a steady trend above a large offset learned, however small against it
    if h is not None and not kept and not constant:
        return []  # the policy changed: whatever the reward did, this is not no-learning
    evidence = {"initial_reward": r0, "final_reward": float(tr.values[-1]), "max_move": moved, "tolerance": tol,
                "step_range": [int(c.steps[0]), int(c.steps[-1])], "signal": "reward"}
    ent_txt = ("entropy not logged (an epsilon-greedy agent logs none): the greedy policy earned less than its random start"
               if fell_only else "entropy not logged: a flat reward may also be a policy that had already converged")
    if unpaid(c) == "every":
        ent_txt = f"not one episode paid anything but {fmt(r0)}, so there was no signal to learn from"
    elif constant:
        share = float(np.mean(c.values == r0))
        ent_txt = (f"the reward's median was exactly {fmt(r0)} in every bin of the run ({100 * share:.0f}% of the points), "
                   "so there was almost no signal to learn from")
    elif ent is not None and h is not None:
        h0 = ent[0].start()
        k = uniform_over(h0)
        evidence.update(initial_entropy=h0, min_entropy=float(np.min(h.values)), uniform_actions=k)
        ent_txt = f"policy entropy stayed at {fmt(float(np.min(h.values)))}-{fmt(h0)}" + (f" = ln({k}), a uniform policy over {k} actions" if k else " (its initial value)")
    if fell_only:
        evidence["max_rise"] = rise
        summary = (f"reward never rose above its initial level: {fmt(r0)} -> {fmt(float(tr.values[-1]))} (no bin more than "
                   f"{fmt(tol)} above it; it fell by up to {fmt(moved)} over steps {int(c.steps[0])}-{int(c.steps[-1])}); {ent_txt}")
    else:
        summary = (f"reward stayed at its initial level for the whole run: {fmt(r0)} -> {fmt(float(tr.values[-1]))} "
                   f"(no bin moved more than {fmt(moved)} over steps {int(c.steps[0])}-{int(c.steps[-1])}); {ent_txt}")
    if blind:
        evidence["paid_share"] = round(float(np.mean(c.values != 0)), 3)
        summary += (f"; read on bin means: the median episode was paid 0 in every bin, "
                    f"{100 * evidence['paid_share']:.0f}% of the episodes were paid")
    sure = ent is not None or constant
    severity = Severity.CRITICAL if sure else Severity.INFO
    off = max(rise, 0.0) if fell_only else moved  # how far it got from "nothing learned"
    conf = margin_confidence(1 - off / tol if tol > 0 else 1.0, 0.0, 1.0, base=0.7 if sure else 0.4)
    return [finding("no-learning", severity, conf, summary, evidence, _no_learning_remedies(ctx, c), onset=int(c.steps[0]))]


def _uniform_without_reward(ctx: Context, p) -> list[Finding]:
    """No reward logged at all (Stable-Baselines3 without a Monitor wrapper), while the policy
    entropy began at ln k — uniform over k actions — and stayed at ``ENTROPY_KEEP`` of it or more
    over ``min_points`` updates: a policy as random as it began has learned no preference. Info:
    without the reward, a policy that learned under a large entropy bonus cannot be ruled out."""
    ent = entropy(ctx, p.min_points)
    if ent is None:
        return []
    h0 = ent[0].start()
    k = uniform_over(h0)
    tv = track(ent[0]).values  # bin medians: the level, not one update's value
    lo = float(np.min(tv))
    if k is None or lo < ENTROPY_KEEP * h0:
        return []
    e = ent[0]
    evidence = {"initial_entropy": h0, "min_entropy": lo, "uniform_actions": k, "reward_logged": False,
                "step_range": [int(e.steps[0]), int(e.steps[-1])], "signal": "entropy"}
    summary = (f"no reward is logged, and the policy stayed as random as it began: its entropy went {fmt(h0)} -> "
               f"{fmt(float(tv[-1]))} (its bins never below {fmt(lo)}; ln({k}) is a uniform policy over {k} actions) over "
               f"{e.n} updates to step {int(e.steps[-1])}: it learned no preference between its actions")
    rem = [R.check_data("log the episode reward (Stable-Baselines3: wrap the environment in Monitor) to confirm, and that the "
                        "reward reaches the agent at a scale its value head can fit")] + _no_learning_remedies(ctx, None)
    return [finding("no-learning", Severity.INFO, 0.5, summary, evidence, rem, onset=int(e.steps[0]))]


def _no_learning_remedies(ctx: Context, c: Curve | None) -> list:
    rem = []
    how = unpaid(c) if c is not None else None
    if how is not None:
        rem.append(R.check_data(f"the reward is {fmt(median(c.values))} in {how} episode: the agent never reaches a reward a random policy could find — "
                                "shape the reward, start with an easier task (curriculum), or add exploration (intrinsic reward)"))
    kl = curve(ctx, Role.APPROX_KL)
    lr = declared(ctx, "lr")
    if kl is not None and kl.n >= 3 and float(np.max(np.abs(kl.values))) < 1e-6:
        rem.append(R.check_data("the approximate KL between updates stays below 1e-6: the policy is not being updated — "
                                "check that its parameters are in the optimizer and receive gradients"))
    if lr is not None and 0 < lr < 1e-5:
        rem.append(R.scale_lr(nice_factor(USUAL_LR / lr, lo=10.0, hi=1e4), f"the declared learning rate {fmt(lr)} is far below the usual {USUAL_LR:g}"))
    if not rem:
        rem = [R.check_data("that the reward reaches the agent (wrappers, scaling, the logged tag) and that the policy's parameters are optimised"),
               R.scale_lr(3.0, "the policy barely moved: a larger step, if the rate is at the low end")]
    return rem
