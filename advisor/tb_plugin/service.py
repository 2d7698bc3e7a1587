"""Diagnose the runs TensorBoard serves, through the same pipeline as ``advisor analyze``, cached.

Each advisor run is cached with the fingerprint of its data (per tag: newest step and wall
time, as the data provider lists them). A request lists the scalars (cheap: no points move),
re-reads and re-diagnoses only the runs whose fingerprint changed, and drops runs that are gone.
``diagnoses`` counts pipeline calls, so a benchmark or test can see what was recomputed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.model import Finding, Report
from advisor.pipeline import RunAnalysis, diagnose_run
from advisor.render.common import by_severity
from advisor.tb_plugin import source

# Every point the provider holds: TensorBoard's own sampling (``--samples_per_plugin``) is the limit.
DOWNSAMPLE = 10**9


@dataclass(frozen=True)
class Snapshot:
    """The diagnosed logdir at one moment: analyses by run name, ordered as a triage list."""

    analyses: dict[str, RunAnalysis]
    order: tuple[str, ...]
    sweep: tuple[Finding, ...]

    def report(self, run: str | None = None) -> Report:
        names = self.order if run is None else (run,)
        return Report(tuple(self.analyses[n].report for n in names), self.sweep if run is None else ())


class Diagnoser:
    """Cached diagnoses of one TensorBoard data provider's runs."""

    def __init__(self, provider: Any, logdir: str | None, config: AnalyzeConfig | None = None) -> None:
        config = config or AnalyzeConfig()
        self._provider = provider
        self._logdir = logdir
        self._engine = Engine.from_config(config)
        self._mapping = dict(config.signals) or None
        self._cache: dict[str, tuple[tuple, RunAnalysis]] = {}
        self._sweep: tuple[tuple, tuple[Finding, ...]] | None = None
        self._lock = threading.Lock()
        self.diagnoses = 0

    def runs(self, ctx: Any, experiment_id: str) -> list[str]:
        """TensorBoard's run names that hold scalars (cheap: for ``is_active`` and listings)."""
        return sorted(self._list(ctx, experiment_id))

    def _list(self, ctx: Any, experiment_id: str) -> dict:
        return self._provider.list_scalars(ctx, experiment_id=experiment_id, plugin_name=source.SCALARS) or {}

    def snapshot(self, ctx: Any, experiment_id: str) -> Snapshot:
        """Every run diagnosed; only runs whose data changed since the last call are recomputed."""
        listing = self._list(ctx, experiment_id)
        groups = source.group_runs(sorted(listing), self._logdir)
        with self._lock:
            prints = {g.name: source.fingerprint(listing, g) for g in groups}
            stale = [g for g in groups if g.name not in self._cache or self._cache[g.name][0] != prints[g.name]]
            if stale:
                self._refresh(ctx, experiment_id, stale, prints)
            for gone in set(self._cache) - set(prints):
                del self._cache[gone]
            analyses = {g.name: self._cache[g.name][1] for g in groups}
            key = tuple(sorted(prints.items()))
            if self._sweep is None or self._sweep[0] != key:
                self._sweep = (key, tuple(self._engine.diagnose_sweep([a.sweep for a in analyses.values()])))
            sweep = self._sweep[1]
        order = tuple(r.run for r in by_severity(a.report for a in analyses.values()))
        return Snapshot(analyses, order, sweep)

    def _refresh(self, ctx: Any, experiment_id: str, stale: list[source.Group], prints: dict[str, tuple]) -> None:
        from tensorboard.data.provider import RunTagFilter

        members = sorted({r for g in stale for r, _ in g.members})
        data = self._provider.read_scalars(
            ctx, experiment_id=experiment_id, plugin_name=source.SCALARS, downsample=DOWNSAMPLE, run_tag_filter=RunTagFilter(runs=members)
        )
        hp = self._hparams(ctx, experiment_id, members)
        for g in stale:
            run = source.build_run(g, data, source.hparams_of(hp, g), source.config_of(self._logdir, g), self._logdir)
            analysis = diagnose_run(run, self._engine, self._mapping, name=g.name, curves=True).detached()
            self.diagnoses += 1
            self._cache[g.name] = (prints[g.name], analysis)

    def _hparams(self, ctx: Any, experiment_id: str, runs: list[str]) -> dict:
        """The hparams plugin's listing (its metadata holds each run's hparams); empty when unavailable."""
        from tensorboard.data.provider import RunTagFilter

        try:
            return self._provider.list_tensors(
                ctx, experiment_id=experiment_id, plugin_name=source.HPARAMS, run_tag_filter=RunTagFilter(runs=runs, tags=[source.SESSION_START_TAG])
            ) or {}
        except Exception:  # a provider without tensors (or without hparams) still gets scalars diagnosed
            return {}
