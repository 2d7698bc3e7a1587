"""The tuning loop: rounds of diagnose -> patch -> retrain -> verify, and ``tune --live``.

Both start the same way (:func:`open_session`): check the options, open (or resume) the journal
under ``out``, and set up a :class:`~advisor.tune.runner.Runner` for the seeds.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from advisor.errors import UsageError
from advisor.io.parallel import cpu_count
from advisor.model import Severity, jsonable
from advisor.terminal import terminal_safe
from advisor.tune.cache import DEFAULT as DEFAULT_CACHE
from advisor.tune.cache import TrainingCache, cache_root
from advisor.tune.journal import Journal
from advisor.tune.protocol import Trainer, config_hash, config_to_dict
from advisor.tune.result import Attempt, FailedPatch, TuneResult
from advisor.tune.runner import Progress, Runner
from advisor.tune.sequential import OPEN, Decision, decide, first_seed_futile
from advisor.tune.verify import (
    Target,
    answered,
    has_metric,
    compare,
    condition_state,
    findings_of,
    lower_is_better,
    metric_spec,
    metric_values,
    seed_stats,
    shows,
    split,
    targets,
    verdict_text,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class TuneOptions:
    """What ``advisor tune`` is asked to do (everything but the trainer, the config and callbacks)."""

    out: str
    rounds: int = 3
    seeds: int = 2  # seeds per side to start with (sequential verification adds more while undecided)
    metric: str = "val_loss"
    budget: int | None = None  # remedies tried in all; None: 2 per round
    resume: bool = False
    workers: int | None = None  # None: one per seed, at most one per CPU
    base_seed: int = 0
    target: Severity = Severity.WARNING  # the least severe finding to act on
    max_seeds: int | None = None  # most seeds per side; None: max(5, seeds)
    cache: str | None = DEFAULT_CACHE  # the training cache's directory; "default": $ADVISOR_CACHE or ~/.cache; None: off
    early_stop: bool = True  # stop a training once a critical condition is confirmed live (advisor.tune.watch)

    def check(self) -> None:
        metric_spec(self.metric)  # a usage error when it is neither a known metric nor a result key
        if self.rounds < 1 or self.seeds < 1:
            raise UsageError("--rounds and --seeds must be at least 1")
        if self.max_seeds is not None and self.max_seeds < self.seeds:
            raise UsageError("--max-seeds must be at least --seeds")

    @property
    def seed_list(self) -> list[int]:
        return self.seeds_upto(self.seeds)

    def seeds_upto(self, n: int) -> list[int]:
        return [self.base_seed + i for i in range(n)]

    @property
    def most_seeds(self) -> int:
        return self.max_seeds if self.max_seeds is not None else max(5, self.seeds)

    @property
    def max_attempts(self) -> int:
        return self.budget if self.budget is not None else 2 * self.rounds


@dataclass(frozen=True)
class Session:
    """An opened tuning: its journal, the initial config as a dict, the seeds, the runner."""

    trainer: Trainer
    options: TuneOptions
    journal: Journal
    initial: dict[str, Any]
    seeds: list[int]
    runner: Runner


def open_session(trainer: Trainer, config: Mapping[str, Any], options: TuneOptions, progress: Progress | None = None, mode: str | None = None) -> Session:
    """Check the options, open (or resume) the journal under ``options.out``, set up the runner."""
    options.check()
    os.makedirs(options.out, exist_ok=True)
    journal = Journal(os.path.join(options.out, "journal.jsonl"), options.resume)
    for problem in journal.problems:
        print(terminal_safe(f"advisor: {problem}"), file=sys.stderr)
    initial = config_to_dict(config)
    journal.begin(trainer.name, initial, config_hash(initial), options.seeds, options.metric, mode)
    root = cache_root(options.cache)
    cache = TrainingCache(root, trainer.name, trainer.module_name) if root and mode is None else None
    runner = Runner(trainer, options.out, journal, options.workers or max(1, min(options.seeds, cpu_count())), progress, cache, watch=options.early_stop and mode is None)
    return Session(trainer, options, journal, initial, options.seed_list, runner)


def tune(
    trainer: Trainer,
    config: Mapping[str, Any],
    *,
    out: str,
    rounds: int = 3,
    seeds: int = 2,
    metric: str = "val_loss",
    budget: int | None = None,
    resume: bool = False,
    workers: int | None = None,
    base_seed: int = 0,
    target: Severity = Severity.WARNING,
    progress: Progress | None = None,
    log: Log | None = None,
    max_seeds: int | None = None,
    cache: str | None = DEFAULT_CACHE,
    early_stop: bool = True,
) -> TuneResult:
    """The tuning loop; see :mod:`advisor.tune`. ``target``: the least severe finding to act on
    (warning: stop at SPEC's "healthy"; info: also act on advice such as gradient noise).
    ``seeds``: per side to start with, ``max_seeds``: at most (see :mod:`advisor.tune.sequential`);
    ``cache``: see :mod:`advisor.tune.cache` (None: off); ``early_stop``: stop a training once a
    critical condition is confirmed live (:mod:`advisor.tune.watch`)."""
    options = TuneOptions(out, rounds=rounds, seeds=seeds, metric=metric, budget=budget, resume=resume, workers=workers, base_seed=base_seed, target=target, max_seeds=max_seeds, cache=cache, early_stop=early_stop)
    return run_tuning(trainer, config, options, progress=progress, log=log)


def run_tuning(trainer: Trainer, config: Mapping[str, Any], options: TuneOptions, *, progress: Progress | None = None, log: Log | None = None) -> TuneResult:
    """:func:`tune` with its options in one object."""
    tuning = _Tuning(open_session(trainer, config, options, progress), log or (lambda s: None))
    t0 = time.time()  # the reported seconds count the rounds, not opening or reading the journal
    tuning.run_rounds()
    return tuning.finish(time.time() - t0)


@dataclass
class _Tuning:
    """The state of one tuning as its rounds go: the current config, how many seeds it has been
    trained with (a kept remedy's runs are the next round's baseline: nothing is retrained), and
    the remedies tried so far."""

    session: Session
    say: Log
    current: dict[str, Any] = field(init=False)
    current_seeds: int = field(init=False)
    result: TuneResult = field(init=False)
    tried: int = 0

    def __post_init__(self) -> None:
        s = self.session
        self.current = s.initial
        self.current_seeds = len(s.seeds)
        self.result = TuneResult(s.trainer.name, s.options.metric, s.seeds, s.initial, s.initial)

    @property
    def budget_spent(self) -> bool:
        return self.tried >= self.session.options.max_attempts

    def train(self, config: dict[str, Any], n: int | None = None) -> list[dict[str, Any]]:
        """The records of ``config`` trained with the first ``n`` seeds (default: the starting
        seeds), its median curves kept for the plots."""
        seeds = self.session.options.seeds_upto(n) if n is not None else self.session.seeds
        records = self.session.runner.train_all(config, seeds)
        self.result.curves[config_hash(config)] = self.session.runner.median_curves(records)
        return records

    def run_rounds(self) -> None:
        for rnd in range(1, self.session.options.rounds + 1):
            stop = self._round(rnd)
            if stop is not None:
                self.result.stop_reason = stop
                return
        last = self.train(self.current, self.current_seeds)
        self.result.stop_reason = "healthy" if not targets(last, self.session.options.target) else "rounds spent"

    def _round(self, rnd: int) -> str | None:
        """One round from the current config; why tuning stops, or None when a remedy was kept."""
        before = self.train(self.current, self.current_seeds)
        failed = [r for r in before if not r.get("ok")]
        if len(failed) > len(before) / 2:  # a crashed training is not a healthy one
            return f"training failed: {failed[0].get('error', 'unknown error')}"
        if not has_metric(before, self.session.options.metric):
            keys = sorted({k for r in before for k in (r.get("result") or {})})
            raise UsageError(f"metric {self.session.options.metric!r} is not in the trainer's result (it has: {', '.join(keys) or 'nothing'})")
        todo = targets(before, self.session.options.target)
        while not todo and split(before, _at_least_warning(self.session.options.target)) and self.current_seeds < self.session.options.most_seeds:
            self.current_seeds += 1  # a warning in exactly half the seeds is undecided, not healthy: one more seed decides it
            self.say(f"round {rnd}: a condition in half the seeds -> one more seed of the current config")
            before = self.train(self.current, self.current_seeds)
            todo = targets(before, self.session.options.target)
        if not todo:
            return "healthy"
        if todo[0].unrepairable:  # only a person can act on the top finding: say so, train nothing
            return f"not auto-repairable: {todo[0].unrepairable}"
        trained = False
        for target in todo:
            for remedy in target.remedies:
                if self.budget_spent:
                    break
                kept = self._attempt(rnd, target, remedy, before)
                if kept:
                    return None
                trained = trained or kept is not None
            if self.budget_spent:
                break
        if not trained and todo[0].manual:  # no auto remedy changes this trainer's config
            return f"not auto-repairable: {todo[0].manual[0]}"
        return "budget spent" if self.budget_spent else "nothing helped"

    def _attempt(self, rnd: int, target: Target, remedy: Mapping[str, Any], before: list[dict[str, Any]]) -> bool | None:
        """Patch, train and judge one remedy: True when it is kept (and becomes the current config),
        False when it was trained and not kept, None when nothing was trained (no patch for it)."""
        applied = {"action": remedy["action"], "params": dict(remedy.get("params") or {})}
        try:
            patched = self.session.trainer.apply(self.current, remedy)
        except (ValueError, TypeError, KeyError) as e:
            self.result.attempts.append(FailedPatch(rnd, target.condition, applied, str(e)).to_dict())
            return None
        if config_hash(patched) == config_hash(self.current):
            return None  # a no-op for this config
        self.tried += 1
        self.say(f"round {rnd}: {target.condition} in {target.seeds}/{len(before)} seeds -> trying {remedy['action']} {remedy['params']}")
        before, after, decision = self._verify(target, patched, before)
        attempt = self._judge(rnd, target, applied, before, after, decision, config_hash(patched))
        entry = attempt.to_dict()
        self.result.attempts.append(entry)
        self.session.journal.write({"type": "attempt", **entry})
        self._log_verdict(attempt, entry)
        if attempt.kept:
            self.result.rounds.append(entry)
            self.current, self.current_seeds = patched, len(after)
        return attempt.kept

    def _verify(self, target: Target, patched: dict[str, Any], before: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Decision]:
        """Sequential verification (:mod:`advisor.tune.sequential`): the candidate starts with the
        starting seeds and gains one more on each side while the decision is open (the metric
        test undecided, or the metric accepted with the condition gone in exactly half the seeds).
        How many seeds of each side show the condition goes with it: the condition test at the last look.
        When the starting seeds would train one at a time anyway, the first one is looked at alone
        first (:func:`~advisor.tune.sequential.first_seed_futile`)."""
        o = self.session.options
        lo, hi = len(self.session.seeds), o.most_seeds
        metric, lower = o.metric, lower_is_better(o.metric)
        if lo >= 2 and self.session.runner.workers < lo:
            first = self.train(patched, 1)
            futile = first_seed_futile(metric_values(before, metric), metric_values(first, metric)[0], lower, shows(first, target.condition) > 0)
            if futile is not None:
                return before, first, futile
        n = lo
        while True:
            after = self.train(patched, n)
            if len(before) < n:
                before = self.train(self.current, n)
            present = (shows(before, target.condition), shows(after, target.condition))
            d = decide(metric_values(before, metric), metric_values(after, metric), lower, hi - lo + 1, last=n >= hi, present=present, max_seeds=hi)
            tie = d.accepted and 2 * condition_state(after, target.condition, before[:n]).seeds == n
            if n < hi and (d.state == OPEN or tie):
                n += 1
                continue
            return before, after, d

    def _judge(self, rnd: int, target: Target, applied: dict[str, Any], before: list[dict[str, Any]], after: list[dict[str, Any]], decision: Decision, h_after: str) -> Attempt:
        metric = self.session.options.metric
        mb, ma = metric_values(before, metric), metric_values(after, metric)
        state = answered(target.condition, condition_state(after, target.condition, before[: len(after)]), decision.accepted)
        comparison = dataclasses.replace(compare(mb[: len(ma)], ma, lower_is_better(metric)), improved=decision.accepted)
        return Attempt(
            rnd, target.condition, applied, metric, seed_stats(mb), seed_stats(ma), state.gone, state.seeds,
            comparison, config_hash(self.current), h_after, decision,
        )

    def _log_verdict(self, a: Attempt, entry: Mapping[str, Any]) -> None:
        c = a.comparison
        self.say(
            f"  -> {verdict_text(entry)}: condition gone in {a.gone_in_seeds}/{c.seeds}{_by_gain(a)}, {a.metric} "
            f"{a.before['mean']:.4g} -> {a.after['mean']:.4g} (noise {c.noise:.2g}, effect {c.effect_size:.2g}; {a.decision.reason})"
        )

    def finish(self, seconds: float) -> TuneResult:
        """Fill in the final config's conditions and metrics (from the journal: nothing retrains)."""
        s, r = self.session, self.result
        r.final_config = self.current
        final = s.runner.train_all(self.current, s.options.seeds_upto(self.current_seeds))
        first = s.runner.train_all(s.initial, s.seeds)
        r.final_conditions = [[f.condition for f in findings_of(rec)] for rec in final]
        r.final_metric = metric_values(final, s.options.metric)
        r.initial_metric = metric_values(first, s.options.metric)
        r.trainings = len(s.journal.runs)
        r.seconds = seconds
        s.journal.write({"type": "end", "stop_reason": r.stop_reason, "final_config_hash": config_hash(self.current), "verified": r.verified})
        return r


def _at_least_warning(target: Severity) -> Severity:
    """The least severity whose 1:1 split of the seeds earns one more seed: warning, or the target
    when it is stricter (a split of advice alone is common and not worth a training)."""
    return target if target.rank >= Severity.WARNING.rank else Severity.WARNING


# ----------------------------------------------------------------------------- live mode


def tune_live(trainer: Trainer, config: Mapping[str, Any], *, out: str, seeds: int = 3, metric: str = "val_loss", resume: bool = False, workers: int | None = None) -> dict[str, Any]:
    """Each seed trained twice: plain, and with live remedies applied as findings arrive.

    Returns SPEC-style before/after statistics (plain vs live), the paired comparison, and per
    seed what the live monitor found and which remedy it applied at which step.
    """
    s = open_session(trainer, config, TuneOptions(out, seeds=seeds, metric=metric, resume=resume, workers=workers), mode="live")
    plain = s.runner.train_all(s.initial, s.seeds)
    live = s.runner.train_all(s.initial, s.seeds, live=True)
    for rec in (*plain, *live):
        if not rec.get("ok") and rec.get("usage"):
            raise UsageError(rec["error"])
    mp_, ml = metric_values(plain, metric), metric_values(live, metric)
    cmp = compare(mp_, ml, lower_is_better(metric))
    per_seed = [_live_seed(seed, a, b) for seed, a, b in zip(s.seeds, plain, live)]
    return jsonable(
        {
            "backend": trainer.name,
            "mode": "live",
            "metric": metric,
            "verified": bool(cmp.improved) and any(p["applied"] for p in per_seed),
            "before": seed_stats(mp_),
            "after": seed_stats(ml),
            "improvement": cmp.improvement,
            "noise": cmp.noise,
            "effect_size": cmp.effect_size,
            "improved_seeds": cmp.improved_seeds,
            "per_seed": per_seed,
            "config": s.initial,
        }
    )


def _live_seed(seed: int, plain: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """One seed of ``tune --live``: what the plain run showed, what the live run found and applied."""
    res = live.get("result") or {}
    return {
        "seed": seed,
        "plain_findings": [f.condition for f in findings_of(plain)],
        "live_findings": res.get("live_findings", []),
        "applied": res.get("applied", []),
        "plain_steps": (plain.get("result") or {}).get("steps"),
        "live_steps": res.get("steps"),
        "stop_reason": res.get("stop_reason", ""),
    }


def _by_gain(a: Attempt) -> str:
    """A note when the condition counts as answered by a clear gain rather than gone."""
    return " (answered by the gain: the longer runs are clearly better)" if a.condition_gone and 2 * a.gone_in_seeds <= a.comparison.seeds else ""
