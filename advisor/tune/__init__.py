"""``advisor tune``: apply recommendations on a reference trainer and verify them over seeds.

A round diagnoses the current config's runs (2 seeds to start with), takes the finding present
in most seeds that ranks highest (a warning found in exactly half the seeds is undecided, not
healthy: one more seed of the config decides it, and stays in its baseline), and tries its
``auto`` remedies in order: patch the config,
train the patched config, and verify sequentially (:mod:`~advisor.tune.sequential`) —

* the target metric is better than the baseline's by a one-sided Welch t-test at each look and
  in a majority of seeds — or, at the last look, better on average and in most seeds with the
  condition in every baseline seed and no candidate seed (Fisher's exact test; alpha 0.05 over
  all the tests, Bonferroni); while undecided one more seed is trained per side, up to
  ``max_seeds`` (5);
* the condition is gone (or clearly weaker: lower severity, or confidence down by
  ``WEAKER_BY``) in a majority of the seeds used.

A verified remedy becomes the new config, and its runs are the next round's baseline (nothing
is retrained). A remedy that improved the metric while its condition stayed is kept too
(``"kept": true``, ``"verified": false``): throwing away a clear gain helps nobody, and the next
round diagnoses the better config again. Any other attempt is recorded and the next candidate
(then the next finding) is tried, within a budget. Tuning stops when the runs are healthy, the
budget or the rounds are spent, nothing helps, or the top finding has only manual remedies
("not auto-repairable: <what a person must do>", no candidate trained).

A training stops early once its live monitor confirms a critical NaN, divergence or lr-too-high
(:mod:`~advisor.tune.watch`, passed as ``callback=`` to trainers whose ``train`` names one): a run
stopped for a NaN or a divergence scores as diverged, one stopped for lr-too-high by its metric at
the stop, and the finding it was stopped for stays with the run.

Every finished training is appended to ``journal.jsonl`` under ``--out`` (flushed and fsynced),
keyed by the config's hash and the seed; ``--resume`` reuses finished runs, so killing the
process at any moment loses no result. Seeds train in parallel worker processes. Finished
trainings are also kept in a content-addressed cache shared by every tuning
(:mod:`~advisor.tune.cache`; ``--no-cache``).

Trainers are reached through a small protocol and loaded by name; the core never imports them.

Modules, lowest first: :mod:`~advisor.tune.protocol` (what a trainer provides, loading one by
name, config hashing and diffs), :mod:`~advisor.tune.watch` (the early stop), :mod:`~advisor.tune.journal` (the journal and resume),
:mod:`~advisor.tune.verify` (metrics, conditions, targets), :mod:`~advisor.tune.sequential` (the
sequential test), :mod:`~advisor.tune.cache` (finished trainings by content), :mod:`~advisor.tune.executors` (local worker
processes), :mod:`~advisor.tune.runner` (a config over seeds, each run diagnosed once),
:mod:`~advisor.tune.result` (attempts and the result), :mod:`~advisor.tune.loop` (the rounds,
and ``tune --live``). The command (``advisor.commands.tune``) and the report
(``advisor.render.tune_report``) sit above this package; it imports neither.
"""

from advisor.tune.journal import Journal
from advisor.tune.loop import Session, TuneOptions, open_session, run_tuning, tune, tune_live
from advisor.tune.protocol import (
    BACKENDS,
    Trainer,
    TrainerModule,
    config_diff,
    config_hash,
    config_to_dict,
    load_trainer,
)
from advisor.tune.result import Attempt, FailedPatch, TuneResult
from advisor.tune.verify import (
    METRICS,
    WEAKER_BY,
    Comparison,
    ConditionState,
    Target,
    compare,
    condition_state,
    metric_values,
    seed_stats,
    targets,
    verdict_text,
)

__all__ = [
    "BACKENDS",
    "METRICS",
    "WEAKER_BY",
    "Attempt",
    "Comparison",
    "ConditionState",
    "FailedPatch",
    "Journal",
    "Session",
    "Target",
    "Trainer",
    "TrainerModule",
    "TuneOptions",
    "TuneResult",
    "compare",
    "condition_state",
    "config_diff",
    "config_hash",
    "config_to_dict",
    "load_trainer",
    "metric_values",
    "open_session",
    "run_tuning",
    "seed_stats",
    "targets",
    "tune",
    "tune_live",
    "verdict_text",
]
