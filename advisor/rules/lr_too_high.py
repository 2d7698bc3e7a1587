"""The learning rate is far too high, without (yet) a NaN.

Why it matters: the most common real training bug. Steps that are too large throw the weights
far from where they started: the loss jumps far above its initial value in the first steps and,
with ReLU units killed by the jump, sits at the chance level for the rest of the run; with Adam
at a huge rate it bounces around its initial level from the start. Raising the rate — the fix
for a loss that does not move because the steps are too small — makes it worse; only evidence of
the direction may decide.

Signals: train loss; the learning rate (a logged stream or a hyperparameter) and the optimizer
when the run declares them; the class count for the chance level ln C.

Trigger (the loss never went non-finite — that is ``non-finite``), any of:
  * jump: the early peak (largest 3-point rolling median of the first ``early_frac`` of the
    points) is at least ``min_jump`` times the initial loss (and clears four times the early
    points' own log-scale noise, and ``jump_over_rest`` times the 90th percentile of the points
    after the early window: a loss of single examples reaches its "peak" again and again, while
    its lower decile stays near the start — see ``advisor.rules.lr_evidence.excursions``), and afterwards the loss made less
    than ``max_progress`` of progress from the initial loss (it sits near its start or ln C) —
    critical (for a loss that made no progress, a single early point at least
    ``min_stuck_spike`` times the start — ``min_chance_spike`` when the loss ends within ``at_chance``
    of ln C —, clearing the noise and ``jump_over_rest`` times the rest's
    90th percentile, is the jump: one logged minibatch
    can hold it, and a rate too small never throws the loss above its start); or it did learn
    but climbed back above the initial loss in at least
    ``min_bumps`` separate episodes (binned medians more than ``bump_margin`` above the start),
    or in two when one of them reached ``big_bump`` times the start, or in one that reached
    ``huge_climb`` times it (a one-cycle peak rate that threw the loss 10,000x up until the schedule
    annealed it), and at least one reached
    ``min_learned_climb`` times it, clearing five times the loss's log-scale point noise (the
    highest of many noisy one-minibatch points climbs four of them by chance) or reaching
    ``far_climb`` times the start (minibatch losses near zero inflate that noise; the noise of a
    run that learned does not throw its loss to five times where it started) — warning;
  * declared: less than ``max_progress`` progress while the declared rate is above its
    optimizer family's usual range (Adam and kin: 0.1; SGD: 2) — critical;
  * bouncing: less than ``max_progress`` progress while the loss climbed above its start in at
    least ``min_bumps`` episodes, at least once to ``min_bounce`` times it, clearing
    ``bounce_noise_k`` times its log-scale point noise (the rate not declared high: that is the
    declared form; a rate declared in its usual range does not stop it — requiring an undeclared
    rate lost two oscillation runs and kept the resumed-regression false alarm below) — critical
    (a flat loss of noisy minibatches pokes 1.3-1.6x above its level by chance: a batch of 2, a
    resumed regression model at its floor);
  * blown-up start: the first logged point already includes updates (logged after step 0, or
    an epoch aggregate), the run is a classifier, and that point is at least 20 and 300 times
    the median of the rest, after which the loss made under 30% progress
    (``advisor.rules.lr_evidence.blown_up_start``) — critical;
  * declared blow-up: the declared rate is above its family's usual range and the loss of a
    classifier (an accuracy logged, or C known) was thrown early to at least ``min_thrown`` (and
    ``thrown_over_chance`` times ln C when C is known), though the run then learned — warning;
  * worse than uniform: a classifier (class count known) whose train loss sat, over its second
    half, ``min_over_chance`` times above ln C — above what a uniform output gives, which any
    working optimiser beats from the class frequencies alone — with no downward trend, while
    validation accuracy stayed at chance (at most 1.3/C) — critical;
  * keeps spiking: the spike statistics of ``advisor.rules.oscillation.spikes`` hold (a floor
    reached early, then repeated spikes far above it and its noise, each followed by a return to
    it, the typical level lifted off the floor) and the spikes reach ``min_spike_peak`` times the
    floor in at least ``min_spike_episodes`` episodes — warning;
  * thrown back: a classifier's loss, after it had learned, was thrown back to a cross-entropy
    of at least ``min_thrown`` (``thrown_over_chance`` times ln C when C is known) — two
    consecutive points 10x the lowest before them, or one epoch mean 3x it (an epoch mean of at
    least ``min_thrown_epoch`` when C is unknown: a cross-entropy above ln 20,000)
    (``advisor.rules.lr_evidence.thrown_back``) — warning;
  * gave back: the loss fell by at least ``min_gb_progress`` of its start (coarse bin medians of
    at least 8 points), then climbed back by ``min_give_back`` of that progress — a climb that
    clears ``min_gb_z`` standard errors of the two medians, which minibatch noise of any size
    does not — and its last two bins still sit ``min_end_give_back`` of it above the lowest (or
    it came back only once a logged rate was cut to half or less: ``lr_learned.cut_step``),
    while a logged rate did not rise in between (a warm restart, a warmup) — warning. A rate
    several times too high (Adam at 0.05 on a small MLP) does not throw the loss above its start:
    it learns, then wanders back up for hundreds of updates at a time
    (``advisor.rules.lr_evidence.gave_back``);
  * thrashing: a classifier (validation accuracy logged, ``min_th_evals`` validation losses or
    more) whose validation accuracy over its second half is at most ``max_th_gain`` above its first
    evaluation and its best below ``max_th_acc``, while its validation loss changed by a median ``min_th_change`` (log scale)
    between consecutive evaluations, reversing direction at ``min_th_reversals`` of the turns, and
    its train loss kept ``min_th_train`` of its start — warning. Steps too large do not descend:
    each update throws the weights somewhere else (Adam at 2 on an LSTM, logged every 10 steps, its
    loss never near a level that tells C). A rate too small leaves the validation loss smooth; a run
    that learns raises its accuracy or drops its train loss (``advisor.rules.lr_evidence.thrashing``).
An RL agent (workload ``rl``) is judged by its approximate KL per policy update instead of a
loss: a median of ``rl_min_kl`` or more after the first tenth of the run — info
(``advisor.rules.rl_lr``; first remedy ``scale_lr`` by about sqrt(0.02 / KL), then bound the
updates with ``target_kl`` or fewer epochs).
Progress is measured from the initial loss after a jump, else from the start level the climbs are
counted against — the largest of the first point, the first bin's median and the first points'
median (one lucky minibatch of a per-example loss can sit at a tenth of the level, and every later
median would then read as no progress). Needs ``min_points`` points of a positive loss.

Remedies: ``scale_lr`` down — to the family's usual top when the rate is declared, else 0.01
after a jump of 30x or more and 0.1 otherwise; then ``warmup`` and ``clip_grad_norm``. Never a
higher rate.

Not when the run starts already trained (``Context.started_trained``: accuracy at 2.2x chance or
more and a loss under half ln C from its first points, and staying there; without an accuracy,
a val loss 1.15-4x the train loss's level from its first evaluation on while neither moves — a
resumed run, a fine-tune at a small rate): its loss has nothing to fall from, and its climbs from a level near
zero are minibatch noise; a rate that wrecks such a model shows as ``divergence``.

Known false positives: losses that are meant to rise (RL value losses, adversarial losses) —
the workload decides which rules judge them; a resumed run without an accuracy nor a val loss
(a regression model at its floor) whose first logged point is not its initialisation value.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Severity
from advisor.rules.base import Context, finding, margin_confidence, nice_factor, warmup_steps
from advisor.rules.lr_evidence import BlownUpStart, DeclaredLr, Excursions, blown_up_start, chance_loss, clears_noise, declared_lr, excursions, thrashing, thrown_back
from advisor.rules.lr_learned import gave_back_finding, gave_back_form, keeps_spiking, spikes_finding, thrashing_finding, thrown_back_finding
from advisor.rules.non_finite import clip_threshold
from advisor.rules.shape import Shape
from advisor.signals import fmt, mann_kendall_z, median, percent_scale, times

ID = "lr-too-high"
SEVERITY = Severity.CRITICAL
SIGNALS = ("train loss", "learning rate and optimizer if known", "an RL agent's approximate KL per update")
WORKLOADS = ("supervised", "unknown", "rl")
STAYED = 1.5  # a summary says a loss "stayed at" a level only within this factor of it


@dataclass(frozen=True)
class Params:
    min_jump: float = 3.0
    early_frac: float = 0.1
    max_progress: float = 0.1
    bump_margin: float = 0.2
    min_bumps: int = 3
    big_bump: float = 3.0  # two climbs suffice when one reaches this many times the start
    huge_climb: float = 100.0  # one climb suffices when it reaches this many times the start
    min_learned_climb: float = 2.0  # a run that learned: its climbs must reach this many times the start
    min_points: int = 8
    min_spike_peak: float = 100.0  # keeps spiking: the largest spike over the floor
    min_spike_episodes: int = 5
    min_stuck_spike: float = 2.0  # a stuck loss: one early point this far above the start is the jump
    min_chance_spike: float = 1.5  # ... or this far, for a classifier's loss that sits at ln C (dead units)
    at_chance: float = 0.1  # "sits at ln C": the end level within this share of it
    min_bounce: float = 1.5  # bouncing: the highest climb of a stuck loss reaches this many times its start
    bounce_noise_k: float = 2.0  # ... and clears this many times the loss's log-scale point noise
    min_thrown: float = 20.0  # declared-blowup: the early peak of a classifier's loss reaches this
    thrown_over_chance: float = 10.0  # ... and this many times ln C when C is known
    min_thrown_epoch: float = 10.0  # thrown back, an epoch mean with C unknown: above ln 20,000
    far_climb: float = 5.0  # a run that learned: a climb this far above the start clears any noise test
    min_over_chance: float = 1.2  # worse than uniform: the second half's median train loss over ln C
    jump_over_rest: float = 1.5  # a jump (early peak or single point) over the 90th percentile of the rest of the run
    min_give_back: float = 0.3  # gave back: the climb's share of the progress made before it
    min_end_give_back: float = 0.1  # ... and the share still not won back over the last two bins
    min_gb_progress: float = 0.5  # ... in a loss that fell to at most half its start
    min_gb_z: float = 5.0  # ... the climb over the standard errors of the two bin medians
    min_th_evals: int = 6  # thrashing: validation-loss evaluations needed
    min_th_change: float = 0.15  # ... median |change of ln val loss| between consecutive evaluations
    min_th_reversals: float = 0.5  # ... share of the turns where its direction reverses
    max_th_gain: float = 0.05  # ... val accuracy's second-half median over its first evaluation, at most
    max_th_acc: float = 0.8  # ... and its best below this (a model that reached it has learned)
    min_th_train: float = 0.2  # ... the train loss's last tenth over its first tenth, at least
    rl_min_kl: float = 0.2  # an RL agent: the median approximate KL per update (advisor.rules.rl_lr)


def detect(ctx: Context, p: Params) -> list[Finding]:
    if ctx.workload == "rl":
        from advisor.rules.rl_lr import rl_lr_too_high

        return rl_lr_too_high(ctx, p.rl_min_kl, p.min_points)
    got = ctx.finite_train(min_points=p.min_points)
    if got is None or ctx.started_trained:
        return []  # a model trained before the run: a rate that wrecks it shows as divergence
    c, sh = got
    ex = excursions(c, p.early_frac, p.bump_margin, over_rest=p.jump_over_rest)
    if ex is None:
        return []
    lr = declared_lr(ctx)
    chance = chance_loss(ctx)
    # A classifier starts at about ln C: a first logged loss far above that (sparse logging, an
    # epoch mean) already holds the jump, and "no progress" means not below the chance level.
    base = min(ex.ref, chance) if chance else ex.ref
    logged_ref = ex.ref  # the start the curve itself shows (the chance level may stand in for it)
    jump = ex.jump if base == ex.ref else (ex.peak / base if clears_noise(ex.peak / base, ex.log_noise) else 1.0)
    ex = dataclasses.replace(ex, ref=base, jump=jump)
    # progress from where the loss really started: after a jump, the first point; else the robust
    # start level the climbs are counted against (one lucky minibatch of a noisy per-example loss
    # can sit at a tenth of it, and every later median then looks like no progress)
    start = ex.ref if ex.jump > 1.0 else (min(ex.start, chance) if chance else ex.start)
    progress = (start - sh.vend) / start
    stuck = progress < p.max_progress
    if (bu := blown_up_start(ctx, c)) is not None:
        return [_blown_up_finding(ctx, c, bu, lr)]
    spiked = False
    if stuck and ex.jump < p.min_jump:
        at_chance = chance is not None and abs(sh.vend / chance - 1.0) <= p.at_chance
        ex, spiked = _single_point_jump(c, ex, p.min_chance_spike if at_chance else p.min_stuck_spike, p)
    jumped = ex.jump >= p.min_jump or spiked
    # three climbs above the start, or two when one went far above it (a healthy run that has
    # learned never returns to several times its initial loss)
    bumpy = ex.bumps >= p.min_bumps or (ex.bumps >= 2 and ex.bump_peak >= p.big_bump)
    # a run that learned: one climb suffices when it went orders of magnitude up (no healthy run
    # climbs to 100x its start; a one-cycle peak rate can hold it there until the schedule anneals)
    climbed = bumpy or (ex.bumps >= 1 and ex.bump_peak >= p.huge_climb)
    if jumped and stuck:
        form, severity = "jump", Severity.CRITICAL
    elif stuck and lr.high:
        form, severity = "declared", Severity.CRITICAL
    elif bumpy and stuck and ex.bump_peak >= p.min_bounce and clears_noise(ex.bump_peak, ex.log_noise, k=p.bounce_noise_k):
        # a loss stuck near its start whose binned medians poke 20-30% above it is a stuck loss with
        # minibatch noise (a linear model on spirals, a deep sigmoid net whose gradients vanished):
        # steps too large throw it higher
        form, severity = "bouncing", Severity.CRITICAL
    elif climbed and ex.bump_peak >= p.min_learned_climb and (clears_noise(ex.bump_peak, ex.log_noise, k=5.0) or ex.bump_peak >= p.far_climb):
        # a run that learned and climbs back a little above a noisy first point (a plateau
        # above it, one-batch points) is not this; back to twice its start is
        form, severity = "spiking", Severity.WARNING
    elif lr.high and _thrown_early(ctx, ex, chance, p):
        # a declared rate far above its family's range that threw the loss orders of magnitude
        # up in the first steps: the run recovered, this time
        form, severity = "declared-blowup", Severity.WARNING
    else:
        return _other_forms(ctx, c, ex, chance, lr, p)
    if form != "jump":
        ex = dataclasses.replace(ex, ref=start)  # the summary's "initial value" is the level it was judged from
    evidence = _evidence(form, ex, c, sh, progress, lr, chance)
    summary = _summary(form, ex, sh, progress, lr, chance, int(c.steps[-1]))
    if form == "jump" and ex.ref < logged_ref:
        summary = _counted_from_chance(summary, ex, c, evidence)
    conf = _confidence(form, ex, p)
    return [finding(ID, severity, conf, summary, evidence, _remedies(ctx, ex, lr, form), onset=ex.jump_step if jumped else int(c.steps[0]))]


def _evidence(form: str, ex: Excursions, c, sh: Shape, progress: float, lr: DeclaredLr, chance: float | None) -> dict:
    evidence = {
        "form": form,
        "initial_loss": ex.ref,
        "early_peak_ratio": round(ex.jump, 2),
        "early_peak_step": ex.jump_step,
        "climbs_above_start": ex.bumps,
        "highest_climb": round(ex.bump_peak, 2),
        "highest_point": round(_highest_point(c, ex), 2),
        "final_loss": sh.vend,
        "progress": round(progress, 4),
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    evidence.update(lr.evidence())
    if lr.optimizer:
        evidence["optimizer"] = lr.optimizer
    if chance is not None:
        evidence["chance_loss"] = chance
    return evidence


def _counted_from_chance(summary: str, ex: Excursions, c, evidence: dict) -> str:
    """The jump form's summary when the jump is counted from ln C, not from a logged point: say
    where the curve begins."""
    v0, s0 = float(c.values[0]), int(c.steps[0])
    evidence["first_logged_loss"] = v0
    why = f"came after {s0} updates" if s0 > 0 else "is already far above it"
    return summary.replace(
        f"jumped from {fmt(ex.ref)} ", f"jumped from ln C = {fmt(ex.ref)} (an untrained classifier's loss; the first logged "
        f"point, {fmt(v0)} at step {s0}, {why}) ", 1)


def _highest_point(c, ex: Excursions) -> float:
    """The highest single logged point after the early window, over the level the climbs are
    judged from (a minibatch thrown 100x above an untrained model's loss is no sampling noise)."""
    later = c.values[c.steps > ex.early_end_step]
    return float(np.max(later)) / ex.ref if later.size and ex.ref > 0 else 0.0


def _other_forms(ctx: Context, c, ex: Excursions, chance: float | None, lr: DeclaredLr, p: Params) -> list[Finding]:
    """The forms judged on their own statistics rather than on climbs above the start."""
    if (sp := keeps_spiking(c.values, p)) is not None:
        return [spikes_finding(ctx, c, sp, lr)]
    # an epoch's mean cross-entropy of 10 is worse than a uniform output over 20,000 classes: with
    # the class count unknown that is the floor for an epoch aggregate (a single step's keeps 20)
    epoch_floor = None if chance else p.min_thrown_epoch
    if (tb := thrown_back(ctx, c, _thrown_floor(chance, p), epoch_floor=epoch_floor)) is not None:
        return [thrown_back_finding(ctx, c, tb, lr)]
    if (gb := gave_back_form(ctx, c, p)) is not None:
        return [gave_back_finding(ctx, c, gb, lr)]
    if (wu := _worse_than_uniform(ctx, c, chance, p)) is not None:
        return [_uniform_finding(ctx, c, ex, wu, lr, p)]
    if (th := thrashing(ctx, c, p.min_th_evals, p.min_th_change, p.min_th_reversals, p.max_th_gain, p.min_th_train, p.max_th_acc)) is not None:
        return [thrashing_finding(ctx, c, th, lr)]
    return []


def _thrown_early(ctx: Context, ex: Excursions, chance: float | None, p: Params) -> bool:
    """A classifier (it logs an accuracy, or its class count is known) whose early peak reached a
    cross-entropy of ``min_thrown`` (e^-20 on the true class: no initialisation starts there) and,
    with C known, ``thrown_over_chance`` times ln C."""
    classifier = ctx.train_acc is not None or ctx.val_acc is not None or bool(ctx.num_classes)
    return classifier and ex.peak >= _thrown_floor(chance, p)


def _thrown_floor(chance: float | None, p: Params) -> float:
    """A classifier's cross-entropy no working model reaches: ``min_thrown``, and ``thrown_over_chance``
    times ln C when C is known."""
    return max(p.min_thrown, p.thrown_over_chance * chance) if chance else p.min_thrown


def _single_point_jump(c, ex: Excursions, least: float, p: Params) -> tuple[Excursions, bool]:
    """For a loss that made no progress: the early jump read on single points. With one minibatch a
    point (sparse logging) the jump can be one point, which the 3-point median hides; a loss that
    then sits at its start never climbed there by minibatch noise, and a rate too small never
    throws the loss above its start at all. ``least``: the jump's size (over the start) — smaller
    for a classifier that then sits at ln C, the dead-unit state a rate too small, vanishing
    gradients or broken labels reach without any climb (their early points stay within 1.35x of
    the start on the population's dev seeds; the rates too high climb 1.6-1.9x and more)."""
    k = max(5, math.ceil(p.early_frac * c.n))  # the early window of excursions()
    i = int(np.argmax(c.values[:k]))
    raw = float(c.values[i]) / ex.ref
    rest = c.values[k:]
    above_rest = rest.size < 5 or float(c.values[i]) >= p.jump_over_rest * float(np.percentile(rest, 90))
    if raw >= least and clears_noise(raw, ex.log_noise) and above_rest:
        return dataclasses.replace(ex, peak=float(c.values[i]), jump=raw, jump_step=int(c.steps[i])), True
    return ex, False


def _blown_up_finding(ctx: Context, c, bu: BlownUpStart, lr: DeclaredLr) -> Finding:
    """The first logged point already holds the blow-up (it includes updates), and the loss never
    learned after it."""
    evidence = {
        "form": "blown-up-start",
        "first_loss": bu.first,
        "level_after": bu.after,
        "final_loss": bu.end,
        "first_over_rest": round(bu.first / bu.level, 1),
        "progress_after": round(bu.progress, 4),
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    evidence.update(lr.evidence())
    summary = (
        f"the first logged train loss {fmt(bu.first)} (step {int(c.steps[0])}, after the first updates) is "
        f"{times(bu.first / bu.level)} the run's median {fmt(bu.level)}; the loss then sat at {fmt(bu.after)} -> {fmt(bu.end)} "
        f"({100 * max(bu.progress, 0):.0f}% progress): the first steps blew the weights up and the run never recovered ({lr.describe()})"
    )
    cut = lr.cut_factor()
    factor = nice_factor(cut, lo=1e-4, hi=0.5) if cut is not None else 0.01
    rem = [
        R.scale_lr(factor, f"a classifier's loss of {fmt(bu.first)} within the first steps: the rate is orders of magnitude too high"),
        R.warmup(warmup_steps(ctx), "ramp the rate up from a small value so the first steps do not throw the weights away"),
        R.clip_grad_norm(clip_threshold(ctx, int(c.steps[min(c.n - 1, 3)])) or 1.0, "bound the first updates"),
    ]
    return finding(ID, Severity.CRITICAL, 0.8, summary, evidence, rem, onset=int(c.steps[0]))


def _worse_than_uniform(ctx: Context, c, chance: float | None, p: Params) -> tuple[float, float, float] | None:
    """(late median / ln C, best late val accuracy, ln C) for a classifier whose train loss sat, over its
    second half, ``min_over_chance`` times above ln C — worse than the uniform output any working
    optimiser finds from the class frequencies alone — with no downward trend, while validation
    accuracy (logged) stayed at chance (at most 1.3/C)."""
    acc = ctx.val_acc
    if chance is None or acc is None or acc.n < 3 or c.n < 2 * p.min_points or not ctx.num_classes:
        return None
    ratio = median(c.values[c.n // 2 :]) / chance
    b = c.bvals[len(c.bvals) // 2 :]
    if ratio < p.min_over_chance or (b.size >= 4 and mann_kendall_z(b) <= -2.0):
        return None
    best = float(np.max(acc.values[acc.n // 2 :])) / percent_scale(acc.values)
    return (ratio, best, chance) if best <= 1.3 / ctx.num_classes else None


def _uniform_finding(ctx: Context, c, ex: Excursions, wu: tuple[float, float, float], lr: DeclaredLr, p: Params) -> Finding:
    ratio, best, chance = wu
    level = ratio * chance
    half = int(c.steps[c.n // 2])
    evidence = {
        "form": "worse-than-uniform",
        "late_median_loss": level,
        "chance_loss": chance,
        "over_chance": round(ratio, 3),
        "best_late_val_accuracy": best,
        "step_range": [half, int(c.steps[-1])],
        "signal": "train_loss",
    }
    evidence.update(lr.evidence())
    summary = (
        f"train loss sat at {fmt(level)} over the second half, {ratio:.2f}x ln C = {fmt(chance)} (what a uniform output over "
        f"{ctx.num_classes} classes gives), while validation accuracy stayed at chance (best {fmt(best)}): the model is "
        f"confidently wrong — steps too large to find even the class frequencies ({lr.describe()})"
    )
    return finding(ID, Severity.CRITICAL, margin_confidence(ratio, p.min_over_chance, 0.3, base=0.6), summary, evidence,
                   _remedies(ctx, ex, lr, "bouncing", "worse than a uniform output: the rate is far too high"), onset=half)


def _summary(form: str, ex: Excursions, sh: Shape, progress: float, lr: DeclaredLr, chance: float | None, last: int) -> str:
    at = f" (chance ln C = {fmt(chance)})" if chance is not None else ""
    rate = lr.describe()
    vend = sh.vend
    if form == "jump":
        return (
            f"train loss jumped from {fmt(ex.ref)} to {fmt(ex.ref * ex.jump)} ({times(ex.jump)}) by step {ex.jump_step}, "
            f"then sat at {fmt(vend)}{at} up to step {last}, {100 * max(progress, 0):.1f}% below its start: "
            f"the learning rate is far too high ({rate}); units have likely died"
        )
    if form == "declared":
        return f"{_declared_course(ex.ref, sh)}{at} while the learning rate is far above the usual range for its optimizer ({rate})"
    if form == "declared-blowup":
        return (
            f"train loss was thrown to {fmt(ex.peak)} in the first steps (by step {ex.jump_step}){at} under a learning "
            f"rate far above the usual range for its optimizer ({rate}); it came back down to {fmt(vend)}, but a rate "
            f"that throws the weights this far makes every run a gamble"
        )
    if form == "bouncing":
        return (
            f"train loss bounced above its initial value {fmt(ex.ref)} in {ex.bumps} episodes (up to {times(ex.bump_peak)}) "
            f"and made no progress ({fmt(ex.ref)} -> {fmt(vend)}{at}): steps too large to descend ({rate})"
        )
    return (
        f"train loss climbed back above its initial value {fmt(ex.ref)} in {ex.bumps} separate episodes (up to "
        f"{times(ex.bump_peak)}), although it learned ({fmt(ex.ref)} -> {fmt(vend)}): the learning rate is too high for "
        f"stable training ({rate})"
    )


def _declared_course(ref: float, sh: Shape) -> str:
    """What a loss judged stuck under a declared high rate did, in words its numbers bear out: it
    ended well above where it started, came back up after learning, or stayed."""
    if sh.vend > STAYED * ref:
        return f"train loss ended above its initial level ({fmt(ref)} -> {fmt(sh.vend)})"
    if sh.vmin < ref / STAYED:
        return f"train loss fell to {fmt(sh.vmin)}, then climbed back up to {fmt(sh.vend)}, about its initial level {fmt(ref)}"
    return f"train loss stayed at its initial level ({fmt(ref)} -> {fmt(sh.vend)})"


def _confidence(form: str, ex: Excursions, p: Params) -> float:
    if form == "jump":
        return margin_confidence(ex.jump, p.min_jump, 3 * p.min_jump, base=0.7)
    if form == "declared":
        return 0.75
    if form == "declared-blowup":
        return 0.65
    return margin_confidence(ex.bumps, p.min_bumps, 3 * p.min_bumps, base=0.5)


def _remedies(ctx: Context, ex: Excursions, lr: DeclaredLr, form: str, why_not_declared: str | None = None) -> list[Remedy]:
    cut = lr.cut_factor()
    if cut is not None:
        factor = nice_factor(cut, lo=1e-4, hi=0.5)
        why = f"bring {lr.describe()} to about the usual top of its range"
    elif form == "jump":
        factor = 0.01 if ex.jump >= 30 else 0.1
        why = f"the loss jumped {times(ex.jump)} in the first steps" + (": the rate is orders of magnitude too high" if ex.jump >= 30 else " and never came back below its start: the rate is far too high")
    else:
        factor = 0.1 if form == "bouncing" else nice_factor(1 / (1 + ex.bump_peak), lo=0.1, hi=0.5)
        why = why_not_declared or "the loss climbs above where it started: smaller steps"
    return [
        R.scale_lr(factor, why),
        R.warmup(warmup_steps(ctx), "ramp the rate up from a small value so the first steps do not throw the weights away"),
        R.clip_grad_norm(clip_threshold(ctx, ex.early_end_step) or 1.0, "bound the update size while the rate is being fixed"),
    ]
