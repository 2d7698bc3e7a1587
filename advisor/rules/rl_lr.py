"""The RL branch of ``lr-too-high``: a policy-gradient agent whose every update moves the policy
far further than its clipping is meant to allow.

PPO-family trainers log the approximate KL divergence between the policy before and after each
update (Stable-Baselines3's ``train/approx_kl``, CleanRL's ``losses/approx_kl``, RLlib's ``kl``).
Implementations that stop an update early on it aim at 0.01-0.05 (SB3's ``target_kl``, RLlib's
``kl_target`` 0.01); healthy agents sit around 0.001-0.03, up to 0.075 on continuous control. A
median over the run of ``min_kl`` (0.2) or more — ten times the usual target, about three times the
highest seen on a healthy real run — says the steps are too large: the clipped objective no longer
bounds them, the policy turns deterministic early and the reward stalls or collapses. The first
remedy lowers the rate (by about the square root of target/KL: the KL of a small step grows with
its square), the second bounds the updates (``target_kl``, fewer epochs per rollout).

Reported at info: the KL says the steps are large, not that they hurt. Agents trained at 5-20x
their usual rate, or with a reward scaled 100x, sit at a KL of 0.14-1.9 whether or not their
reward then collapses (the workload benchmark's generated runs whose injected fault produced no
verified symptom: a warning there would be ten false alarms in 101 healthy runs).

Needs ``min_points`` approx-KL points after the first tenth of the run (the first updates of a
fresh policy are not its running level).
"""

from __future__ import annotations

import math

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor
from advisor.rules.rl_signals import curve, declared
from advisor.signals import fmt, median

TARGET_KL = 0.02  # the per-update KL that KL-targeted PPO implementations aim for


def rl_lr_too_high(ctx: Context, min_kl: float = 0.2, min_points: int = 10) -> list[Finding]:
    kl = curve(ctx, Role.APPROX_KL)
    if kl is None or kl.cut_short:
        return []
    late = kl.values[kl.steps >= kl.steps[0] + 0.1 * kl.span] if kl.span > 0 else kl.values
    if late.size < min_points:
        return []
    level = float(median(late))
    if not level >= min_kl:
        return []
    share = float(np.mean(late > 0.1))
    lr = ctx.lr
    lr0 = float(np.max(lr.values)) if lr is not None and lr.n else declared(ctx, "learning_rate", "lr")
    at = f" at lr {fmt(lr0)}" if lr0 else ""
    factor = nice_factor(math.sqrt(TARGET_KL / level), lo=0.05, hi=0.5)
    evidence = {"median_approx_kl": level, "share_over_0.1": round(share, 3), "target_kl": TARGET_KL,
                "step_range": [int(kl.steps[0]), int(kl.steps[-1])], "signal": "approx_kl"}
    if lr0:
        evidence["lr"] = lr0
    summary = (f"each policy update moved the policy far: the approximate KL per update has a median of {fmt(level)}{at} "
               f"({level / TARGET_KL:.0f}x the {TARGET_KL:g} PPO's KL target aims at; {100 * share:.0f}% of updates over 0.1): "
               "the steps are too large for the clipped objective to bound")
    rem = [
        R.scale_lr(factor, f"a KL of {fmt(level)} per update is {level / TARGET_KL:.0f}x the usual target; the KL of a small step grows with its square"),
        R.check_data("bound each update: set target_kl (0.01-0.05) or use fewer epochs per rollout"),
    ]
    conf = margin_confidence(level, min_kl, 5 * min_kl, base=0.6)
    return [finding("lr-too-high", Severity.INFO, conf, summary, evidence, rem, onset=int(kl.steps[0]))]
