"""What a tuning produces: one :class:`Attempt` per remedy tried, and the :class:`TuneResult`.

Both turn into the dicts SPEC §5's JSON and the journal hold (``to_dict``); the result keeps those
dicts in ``rounds`` and ``attempts``, the form the reports, benchmarks and tests read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from advisor.model import Curves, jsonable
from advisor.tune.protocol import config_diff
from advisor.tune.sequential import Decision
from advisor.tune.verify import Comparison


@dataclass(frozen=True)
class Attempt:
    """One remedy trained over the seeds and judged against the config it patched."""

    round: int
    condition: str
    applied: Mapping[str, Any]  # {"action": ..., "params": {...}}
    metric: str
    before: Mapping[str, Any]  # seed_stats of the metric before and after
    after: Mapping[str, Any]
    condition_gone: bool
    gone_in_seeds: int
    comparison: Comparison
    config_hash_before: str
    config_hash_after: str
    decision: Decision  # the sequential test's last look (its verdict is comparison.improved)

    @property
    def verified(self) -> bool:
        """The condition is gone and the metric improved beyond the noise."""
        return self.condition_gone and self.comparison.improved

    @property
    def kept(self) -> bool:
        """Verified, or a clear gain while the condition stays: the next round starts from it."""
        return self.verified or self.comparison.improved

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "round": self.round,
            "condition": self.condition,
            "applied": dict(self.applied),
            "metric": self.metric,
            "before": dict(self.before),
            "after": dict(self.after),
            "condition_gone": self.condition_gone,
            "gone_in_seeds": self.gone_in_seeds,
            "improvement": c.improvement,
            "noise": c.noise,
            "effect_size": c.effect_size,
            "improved_seeds": c.improved_seeds,
            "verified": self.verified,
            "kept": self.kept,
            "config_hash_before": self.config_hash_before,
            "config_hash_after": self.config_hash_after,
            "seeds": c.seeds,
            "p_value": self.decision.p_value,
            "test_level": self.decision.level,
            "decision": self.decision.reason,
        }


@dataclass(frozen=True)
class FailedPatch:
    """A remedy the trainer could not apply to the config (nothing was trained)."""

    round: int
    condition: str
    applied: Mapping[str, Any]
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.round, "condition": self.condition, "applied": dict(self.applied), "verified": False, "error": self.error}


@dataclass
class TuneResult:
    backend: str
    metric: str
    seeds: list[int]
    initial_config: dict[str, Any]
    final_config: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)  # applied changes: verified, or kept for a clear gain
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every remedy tried
    stop_reason: str = ""
    trainings: int = 0
    seconds: float = 0.0
    curves: dict[str, Curves] = field(default_factory=dict)  # config hash -> median curves, for plots
    final_conditions: list[list[str]] = field(default_factory=list)  # per seed, with the final config
    final_metric: list[float] = field(default_factory=list)  # per seed, with the final config
    initial_metric: list[float] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when a verified change was applied, or the runs were healthy to begin with."""
        return any(r["verified"] for r in self.rounds) or (self.stop_reason == "healthy" and bool(self.curves))

    def to_dict(self) -> dict[str, Any]:
        """SPEC §5's object (plus extra keys); non-finite numbers become strings ('inf')."""
        return jsonable({
            "backend": self.backend,
            "verified": self.verified,
            "rounds": self.rounds,
            "initial_config": self.initial_config,
            "final_config": self.final_config,
            "metric": self.metric,
            "seeds": self.seeds,
            "attempts": self.attempts,
            "stop_reason": self.stop_reason,
            "config_diff": {k: list(v) for k, v in config_diff(self.initial_config, self.final_config).items()},
            "trainings": self.trainings,
            "seconds": round(self.seconds, 1),
            "final_conditions": self.final_conditions,
            "initial_metric": self.initial_metric,
            "final_metric": self.final_metric,
        })
