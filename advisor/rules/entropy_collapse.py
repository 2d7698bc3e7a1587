"""Policy entropy falls to near zero early while the reward stays low: premature convergence.

Why it matters: a policy whose entropy is ~0 picks the same action every time; it stops
exploring, its gradient vanishes, and whatever it settled on is what it keeps. When that happens
before the reward has improved, the agent has committed to a poor behaviour (the near, small
reward; "always push left") and more training will not get it out.

Signals: policy entropy (``train/entropy_loss`` of Stable-Baselines3 is read negated,
``Policy/Entropy``, ``losses/entropy``, RLlib's ``entropy``); the reward for the severity;
approximate KL, value loss and the declared entropy coefficient for the remedies. RL runs only.

Trigger: over at least ``min_points`` entropy points of a discrete policy (a stream that goes
clearly negative is a differential entropy and is skipped), the entropy's step-binned median
falls to ``floor`` of its initial value or below within the first ``early`` of the run and its
median after that point stays under twice ``floor`` of the initial value (it does not come back).
A collapse later than ``early`` counts only when the reward never rose in any bin of the run
(more than ``low_gain`` of its scale: nothing was learned, so it is premature whenever it comes),
or when it is total (under ``extreme`` of the initial entropy) and costs the agent (the reward
after it is below its best before, or the reward stream ends at the collapse while the entropy
goes on for two more points: no episode completes any more) — a warning. Severity warning when the reward never rose more than ``low_gain`` of its own scale (the larger
of its initial magnitude and early spread) above its initial level before the collapse and its
median after the collapse is no higher either: the policy committed before it learned anything
(premature convergence). Info otherwise: a reward that rose first and stays up may be a policy
that converged (if it is below what the task allows, the same remedies apply); one that rose
first and fell with the entropy is ``reward-collapse``'s finding. Warning also when no reward is
logged (the collapse within the first ``early`` is itself the alarm).

Remedies: ``entropy_coef`` up (factor 10, or 5 when the declared coefficient is already 0.01 or
more; a coefficient of 0 is said to need setting, about 0.01); ``scale_lr`` 0.1 when the KL between
updates was large (over ``kl_high``) around the collapse, else 0.3 — or, first, down to about
3e-4 when the learning rate logged up to the collapse (else declared) is ``lr_absurd`` or more
(the cause: an ML-Agents run at lr 1.0 turns deterministic on its first update); when the value loss is far
larger than the squared reward (a reward scale far from 1, advantages not normalised),
``check_data`` to normalise rewards and advantages.

Known false positives: tasks whose optimum is deterministic and reached quickly with a small
reward gain; an entropy logged after a schedule that anneals the policy's temperature on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor
from advisor.rules.rl_signals import USUAL_LR, curve, declared, entropy, reward, reward_scale, track
from advisor.signals import fmt, median

ID = "entropy-collapse"
SEVERITY = Severity.WARNING
SIGNALS = ("policy entropy", "reward (for the severity)")
WORKLOADS = ("rl",)


@dataclass(frozen=True)
class Params:
    floor: float = 0.05  # share of the initial entropy that counts as ~0
    early: float = 0.5  # the collapse must come within this share of the run
    low_gain: float = 0.15  # reward rise (share of its scale) under which the reward "stayed low"
    kl_high: float = 0.05
    lr_absurd: float = 0.1  # a learning rate at or above this is the cause (Adam/PPO use ~3e-4)
    min_points: int = 8
    extreme: float = 1e-3  # share of the initial entropy that is numerically deterministic


def detect(ctx: Context, p: Params) -> list[Finding]:
    ent = entropy(ctx, p.min_points)
    if ent is None:
        return []
    c, negated = ent
    h0 = c.start()
    h = track(c)
    below = np.nonzero(h.values <= p.floor * h0)[0]
    if below.size == 0:
        return []
    at = float(h.steps[below[0]])
    frac = (at - float(c.steps[0])) / c.span if c.span > 0 else 1.0
    after = c.values[c.steps >= at]
    if median(after) > 2 * p.floor * h0:
        return []
    late = frac > p.early
    degenerate = late and _degenerate(ctx, p, at, h0, median(after))
    if late and not (degenerate or _never_rose(ctx, p)):
        return []
    evidence = {"initial_entropy": h0, "entropy_after": median(after), "collapse_step": int(at), "collapse_fraction": round(frac, 3),
                "entropy_tag": ctx.tag(Role.ENTROPY), "negated": negated, "step_range": [int(at), int(c.steps[-1])], "signal": "entropy"}
    severity, conf, reward_txt = _judge_reward(ctx, p, at, evidence)
    if degenerate:
        evidence["late_degenerate"] = True
        severity, conf = Severity.WARNING, max(conf, 0.55)
        reward_txt += "; the collapse came late but is total, and the agent stopped earning what it had"
    rem = _remedies(ctx, p, at)
    summary = (f"policy entropy fell from {fmt(h0)} to {fmt(median(after))} by step {int(at)} ({100 * frac:.0f}% into the run) "
               f"and stayed there: the policy turned deterministic; {reward_txt}")
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(at))]


def _degenerate(ctx: Context, p: Params, at: float, h0: float, h_after: float) -> bool:
    """A late collapse that is total (numerically deterministic) and costs the agent: its reward
    after is below its best before, or episodes stop completing (the reward stream ends early)."""
    if h_after > p.extreme * h0:
        return False
    r = reward(ctx, 2)
    ent = ctx.series(Role.ENTROPY)
    if r is None or ent is None:
        return False
    if float(r.steps[-1]) <= at and int(np.count_nonzero(ent.steps > at)) >= 2:
        return True  # no episode ends after the collapse (the entropy goes on): a policy stuck doing one thing
    tr = track(r)
    before, after = tr.values[tr.steps <= at], r.values[r.steps >= at]
    if before.size == 0 or after.size == 0:
        return False
    scale = reward_scale(r, float(tr.values[0]))
    return (float(np.max(before)) - median(after)) / scale > p.low_gain


def _never_rose(ctx: Context, p: Params) -> bool:
    """The reward never rose above its initial level by more than ``low_gain`` of its scale, in
    any bin of the run: a collapse at any time is then premature convergence (nothing was learned)."""
    r = reward(ctx, p.min_points)
    if r is None:
        return False
    tr = track(r)
    r0 = float(tr.values[0])
    return (float(np.max(tr.values)) - r0) / reward_scale(r, r0) <= p.low_gain


def _judge_reward(ctx: Context, p: Params, at: float, evidence: dict) -> tuple[Severity, float, str]:
    r = reward(ctx, 3)
    if r is None:
        return Severity.WARNING, 0.5, "the reward is not logged (or has under 3 points), so whether it was premature cannot be told"
    tr = track(r)
    r0 = float(tr.values[0])
    scale = reward_scale(r, r0)
    before = tr.values[tr.steps <= at]
    best_before = float(np.max(before)) if before.size else r0
    after = r.values[r.steps >= at]
    r_after = median(after) if after.size else float(tr.values[-1])
    rose, stays = (best_before - r0) / scale, (r_after - r0) / scale
    evidence.update(initial_reward=r0, best_reward_before=best_before, reward_after=r_after, reward_gain_before=round(rose, 3))
    if rose <= p.low_gain and stays <= p.low_gain:
        conf = margin_confidence(p.low_gain - max(rose, stays), 0.0, p.low_gain, base=0.6)
        return Severity.WARNING, conf, (f"the reward stayed low ({fmt(r0)} at the start, {fmt(best_before)} at best before, "
                                        f"{fmt(r_after)} after): premature convergence")
    if rose > p.low_gain and stays <= p.low_gain:
        return Severity.INFO, 0.4, f"the reward had risen to {fmt(best_before)} and fell back to {fmt(r_after)} with it"
    return Severity.INFO, 0.4, (f"the reward rose ({fmt(r0)} -> {fmt(r_after)}), so it may have converged; if that is below "
                                "what the task allows, it stopped exploring too soon")


def _rate_at(ctx: Context, at: float) -> float | None:
    """The learning rate in force at the collapse: the logged one at or before it, else the declared one."""
    lr = curve(ctx, Role.LR)
    if lr is not None and lr.n and np.any(lr.steps <= at):
        return float(np.max(lr.values[lr.steps <= at]))
    return declared(ctx, "lr", "learning_rate")


def _remedies(ctx: Context, p: Params, at: float) -> list[Remedy]:
    rem = _entropy_remedies(ctx)
    rate = _rate_at(ctx, at)
    kl = curve(ctx, Role.APPROX_KL)
    kl_at = float(np.max(kl.values[kl.steps <= at])) if kl is not None and np.any(kl.steps <= at) else None
    if rate is not None and rate >= p.lr_absurd:
        # a rate no policy-gradient optimiser survives: that is the cause, and its remedy comes first
        rem.insert(0, R.scale_lr(nice_factor(USUAL_LR / rate, lo=1e-4, hi=0.1), f"the learning rate was {fmt(rate)} up to the collapse, "
                                 f"far above the usual {USUAL_LR:g} of PPO and Adam: the first updates made the policy deterministic"))
    elif kl_at is not None and kl_at > p.kl_high:
        rem.append(R.scale_lr(0.1, f"the KL between updates reached {fmt(kl_at)} before the collapse: each update moved the policy far"))
    else:
        rem.append(R.scale_lr(0.3, "smaller steps let the policy keep exploring longer"))
    vl, r = curve(ctx, Role.VALUE_LOSS), reward(ctx, 3)
    if vl is not None and r is not None and vl.n:
        ratio = median(vl.values) / max(median(r.values) ** 2, float(np.max(np.abs(r.values))) ** 2, 1e-12)
        if ratio > 10:
            rem.append(R.check_data(f"the value loss ({fmt(median(vl.values))}) is {ratio:.0f}x the squared reward: rewards are scaled far from 1 — "
                                    "normalise rewards and advantages"))
    return rem


def _entropy_remedies(ctx: Context) -> list[Remedy]:
    coef = declared(ctx, "ent_coef", "entropy_coef", "entropy_coeff", "ent_coeff", "beta")
    if coef == 0:
        rem = [R.entropy_coef(10.0, "the entropy coefficient is 0: a factor cannot raise it — set it to about 0.01")]
    elif coef is not None and coef >= 0.01:
        rem = [R.entropy_coef(5.0, f"a larger entropy bonus (now {fmt(coef)}) keeps the policy exploring")]
    else:
        rem = [R.entropy_coef(10.0, "a larger entropy bonus keeps the policy exploring" + (f" (now {fmt(coef)})" if coef is not None else ""))]
    return rem
