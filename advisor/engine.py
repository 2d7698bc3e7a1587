"""Run every rule on a run, then reason across the findings: root causes, conflicts, ranking.

Rules are independent and pure; this is where their findings meet. What happens here:

* conflicts: findings that the presence of another makes wrong or moot are dropped (a run
  whose validation loss is rising is not "still improving"; a run that goes non-finite has no
  meaningful late-curve shape; a loss that swings with the epoch is unshuffled data, not generic
  oscillation; climbs above the start that per-minibatch noise explains are not a rate too high);
* root causes: a finding that explains another (exploding gradients before a NaN; vanishing
  gradients behind a run that learns nothing; a too-short schedule behind a flat, high loss)
  is ranked right before it and takes at least its severity; both say so in their evidence;
* duplicates of one condition merge into the strongest;
* ranking: severity; within one severity, root causes linked to other findings before lone
  findings; then confidence and onset; a cause goes right before what it explains; priorities
  are 1..n.

A rule that fails on some input is reported as a problem of that run, never a crash.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from advisor.config import AnalyzeConfig
from advisor.errors import UsageError
from advisor.model import Finding, Remedy, Severity
from advisor.rules import BY_ID, RULES
from advisor.rules.base import Context, RuleSpec

# condition -> conditions its presence makes wrong or moot (dropped)
CONFLICTS: dict[str, tuple[str, ...]] = {
    "non-finite": ("still-improving", "lr-decay-needed", "underfitting", "plateau", "slow-convergence", "oscillation", "gradient-noise", "noisy-validation"),
    "divergence": ("still-improving", "lr-decay-needed", "underfitting", "plateau", "slow-convergence", "no-learning", "gradient-noise"),
    "no-learning": ("plateau", "slow-convergence", "underfitting", "lr-decay-needed", "still-improving", "oscillation"),
    # A rate far too high explains a flat or bouncing loss; advice that reads it as too little
    # capacity or too small a rate would point the wrong way.
    "lr-too-high": (
        "underfitting", "plateau", "slow-convergence", "lr-decay-needed",
        "still-improving", "bad-initial-loss",
    ),
    "overfitting": ("still-improving", "underfitting"),
    "unshuffled-data": ("oscillation", "gradient-noise"),
    "oscillation": ("gradient-noise",),
    "slow-convergence": ("underfitting",),
    "data-mismatch": ("no-learning",),
    # a schedule that warms up over half the run, or sits at its floor long before the end, is
    # what holds the loss back: the fix is the schedule, not a larger rate
    "schedule-misconfigured": ("lr-decay-needed", "slow-convergence"),
}

# cause -> conditions it explains (ranked right after the cause)
EXPLAINS: dict[str, tuple[str, ...]] = {
    "exploding-gradients": ("non-finite", "divergence", "oscillation", "lr-too-high"),
    "divergence": ("non-finite",),
    "lr-too-high": ("divergence", "overfitting", "no-learning"),
    "vanishing-gradients": ("no-learning", "plateau", "slow-convergence", "underfitting"),
    "schedule-misconfigured": ("underfitting", "plateau", "no-learning"),
    "clipping-saturated": ("slow-convergence",),
    "gradient-noise": ("lr-decay-needed", "noisy-validation"),  # the flat, noisy end is the noise floor
    "lr-decay-needed": ("noisy-validation",),  # weights bouncing at the floor make validation bounce
    # val-below-train; and, when validation sits far above train from the first evaluation on
    # (its val-apart form), what validation then seems to say about the weights
    "data-mismatch": ("val-below-train", "overfitting", "noisy-validation"),
    # the first part of training is spent undoing confident wrong logits: a stall while they
    # unwind, and a run that is still catching up at the end
    "bad-initial-loss": ("plateau", "still-improving"),
    # a train loss inflated by train-only regularisation (dropout) sits on a floor the
    # regulariser sets, not the step size (when validation sits clearly below it; see below)
    "val-below-train": ("lr-decay-needed",),
    # a model that cannot fit its data flattens at its capacity's floor: a decay goes little lower
    "underfitting": ("lr-decay-needed",),
    # a fixed (class-sorted) order makes the loss chase the current class: little net progress
    # ... and a train loss measured on one class at a time sits apart from validation over all of them
    "unshuffled-data": ("no-learning", "plateau", "slow-convergence", "underfitting", "data-mismatch"),  # a corrupted training signal sits above a clean val
}


# val/train at or below this (median over the second half): validation sits clearly below a
# train loss that a train-only regulariser inflates
VAL_BELOW_CLEARLY = 0.8


def _form(f: Finding) -> Any:
    return f.evidence.get("form")


# (cause, explained) -> when the link holds, given (cause finding, explained finding); a pair
# not listed always links
LINK_IF: dict[tuple[str, str], Callable[[Finding, Finding], bool]] = {
    ("exploding-gradients", "non-finite"): lambda c, e: _cause_matches(e, "exploding-gradients"),
    ("divergence", "non-finite"): lambda c, e: _cause_matches(e, "divergence"),
    ("exploding-gradients", "divergence"): lambda c, e: _earlier(c, e),
    # a loss that climbed back above its start while the gradient norm exploded: the explosion is
    # the mechanism (clip it); a rate far too high in its other forms stands on its own
    ("exploding-gradients", "lr-too-high"): lambda c, e: _form(e) == "spiking",
    # a loss that learned and climbed back (gave-back) beside a divergence is one symptom seen
    # twice: divergence names it and goes first; the rate is one hypothesis for it, not a proven cause
    ("lr-too-high", "divergence"): lambda c, e: _form(c) != "gave-back",
    # validation's best came before the weights were thrown away: the throw, not memorising the
    # train set, is what validation has not recovered from
    ("lr-too-high", "overfitting"): lambda c, e: _form(c) == "thrown-back" and e.evidence.get("best_step", math.inf) <= c.evidence["thrown_step"],
    # validation clearly below train: the train-only regulariser, not the step size, sets the floor
    ("val-below-train", "lr-decay-needed"): lambda c, e: c.evidence.get("median_val_over_train", 1.0) <= VAL_BELOW_CLEARLY,
    # the class order explains a train loss apart from validation, not a flat one
    ("unshuffled-data", "data-mismatch"): lambda c, e: _form(e) == "val-apart",
    # a test set apart from validation says nothing about validation's own curve
    ("data-mismatch", "overfitting"): lambda c, e: _form(c) == "val-apart",
    ("data-mismatch", "noisy-validation"): lambda c, e: _form(c) == "val-apart",
    # validation jumping while the train loss sits calm on its floor: the val set, not the weights
    ("lr-decay-needed", "noisy-validation"): lambda c, e: e.evidence.get("late_noise_over_level") is None,
}

# condition -> forms of it that drop nothing of CONFLICTS: validation on another scale from the
# first evaluation (data-mismatch's val-apart) says nothing about whether the train loss moved
NO_CONFLICT_FORMS: dict[str, tuple[str, ...]] = {
    "data-mismatch": ("val-apart", "scale-apart", "val-below"),
    # steps a mixed-precision loss scaler skipped: the losses stayed finite, so what they show stands;
    # a few non-finite points in a run that trained on: its finite curve is read, and stands too
    "non-finite": ("skipped-steps", "recovered"),
}


@dataclass(frozen=True)
class Engine:
    """The active rules with their parameters, built once per analysis, and the workloads the
    config sets (None: each run's workload is read from its tags)."""

    rules: tuple[tuple[RuleSpec, Any], ...]
    sweep_rules: tuple[tuple[RuleSpec, Any], ...]
    workload: str | None = None
    workloads: tuple[tuple[str, str], ...] = ()  # (run-name glob, workload), first match wins
    num_classes: int | None = None  # the config's class count for runs that declare none

    @classmethod
    def from_config(cls, config: AnalyzeConfig | None = None) -> "Engine":
        config = config or AnalyzeConfig()
        for rid in (*config.select, *config.ignore, *config.rules):
            if rid not in BY_ID:
                raise UsageError(f"unknown condition id {rid!r} (see `advisor rules`)")
        active = [r for r in RULES if (not config.select or r.id in config.select) and r.id not in config.ignore]
        built = [(r, r.make_params(config.rules.get(r.id))) for r in active]
        return cls(
            tuple(b for b in built if b[0].scope == "run"),
            tuple(b for b in built if b[0].scope == "sweep"),
            config.workload,
            tuple(config.workloads.items()),
            config.num_classes,
        )

    def workload_for(self, run: str) -> str | None:
        """The workload the config sets for the run named ``run``, or None."""
        return AnalyzeConfig(workload=self.workload, workloads=dict(self.workloads)).workload_for(run)

    def diagnose(self, ctx: Context) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
        """(ranked findings, problems from failing rules) for the run behind ``ctx``: only the
        rules written for its workload run (SPEC §2: supervised loss-shape rules do not judge RL
        or GAN losses)."""
        found: list[Finding] = []
        problems: list[str] = []
        for spec, params in self.rules:
            if ctx.workload not in spec.workloads:
                continue
            try:
                found.extend(spec.detect(ctx, params))
            except Exception as e:  # a rule bug must not cost the user the other findings
                problems.append(f"rule {spec.id} failed: {type(e).__name__}: {e}")
        return resolve(found), tuple(problems)

    def diagnose_sweep(self, entries: list[Any]) -> tuple[Finding, ...]:
        found: list[Finding] = []
        for spec, params in self.sweep_rules:
            try:
                found.extend(spec.detect(entries, params))
            except Exception:
                continue
        return rank(found)


def _merge_duplicates(findings: Iterable[Finding]) -> list[Finding]:
    best: dict[str, Finding] = {}
    for f in findings:
        cur = best.get(f.condition)
        if cur is None:
            best[f.condition] = f
            continue
        keep, other = (f, cur) if (f.severity.rank, f.confidence) > (cur.severity.rank, cur.confidence) else (cur, f)
        extra = tuple(r for r in other.remedies if r not in keep.remedies)
        best[f.condition] = dataclasses.replace(keep, remedies=keep.remedies + extra)
    return list(best.values())


def resolve(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Drop conflicts, link root causes to what they explain, merge duplicates, rank."""
    fs = _merge_duplicates(findings)
    fs = [f for f in fs if _survives_conflict(f, fs) and not _noise_explains_spikes(f, fs)]
    present = {f.condition for f in fs}
    by_cond = {f.condition: f for f in fs}
    causes: dict[str, str] = {}  # explained -> cause
    for cause, explained in EXPLAINS.items():
        if cause not in present:
            continue
        for e in explained:
            if e in present and e not in causes and cause != e:
                when = LINK_IF.get((cause, e))
                if when is not None and not when(by_cond[cause], by_cond[e]):
                    continue
                causes[e] = cause
    out = []
    for f in fs:
        ev = dict(f.evidence)
        if f.condition in causes:
            ev["explained_by"] = causes[f.condition]
        explains = sorted(e for e, c in causes.items() if c == f.condition)
        if explains:
            ev["explains"] = explains
            worst = max((by_cond[e].severity for e in explains), key=lambda s: s.rank)
            if worst.rank > f.severity.rank:
                f = dataclasses.replace(f, severity=worst)
        out.append(dataclasses.replace(f, evidence=ev))
    return _one_voice_per_knob(rank(out, causes))


# knobs set to a value (the first finding that sets one governs it) and knobs scaled by a factor
# (a later finding may not turn them the other way)
SET_KNOBS = {"dropout": "rate", "weight_decay": "value"}


def _one_voice_per_knob(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Drop a lower-ranked finding's remedy that contradicts a higher-ranked one's on the same
    knob — another dropout rate or weight decay, a learning rate scaled the other way: the report
    reads most important first, and telling a user to raise dropout and then to remove it leaves
    them with neither (an overfitting run whose validation also sits below train)."""
    set_to: dict[str, Any] = {}
    lr_way: int | None = None
    out = []
    for f in findings:
        keep = []
        for r in f.remedies:
            key = SET_KNOBS.get(r.action)
            if key is not None and r.action in set_to and set_to[r.action] != r.params.get(key):
                continue
            way = _lr_way(r)
            if way and lr_way and way != lr_way:
                continue
            keep.append(r)
        for r in keep:
            if r.action in SET_KNOBS:
                set_to.setdefault(r.action, r.params.get(SET_KNOBS[r.action]))
            lr_way = lr_way or _lr_way(r)
        out.append(f if len(keep) == len(f.remedies) else dataclasses.replace(f, remedies=tuple(keep)))
    return tuple(out)


def _lr_way(r: Remedy) -> int:
    """+1 for a remedy that raises the learning rate, -1 for one that lowers it, 0 otherwise."""
    if r.action != "scale_lr":
        return 0
    factor = float(r.params.get("factor", 1.0))
    return 1 if factor > 1.0 else -1 if factor < 1.0 else 0


def _survives_conflict(f: Finding, fs: list[Finding]) -> bool:
    """False when some other present finding drops f (and f does not drop it back)."""
    for g in fs:
        if g is f or f.condition not in _drops(g):
            continue
        if g.condition in _drops(f):
            if (f.severity.rank, f.confidence) > (g.severity.rank, g.confidence):
                continue  # mutual conflict: the stronger finding stays
        return False
    return True


# (condition, form) -> what that form drops besides the condition's CONFLICTS: a reward or loss
# that has not moved for the last part of the run (plateau's lasting form) is not still
# improving, whatever its last quarter's trend (a warm restart's final anneal, a reward creeping
# to its ceiling)
FORM_CONFLICTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("plateau", "lasting"): ("still-improving",),
    ("plateau", "trained-flat"): ("still-improving",),  # a trained start the whole run barely moved
}


def _drops(f: Finding) -> tuple[str, ...]:
    """The conditions ``f``'s presence drops (:data:`CONFLICTS`, unless its form drops nothing;
    with :data:`FORM_CONFLICTS`)."""
    base = () if _form(f) in NO_CONFLICT_FORMS.get(f.condition, ()) else CONFLICTS.get(f.condition, ())
    return base + FORM_CONFLICTS.get((f.condition, str(_form(f))), ())


def _noise_explains_spikes(f: Finding, fs: list[Finding]) -> bool:
    """lr-too-high's 'spiking' form (climbs above the start in a run that learned) where the
    per-minibatch noise is itself most of the loss's level (gradient-noise): single noisy batches
    climb that high by chance, so the climbs say nothing about the rate — unless a climb went
    orders of magnitude up (100x the start, in its binned medians or in one logged point: no
    minibatch noise of a model that learned throws a batch's loss 100x above an untrained model's;
    the "noise" measured then is the spikes and the falls back down)."""
    if f.condition != "lr-too-high" or f.evidence.get("form") != "spiking":
        return False
    if max(f.evidence.get("highest_climb", 0.0), f.evidence.get("highest_point", 0.0)) >= 100.0:
        return False
    return any(g.condition == "gradient-noise" for g in fs)


def _cause_matches(nonfinite: Finding, cause: str) -> bool:
    c = nonfinite.evidence.get("cause")
    return (cause == "exploding-gradients" and c in ("exploding", "diverging", "sudden")) or (cause == "divergence" and c == "diverging")


def _earlier(a: Finding, b: Finding) -> bool:
    return (a.onset if a.onset is not None else math.inf) <= (b.onset if b.onset is not None else math.inf)


# Faults in what the run was given — its data, its labels, its first output — rather than in how
# the optimisation went: at one severity they go first, since every curve-shape finding of the
# run was read off training on that input (a slow loss on corrupted train labels, a stalled
# start from confident wrong logits), and fixing the input changes all of them.
SETUP_FAULTS = frozenset({"bad-initial-loss", "unshuffled-data", "data-mismatch"})
# A val set too small to measure with is one too: noisy-validation whose accuracy moves in steps
# of 1/n (a val set of n examples), or whose late noise is this many times the train loss's own
# relative noise. Nearer the train loss's noise, weights bouncing at a constant rate move both
# (lr-decay-needed's runs sit at 1.0-2.4x; val sets of 16-20 examples mostly above 3x).
VAL_SET_NOISE_OVER_TRAIN = 3.0


def _setup_fault(f: Finding) -> bool:
    if f.condition == "noisy-validation":
        over = f.evidence.get("late_noise_over_train")
        return bool(f.evidence.get("val_set_size_from_accuracy")) or (over is not None and over >= VAL_SET_NOISE_OVER_TRAIN)
    return f.condition in SETUP_FAULTS


def _key(f: Finding) -> tuple:
    onset = f.onset if f.onset is not None else math.inf
    # at one severity a root cause the analysis linked to other findings goes before a lone one,
    # and a fault in the run's input before a finding about the optimisation
    return (-f.severity.rank, not f.evidence.get("explains"), not _setup_fault(f),
            -round(f.confidence, 6), onset, f.condition)


def rank(findings: Iterable[Finding], causes: Mapping[str, str] | None = None) -> tuple[Finding, ...]:
    """Severity, then causes linked to other findings, then faults in the run's input
    (:data:`SETUP_FAULTS`), then confidence, then onset; a cause goes right before what it
    explains."""
    causes = dict(causes or {})
    fs = sorted(findings, key=_key)
    ordered: list[Finding] = []
    placed: set[str] = set()
    by_cond = {f.condition: f for f in fs}

    def place(f: Finding) -> None:
        if f.condition in placed:
            return
        cause = causes.get(f.condition)
        if cause in by_cond and cause not in placed:
            place(by_cond[cause])
        placed.add(f.condition)
        ordered.append(f)

    for f in fs:
        place(f)
    return tuple(dataclasses.replace(f, priority=i + 1) for i, f in enumerate(ordered))


def severity_at_least(findings: Iterable[Finding], threshold: Severity | None) -> bool:
    if threshold is None:
        return False
    return any(f.severity.rank >= threshold.rank for f in findings)
