"""The statistics of ``advisor tune``: target metrics over seeds, paired comparisons, whether a
condition went away, and which conditions to act on.

Works on journal ``run`` records (see :mod:`advisor.tune.journal`); their findings are read back
as :class:`~advisor.model.Finding` objects with ``Finding.from_dict``, once per question.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from advisor.errors import UsageError
from advisor.model import Finding, Severity
from advisor.tune.watch import FAILED

WEAKER_BY = 0.25  # confidence drop that counts as "clearly weaker" at the same severity

# metric name -> (result key(s) tried in order, lower is better)
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "val_loss": (("final_val_loss", "best_val_loss"), True),
    "best_val_loss": (("best_val_loss",), True),
    "val_accuracy": (("final_val_accuracy", "best_val_accuracy"), False),
    "best_val_accuracy": (("best_val_accuracy",), False),
    "test_loss": (("test_loss",), True),
    "test_accuracy": (("test_accuracy",), False),
}


_HIGHER = ("acc", "f1", "auc", "map", "bleu", "rouge", "iou", "precision", "recall", "score", "reward", "return")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def metric_spec(metric: str) -> tuple[tuple[str, ...], bool]:
    """(result keys tried in order, lower is better) for a metric name: one of :data:`METRICS`, or
    any key of the trainer's result (``accuracy``, ``val_f1``), with ``:max`` / ``:min`` to say its
    direction (default: higher is better when the name says accuracy, F1, AUC, mAP, ..., else lower)."""
    if metric in METRICS:
        return METRICS[metric]
    key, _, direction = metric.partition(":")
    if not _KEY.fullmatch(key) or direction not in ("", "max", "min"):
        raise UsageError(f"unknown metric {metric!r} (known: {', '.join(METRICS)}, or a key of the trainer's result, e.g. val_acc:max)")
    lower = direction == "min" if direction else not any(h in key.lower() for h in _HIGHER)
    return (key,), lower


def lower_is_better(metric: str) -> bool:
    return metric_spec(metric)[1]


def has_metric(records: Sequence[Mapping[str, Any]], metric: str) -> bool:
    """Does any finished record's result hold the metric (a finite number or not)?"""
    keys = metric_spec(metric)[0]
    return any(rec.get("ok") and any((rec.get("result") or {}).get(k) is not None for k in keys) for rec in records)


def findings_of(record: Mapping[str, Any]) -> tuple[Finding, ...]:
    """A journaled run's findings as objects."""
    return tuple(Finding.from_dict(f) for f in record.get("findings") or ())


def metric_values(records: Sequence[Mapping[str, Any]], metric: str) -> list[float]:
    """Per seed; a failed or diverged run counts as the worst value (inf for a loss), and so does
    a run tune stopped for a NaN or a divergence (:data:`advisor.tune.watch.FAILED`)."""
    keys, lower = metric_spec(metric)
    worst = math.inf if lower else -math.inf
    out = []
    for rec in records:
        v = None
        if rec.get("ok") and (rec.get("stopped") or {}).get("condition") not in FAILED:
            res = rec.get("result") or {}
            for k in keys:
                if res.get(k) is not None:
                    v = res[k]
                    break
        try:
            f = float(v) if v is not None else worst
        except (TypeError, ValueError):
            f = worst
        out.append(f if math.isfinite(f) else worst)
    return out


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean (a diverged seed's worst value propagates), std over finite seeds, per-seed values
    (SPEC §5's ``before``/``after`` object)."""
    a = np.asarray(values, dtype=float)
    fin = a[np.isfinite(a)]
    mean = float(np.mean(a)) if a.size else math.nan
    std = float(np.std(fin, ddof=1)) if fin.size >= 2 else 0.0
    return {"mean": mean, "std": std, "per_seed": [float(x) for x in a]}


@dataclass(frozen=True)
class Comparison:
    """A paired before/after comparison over seeds (positive improvement = better)."""

    improvement: float  # mean paired gain; inf when a seed was rescued from divergence
    noise: float  # seed-to-seed noise: pooled std of both sides
    effect_size: float  # mean / std of the paired differences
    improved_seeds: int
    seeds: int
    improved: bool  # better in a majority of seeds, by more than the noise


def compare(before: Sequence[float], after: Sequence[float], lower_is_better: bool) -> Comparison:
    """Paired comparison: improvement per seed, its mean, the seed noise, the effect size."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    with np.errstate(invalid="ignore"):
        d = (b - a) if lower_is_better else (a - b)  # positive = better
    d = np.where(np.isnan(d), 0.0, d)  # worst -> worst: no change
    k = d.size
    improved = int(np.sum(d > 0))
    fin_b, fin_a = b[np.isfinite(b)], a[np.isfinite(a)]
    var = [np.var(x, ddof=1) for x in (fin_b, fin_a) if x.size >= 2]
    noise = float(math.sqrt(np.mean(var))) if var else 0.0
    mean_d = float(np.mean(d))  # a seed rescued from divergence counts as an infinite gain
    if math.isnan(mean_d):  # rescued and ruined seeds at once: no verdict from the mean
        mean_d = 0.0
    sd = float(np.std(d, ddof=1)) if k >= 2 and np.all(np.isfinite(d)) else 0.0
    effect = mean_d / sd if sd > 0 else (math.inf if mean_d > 0 else (0.0 if mean_d == 0 else -math.inf))
    majority = improved > k / 2
    if k >= 2:
        better = majority and mean_d > noise
    else:  # one seed: no noise estimate; require a clear relative gain
        ref = abs(float(b[0])) if np.isfinite(b[0]) and b[0] != 0 else 1.0
        better = majority and mean_d > 0.01 * ref
    return Comparison(mean_d, noise, effect, improved, k, bool(better))


#: Conditions that say "more of the same would still gain" (the run stopped while improving):
#: the remedy (train longer) answers them when the longer runs are clearly better, even if those
#: are still improving at their own end — a loss can go on falling for a long time.
GAIN_ANSWERS = frozenset({"still-improving"})


def answered(condition: str, state: "ConditionState", accepted: bool) -> "ConditionState":
    """``state``, or — for a condition in :data:`GAIN_ANSWERS` whose remedy the sequential test
    accepted — the condition counted as answered in every seed."""
    if condition in GAIN_ANSWERS and accepted and not state.gone:
        return ConditionState(True, state.seeds, answered_by_gain=True)
    return state


@dataclass(frozen=True)
class ConditionState:
    gone: bool  # gone (or clearly weaker) in a majority of seeds
    seeds: int  # how many seeds it is gone or clearly weaker in
    answered_by_gain: bool = False  # GAIN_ANSWERS: the clear gain is the answer, the finding may stay


def _find(findings: Sequence[Finding], condition: str) -> Finding | None:
    return next((f for f in findings if f.condition == condition), None)


def _weaker(now: Finding, ref: Finding) -> bool:
    """Lower severity, or the same severity with confidence down by :data:`WEAKER_BY`."""
    rank_now, rank_ref = now.severity.rank, ref.severity.rank
    return rank_now < rank_ref or (rank_now == rank_ref and now.confidence <= ref.confidence - WEAKER_BY)


def condition_state(records: Sequence[Mapping[str, Any]], condition: str, reference: Sequence[Mapping[str, Any]] | None = None) -> ConditionState:
    """Is ``condition`` gone from ``records`` (compared seed by seed with ``reference``)?"""
    gone = 0
    for i, rec in enumerate(records):
        f = _find(findings_of(rec), condition)
        if f is None:
            if rec.get("ok") or not reference:  # a crashed run shows no finding, but is not cured
                gone += 1
            continue
        if reference is not None and i < len(reference):
            r = _find(findings_of(reference[i]), condition)
            if r is not None and _weaker(f, r):
                gone += 1
    return ConditionState(gone > len(records) / 2, gone)


def shows(records: Sequence[Mapping[str, Any]], condition: str) -> int:
    """How many records show ``condition`` at any severity; a failed run counts as showing it (not
    cured). The same for every run on either side: the condition test's outcome per seed."""
    return sum(1 for rec in records if not rec.get("ok") or _find(findings_of(rec), condition) is not None)


@dataclass(frozen=True)
class Target:
    """A condition to act on, with the ``auto`` remedies to try in order (SPEC §3 dicts)."""

    condition: str
    severity: Severity
    seeds: int
    remedies: tuple[dict[str, Any], ...]
    summary: str
    manual: tuple[str, ...] = ()  # the manual remedies in words ("check_data: labels against inputs")

    @property
    def unrepairable(self) -> str | None:
        """The first manual remedy when there is no ``auto`` one: what a person must do instead."""
        return self.manual[0] if self.manual and not self.remedies else None


def targets(records: Sequence[Mapping[str, Any]], min_severity: Severity = Severity.WARNING) -> list[Target]:
    """Conditions at or above ``min_severity`` in a majority of seeds, most important first.

    Ordered by seeds affected, severity, then mean priority; remedies are the ``auto`` ones in the
    order of the seed whose finding ranked highest, with numeric parameters replaced by their
    median across seeds (e.g. the early-stop step).
    """
    per: dict[str, list[Finding]] = {}
    for rec in records:
        for f in findings_of(rec):
            if f.severity.rank >= min_severity.rank:
                per.setdefault(f.condition, []).append(f)
    k = len(records)
    ranked = []
    for cond, fs in per.items():
        if len(fs) <= k / 2:
            continue
        best = min(fs, key=lambda f: f.priority)
        sev = max((f.severity for f in fs), key=lambda s: s.rank)
        target = Target(cond, sev, len(fs), _median_remedies(best, fs), best.summary, _manual(best))
        ranked.append(((-len(fs), -sev.rank, float(np.mean([f.priority for f in fs])), cond), target))
    ranked.sort(key=lambda kt: kt[0])
    return [t for _, t in ranked]


def split(records: Sequence[Mapping[str, Any]], min_severity: Severity = Severity.WARNING) -> bool:
    """Is a condition at or above ``min_severity`` found in exactly half the seeds (no majority
    either way: :func:`targets` leaves it out, yet the config is not shown healthy)?"""
    counts: dict[str, int] = {}
    for rec in records:
        for cond in {f.condition for f in findings_of(rec) if f.severity.rank >= min_severity.rank}:
            counts[cond] = counts.get(cond, 0) + 1
    return any(2 * c == len(records) for c in counts.values())


def _manual(f: Finding) -> tuple[str, ...]:
    """A finding's manual remedies in words: the action and its parameters' values."""
    out = []
    for r in f.remedies:
        if r.kind == "manual":
            words = "; ".join(str(v) for v in r.params.values() if v not in (None, ""))
            out.append(f"{r.action}: {words}" if words else r.action)
    return tuple(out)


def _median_remedies(best: Finding, fs: Sequence[Finding]) -> tuple[dict[str, Any], ...]:
    """``best``'s auto remedies, each numeric parameter the median of that parameter over ``fs``."""
    rems = []
    for r in best.remedies:
        if r.kind != "auto":
            continue
        params = dict(r.params)
        for p, v in params.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                vals = [x.params[p] for f in fs for x in f.remedies if x.action == r.action and isinstance(x.params.get(p), (int, float))]
                if vals:
                    med = float(np.median(vals))
                    params[p] = round(med) if isinstance(v, int) else med
        rems.append({"action": r.action, "params": params, "rationale": r.rationale})
    return tuple(rems)


def verdict_text(a: Mapping[str, Any]) -> str:
    """One attempt's verdict in words (the log, the table and the HTML page say the same)."""
    if a["verified"]:
        return "verified"
    if a.get("kept"):
        return "kept: clear gain, condition stays"
    return "condition stays" if not a["condition_gone"] else "no clear gain"
