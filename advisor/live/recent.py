"""The live monitor's recent-window view: divergence judged on the last steps alone.

The divergence rule was written for finished runs: it wants the rise to persist over a fraction
of the whole run and measures the end level over its last tenth, so on a long run it would fire
late. The monitor therefore also runs it on the last ``recent`` steps (default ``2 * every``),
as a :data:`advisor.pipeline.View` merged into the diagnosis of the whole run, and keeps that
finding only when the recent rise also gives back ``min_rise`` of the whole run's gain (or ends
above its initial level), so a bump in a flat tail is not called a divergence. A divergence is
then caught within about one cadence window at any step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.io.roles import Signals
from advisor.model import Finding, Role, Run, Series
from advisor.pipeline import View, diagnose_run

if TYPE_CHECKING:
    from advisor.rules.base import Context

#: Conditions also checked on the recent steps alone, so that they are caught within about one
#: cadence window however long the run already is.
RECENT_RULES = ("divergence",)

#: The divergence rule's default ``min_rise``, for a config that does not run that rule.
DEFAULT_MIN_RISE = 0.25


def min_rise(active: Mapping[str, Any]) -> float:
    """The share of its gain a train loss must give back to count as a rise (the divergence
    rule's ``min_rise``); ``active``: rule id -> params of the engine's rules."""
    return getattr(active.get("divergence"), "min_rise", DEFAULT_MIN_RISE)


class RecentWindow:
    """Runs :data:`RECENT_RULES` on the last ``steps`` steps of a run; see the module docstring."""

    def __init__(self, engine: Engine | None, steps: int, min_rise: float) -> None:
        self.engine = engine  # None: none of RECENT_RULES is selected, the view finds nothing
        self.steps = steps
        self.min_rise = min_rise

    @classmethod
    def for_config(cls, config: AnalyzeConfig, active: Mapping[str, Any], steps: int) -> RecentWindow:
        """The view for a monitor whose engine runs the rules ``active`` (id -> params)."""
        fast = tuple(r for r in RECENT_RULES if r in active)
        engine = Engine.from_config(AnalyzeConfig(rules=config.rules, select=fast)) if fast else None
        return cls(engine, steps, min_rise(active))

    def at(self, step: int | None) -> View:
        """The view of a run whose latest recorded step is ``step``."""
        return lambda run, signals, ctx: self.findings(run, signals, ctx, step)

    def findings(self, run: Run, signals: Signals, ctx: Context, step: int | None) -> list[Finding]:
        """Divergence on the last ``steps`` steps before ``step``, kept when it is one for the
        whole run too (tagged ``evidence["view"]``)."""
        if self.engine is None or step is None or not self.steps or ctx.workload not in ("supervised", "unknown"):
            return []  # a supervised loss check: not for RL or GAN losses (whatever set the workload)
        lo = step - self.steps
        series = {}
        for tag, s in run.series.items():
            keep = s.steps > lo
            if keep.any():
                series[tag] = Series.from_points(tag, s.steps[keep], s.values[keep], s.wall_times[keep])
        tail = Run(name=run.name, path="", series=series, hparams=run.hparams)
        t = signals.roles.get(Role.TRAIN_LOSS)
        if t is None or t not in series or len(series[t]) < 0.8 * self.steps / max(_spacing(run.series[t]), 1):
            return []  # the recent view needs a train loss that covers it (not the run's first steps)
        mapping = {r.value: k for r, k in signals.roles.items() if k in series}
        found = diagnose_run(tail, self.engine, mapping, partial=True).report.findings
        return [dataclasses.replace(f, evidence={**f.evidence, "view": f"last {self.steps} steps"}) for f in found if self._rise_counts(f, ctx)]

    def _rise_counts(self, f: Finding, ctx: Context) -> bool:
        c = ctx.train
        final = f.evidence.get("final_loss")
        if c is None or c.n == 0 or not isinstance(final, (int, float)):
            return False
        start, low = c.start(), float(np.min(c.bvals))
        return bool(final > start or final - low >= self.min_rise * max(start - low, 0.0) > 0)


def _spacing(s: Series) -> float:
    return float(np.median(np.diff(s.steps[-64:]))) if len(s) > 1 else 1.0
