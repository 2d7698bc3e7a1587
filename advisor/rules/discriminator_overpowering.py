"""The discriminator's loss goes to ~0 while the generator's loss climbs: the generator gets no useful gradient.

Why it matters: a discriminator that separates real from generated samples perfectly saturates;
the generator's loss grows and its gradient carries little about where the data is, so samples
stop improving or collapse onto a few modes. Adversarial losses swing by design — that alone is
not a fault (the supervised ``oscillation`` rule does not judge GANs) — but a discriminator that
has won stays won.

Signals: the discriminator loss (``D_loss``, ``loss_D``, ``Loss/Discriminator``, the sum of
``d_loss_real`` and ``d_loss_fake`` when no total is logged) and the generator loss; declared
``d_lr``/``g_lr`` and discriminator steps per generator step for the remedy. GAN runs only.

Trigger: both losses have at least ``min_points`` finite points and positive initial levels
(a Wasserstein critic's loss goes negative and is skipped). The initial levels are read from the
first three points (the discriminator's highest, the generator's lowest: a strong discriminator
wins within the first few logged steps). The discriminator's medians over bins of equal step
width reach ``d_floor`` of its initial level or less (it went to ~0), its median over the last
``late`` of the run stays at ``d_ceiling`` of its initial level or less (the game never came back
to balance), and the generator's median over that window is at least ``g_rise`` times its own
initial level. The onset is the first bin at ``d_floor`` or less. A run that is already in that state from its
first logged step (resumed from a checkpoint, or won within the first interval) has no fall to
see: it is reported when the generator's loss never drops below half of ``g_saturated`` and its
median is ``g_saturated`` or more (a cross-entropy generator loss of 5: generated samples pass
for real under 1% of the time) while the discriminator's median is under ``d_small`` of it.

Remedies: ``balance_adversaries`` with what to change, from the run's own settings: the
discriminator's learning rate down to the generator's when it is higher, one discriminator step
per generator step when there are more, else a lower discriminator rate with one-sided label
smoothing (real labels 0.9) or instance noise.

Known false positives: losses logged with another convention (a discriminator "loss" that is an
accuracy, a generator loss that includes a growing reconstruction term), and runs whose
generator loss rises for a while before the generator catches up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.rl_signals import curve, declared, track
from advisor.signals import Curve, fmt, median

ID = "discriminator-overpowering"
SEVERITY = Severity.WARNING
SIGNALS = ("discriminator loss", "generator loss")
WORKLOADS = ("gan",)


@dataclass(frozen=True)
class Params:
    d_floor: float = 0.1
    d_ceiling: float = 0.4
    g_rise: float = 2.0
    late: float = 0.3
    min_points: int = 10
    g_saturated: float = 5.0  # a BCE generator loss this high: D(G(z)) under e^-5, fooled under 1%
    d_small: float = 0.1  # the discriminator's median under this share of the generator's


def _levels(c: Curve | None, p: Params, first: str) -> tuple[float, float] | None:
    """(initial, late) levels of a finite, non-negative loss curve, else None; the initial level
    is the ``first`` ("max" or "min") of its first three points."""
    if c is None or c.n < p.min_points or c.cut_short or c.span <= 0 or float(np.min(c.values)) < 0:
        return None
    head = c.values[:3]
    start = float(np.max(head) if first == "max" else np.min(head))
    late = median(c.values[c.steps >= float(c.steps[-1]) - p.late * c.span])
    return (start, late) if start > 0 else None


def detect(ctx: Context, p: Params) -> list[Finding]:
    d, g = curve(ctx, Role.DISC_LOSS), curve(ctx, Role.GEN_LOSS)
    dl, gl = _levels(d, p, "max"), _levels(g, p, "min")
    if d is None or dl is None or gl is None:
        return []
    (d0, d_late), (g0, g_late) = dl, gl
    tr = track(d)
    low = np.nonzero(tr.values <= p.d_floor * d0)[0]
    if low.size == 0 or d_late > p.d_ceiling * d0 or g_late < p.g_rise * g0:
        return _won_from_the_start(ctx, d, g, p)
    onset = int(tr.steps[low[0]])
    d_min = float(np.min(tr.values))
    evidence = {"d_initial": d0, "d_min": d_min, "d_late": d_late, "g_initial": g0, "g_late": g_late,
                "d_tag": ctx.tag(Role.DISC_LOSS), "g_tag": ctx.tag(Role.GEN_LOSS), "step_range": [onset, int(d.steps[-1])], "signal": "disc_loss"}
    conf = margin_confidence(g_late / g0, p.g_rise, p.g_rise, base=0.6)
    summary = (f"discriminator loss fell from {fmt(d0)} to {fmt(d_min)} by step {onset} and stayed low ({fmt(d_late)} late, "
               f"{100 * d_late / d0:.0f}% of its start) while the generator loss climbed from {fmt(g0)} to {fmt(g_late)} "
               f"({g_late / g0:.1f}x): the discriminator wins and the generator's gradient fades")
    return [finding(ID, SEVERITY, conf, summary, evidence, _remedies(ctx), onset=onset)]


def _won_from_the_start(ctx: Context, d: Curve, g: Curve, p: Params) -> list[Finding]:
    """The discriminator wins from the first logged step: nothing to fall from, the levels tell."""
    g_med, d_med = median(g.values), median(d.values)
    if float(np.min(g.values)) < p.g_saturated / 2 or g_med < p.g_saturated or d_med > p.d_small * g_med:
        return []
    evidence = {"d_median": d_med, "g_median": g_med, "g_min": float(np.min(g.values)), "form": "won-from-start",
                "d_tag": ctx.tag(Role.DISC_LOSS), "g_tag": ctx.tag(Role.GEN_LOSS), "step_range": [int(d.steps[0]), int(d.steps[-1])], "signal": "disc_loss"}
    summary = (f"from the first logged step the discriminator loss sits near 0 (median {fmt(d_med)}) while the generator loss stays "
               f"high (median {fmt(g_med)}, never below {fmt(float(np.min(g.values)))}): generated samples almost never pass for real, "
               f"so the generator's gradient fades")
    return [finding(ID, SEVERITY, 0.55, summary, evidence, _remedies(ctx), onset=int(d.steps[0]))]


def _remedies(ctx: Context) -> list[Remedy]:
    d_lr = declared(ctx, "d_lr", "lr_d", "lr_D", "disc_lr", "discriminator_lr", "lr_disc")
    g_lr = declared(ctx, "g_lr", "lr_g", "lr_G", "gen_lr", "generator_lr", "lr_gen")
    d_steps = declared(ctx, "d_steps", "n_critic", "critic_iters", "d_iters", "n_dis", "disc_steps")
    what = []
    if d_lr is not None and g_lr is not None and d_lr > g_lr:
        what.append(f"lower the discriminator's learning rate from {d_lr:g} to {g_lr:g} (the generator's)")
    if d_steps is not None and d_steps > 1:
        what.append(f"take 1 discriminator step per generator step instead of {d_steps:g}")
    if not what:
        what.append("lower the discriminator's learning rate (e.g. to half the generator's), or weaken it: one-sided label smoothing (real labels 0.9), instance noise, fewer discriminator steps")
    rem = [R.balance_adversaries("; ".join(what), "a discriminator that always wins leaves the generator no useful gradient")]
    if len(what) > 1 or "label smoothing" not in what[0]:
        rem.append(R.balance_adversaries("one-sided label smoothing (real labels 0.9) or instance noise on the discriminator's inputs",
                                         "keeps the discriminator from saturating while the rates are rebalanced"))
    return rem
