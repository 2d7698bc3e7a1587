"""The reward falls far from its best and does not recover: policy collapse or forgetting.

Why it matters: the agent had learned something and lost it. A policy-gradient step that was
too large (a learning rate raised mid-run, a clip range or KL limit that no longer bounds the
update) moves the policy to a worse behaviour; once it is near-deterministic there, it rarely
finds its way back. Every step after the best is wasted, and the best policy is only kept if its
checkpoint is.

Signals: the reward (``rollout/ep_rew_mean``, ``charts/episodic_return``, ``Environment/Cumulative
Reward``, ``episode_reward_mean``, ...); the logged learning rate and approximate KL for the
remedies. RL runs only.

Trigger: over at least ``min_points`` reward points, medians over bins of equal step width rise
from the first bin to a best bin by a gain of at least ``min_gain`` of the reward's own scale
(the larger of its initial magnitude and early spread) and at least ``noise_k`` times the bins'
noise; the best comes before the last ``tail`` of the run; the median reward over the last
``tail`` lies ``drop`` of that gain or more below the best; and no bin in the last ``tail``
comes back above ``recover`` of the gain (it does not recover). A reward positive throughout whose
best is ``orders`` times its start or more (a survival game's return, heavy-tailed with the episode
length) measures that fall on its logarithm. When the training reward shows no
collapse, the same test runs on the evaluation reward (``eval/mean_reward``: the greedy policy's own
level), given ``min_eval_points`` evaluations: an epsilon-greedy agent's training episodes can keep
paying while the policy it would deploy earns nothing.

Remedies: ``early_stop`` at the best reward's step with ``restore_best`` (keep that checkpoint);
``scale_lr`` down — by the factor the logged learning rate rose between the best and the
collapse when it rose (a schedule or a restart that raised it), else 0.3.

Known false positives: a curriculum or an environment that gets harder on purpose; self-play,
whose reward falls as the opponent improves; a reward logged per evaluation with few episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor
from advisor.rules.rl_signals import curve, eval_reward, reward, reward_scale, track
from advisor.signals import fmt, median

ID = "reward-collapse"
SEVERITY = Severity.WARNING
SIGNALS = ("reward", "learning rate (optional)")
WORKLOADS = ("rl",)


@dataclass(frozen=True)
class Params:
    min_gain: float = 0.5  # rise from the start to the best, as a share of the reward's scale
    noise_k: float = 3.0  # ... and in units of the binned reward's noise
    drop: float = 0.5  # fall from the best over the tail, as a share of the gain
    recover: float = 0.75  # a tail bin above start + recover * gain is a recovery
    tail: float = 0.2
    min_points: int = 10
    orders: float = 100.0  # a positive reward whose best is this many times its start: judged in logs
    min_eval_points: int = 20  # an evaluation reward: each point a few episodes, so more of them


def detect(ctx: Context, p: Params) -> list[Finding]:
    c = reward(ctx, p.min_points)
    got = _collapse(ctx, c, "reward", p) if c is not None else []
    ev = eval_reward(ctx, p.min_eval_points)
    if got or ev is None:
        return got
    # the greedy policy's own reward: an epsilon-greedy agent's training episodes keep paying
    # while the policy it would deploy has collapsed
    return _collapse(ctx, ev[1], ev[0], p)


def _collapse(ctx: Context, c, what: str, p: Params) -> list[Finding]:
    """The finding for reward curve ``c`` (named ``what`` in the summary), or []."""
    if c.span <= 0:
        return []
    tr = track(c)
    r0 = float(tr.values[0])
    ib = int(np.argmax(tr.values))
    best, best_step = float(tr.values[ib]), float(tr.steps[ib])
    gain = best - r0
    scale = reward_scale(c, r0)
    tail_start = float(c.steps[-1]) - p.tail * c.span
    if gain < p.min_gain * scale or gain < p.noise_k * tr.noise or best_step >= tail_start:
        return []
    tail_vals = c.values[c.steps >= tail_start]
    end = median(tail_vals)
    fell = (best - end) / gain
    if r0 > 0 and best >= p.orders * r0 and float(np.min(c.values)) > 0:
        # a positive reward that climbed orders of magnitude (a survival game's return, as long as
        # the episode: heavy-tailed) is judged on its logarithm, where one lucky stretch of very long
        # episodes is not the level the policy learned
        fell = float(np.log(best / max(end, 1e-12)) / np.log(best / r0))
    tail_bins = tr.values[tr.steps >= tail_start]
    if fell < p.drop or (tail_bins.size and float(np.max(tail_bins)) > r0 + p.recover * gain):
        return []
    after = np.nonzero((tr.steps > best_step) & (tr.values <= best - p.drop * gain))[0]
    onset = int(tr.steps[after[0]]) if after.size else int(tail_start)
    evidence = {"initial_reward": r0, "best_reward": best, "best_step": int(best_step), "final_reward": end,
                "fall_of_gain": round(fell, 3), "step_range": [onset, int(c.steps[-1])], "signal": "reward" if what == "reward" else "eval_reward"}
    if what != "reward":
        evidence["tag"] = what
    conf = margin_confidence(fell, p.drop, 0.5, base=0.6)
    summary = (f"{what} rose from {fmt(r0)} to {fmt(best)} at step {int(best_step)}, then fell to {fmt(end)} "
               f"({100 * fell:.0f}% of the gain lost) from step {onset} and did not recover")
    return [finding(ID, SEVERITY, conf, summary, evidence, _remedies(ctx, int(best_step), onset, evidence), onset=onset)]


def _remedies(ctx: Context, best_step: int, onset: int, evidence: dict) -> list[Remedy]:
    rem = [R.early_stop(step=best_step, restore_best=True, rationale=f"the best reward was at step {best_step}: keep that policy")]
    lr = curve(ctx, Role.LR)
    if lr is not None and lr.n >= 2:
        before = lr.values[lr.steps <= best_step]
        around = lr.values[(lr.steps > best_step) & (lr.steps <= onset)]
        if before.size and around.size and before[-1] > 0 and float(np.max(around)) > 2 * before[-1]:
            rise = float(np.max(around)) / float(before[-1])
            evidence["lr_rise"] = rise
            rem.append(R.scale_lr(nice_factor(1 / rise, lo=1e-4, hi=0.5), f"the learning rate rose {rise:.0f}x (from {fmt(float(before[-1]))} "
                                  f"to {fmt(float(np.max(around)))}) between the best reward and the collapse"))
            return rem
    rem.append(R.scale_lr(0.3, "smaller policy updates keep a learned behaviour from being overwritten"))
    return rem
