"""``advisor tune`` on every pathological recipe, both backends: how often is it repaired and verified?

    python benchmarks/bench_tune.py                      # all recipes, torch and jax, 3 seeds
    python benchmarks/bench_tune.py --backend torch --only overfitting --seeds 2
    python benchmarks/bench_tune.py --out bench-tune     # keep journals (re-running resumes them)

Per recipe: tune with up to 3 rounds (``--target info`` so info-level conditions count too), and
call it repaired when at least one verified change was applied and the recipe's condition is
gone from the final config's runs, or clearly weaker than in the initial ones (tune's own test),
in a majority of seeds. Prints the table, the share repaired,
median rounds, the training compute a tuning spent (all seeds and attempts, from the journal;
also relative to one training of the final config) and the median
metric change. For reference, the best prior system reports 97.8% repaired on its own
benchmark (single seed, from-scratch retraining, about 1.2x training time).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from advisor.model import Severity  # noqa: E402
from advisor.tune import load_trainer, tune  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("torch", "jax", "both"), default="both")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="keep journals here (resumable); default: a temporary directory")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    from backends import recipes

    names = a.only or [r.name for r in recipes.RECIPES if r.condition != "healthy"]
    backends = ("torch", "jax") if a.backend == "both" else (a.backend,)
    root = a.out or tempfile.mkdtemp(prefix="bench-tune-")
    rows = []
    print(f"{'backend':7s} {'recipe':26s} {'condition':22s} {'rounds':>6s} {'repaired':>8s} {'metric before -> after':>26s} {'trainings':>9s} {'compute':>8s} {'x1 run':>7s}  applied")
    for backend in backends:
        trainer = load_trainer(backend)
        for name in names:
            recipe = recipes.BY_NAME[name]
            cfg = recipes.config(recipe).to_dict()
            out = os.path.join(root, backend, name)
            t = time.time()
            r = tune(trainer, cfg, out=out, rounds=a.rounds, seeds=a.seeds, target=Severity.INFO, resume=os.path.exists(os.path.join(out, "journal.jsonl")), workers=a.workers)
            wall = time.time() - t
            runs = _journal_runs(out)
            gone = _gone(runs, r, recipe.condition)
            repaired = any(x["verified"] for x in r.rounds) and gone
            one = _one_run_seconds(runs, r)
            compute = _compute_seconds(runs)
            before = statistics.fmean(r.initial_metric) if r.initial_metric else math.nan
            after = statistics.fmean(r.final_metric) if r.final_metric else math.nan
            applied = "; ".join(f"{x['applied']['action']} {x['applied']['params']}" for x in r.rounds) or r.stop_reason
            rows.append({"backend": backend, "recipe": name, "rounds": len(r.rounds), "repaired": repaired, "wall": wall, "compute": compute, "one": one, "before": before, "after": after, "trainings": r.trainings})
            print(f"{backend:7s} {name:26s} {recipe.condition:22s} {len(r.rounds):6d} {str(repaired):>8s} {before:12.4g} -> {after:<11.4g} {r.trainings:9d} {compute:7.0f}s {compute / one if one else math.nan:6.1f}x  {applied}", flush=True)
    done = [x for x in rows if x["repaired"]]
    print()
    print(f"repaired and verified within {a.rounds} rounds: {len(done)}/{len(rows)} = {len(done) / max(len(rows), 1):.1%} (target >= 90%)")
    if done:
        print(f"median rounds (repaired): {statistics.median(x['rounds'] for x in done)}")
        print(f"median training compute per tuning (all seeds, from the journal): {statistics.median(x['compute'] for x in rows):.0f}s = {statistics.median(x['compute'] / x['one'] for x in rows if x['one']):.1f}x one training of the final config; wall time of this invocation {sum(x['wall'] for x in rows):.0f}s")
        gains = [(x["before"] - x["after"]) / abs(x["before"]) for x in done if math.isfinite(x["before"]) and x["before"]]
        rescued = sum(1 for x in done if not math.isfinite(x["before"]))
        if gains:
            print(f"median relative metric improvement (repaired, finite before): {statistics.median(gains):.1%}; runs rescued from divergence: {rescued}")
    print(f"journals under {root}")
    return 0


def _gone(runs: dict, r, condition: str) -> bool:
    """Tune's own test between the initial and the final config's runs: the condition is gone
    or clearly weaker (lower severity, or confidence down by WEAKER_BY) in most seeds."""
    from advisor.tune import condition_state, config_hash

    first = [runs[(config_hash(r.initial_config), s)] for s in r.seeds]
    last = [runs[(config_hash(r.final_config), s)] for s in r.seeds]
    return condition_state(last, condition, first).gone


def _journal_runs(out: str) -> dict:
    """(config hash, seed) -> the journal's record of that finished training."""
    from advisor.tune import Journal

    return Journal(os.path.join(out, "journal.jsonl"), resume=True).runs


def _compute_seconds(runs: dict) -> float:
    """Seconds of every training the tuning ran (summed over seeds and attempts), from the journal."""
    return sum(float(rec.get("seconds") or 0.0) for rec in runs.values())


def _one_run_seconds(runs: dict, r) -> float:
    """Seconds of one training of the final config (first seed), from the journal: the cost of
    training the repaired model once, the unit the tuning overhead is measured in."""
    from advisor.tune import config_hash

    rec = runs.get((config_hash(r.final_config), r.seeds[0]))
    return float(rec.get("seconds") or 0.0) if rec else 0.0


if __name__ == "__main__":
    sys.exit(main())
