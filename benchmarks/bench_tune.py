"""``advisor tune`` on the pathological recipes, both backends: how often is it repaired and verified,
at what training compute, and do the accepted repairs hold on fresh seeds?

    python benchmarks/bench_tune.py                                   # all recipes, torch and jax
    python benchmarks/bench_tune.py --backend jax --recipes lr-too-high-sgd lr-too-high-adam
    python benchmarks/bench_tune.py --out bench-tune                  # keep journals (re-running resumes them)

Per recipe: tune with up to 3 rounds (``--target info`` by default, so info-level conditions count
too; ``--target recipe`` acts on findings as severe as the recipe's own condition, as a user
who cares about it would, and stops after its repair when nothing that severe is left), with
tune's defaults (sequential verification from 2 seeds per side, at most 5, alpha 0.05 over all looks),
and call it repaired when at least one verified change was applied and the recipe's condition is
gone from the final config's runs, or clearly weaker than in the initial ones (tune's own test),
in a majority of seeds. A recipe whose top finding has only manual remedies ends "not
auto-repairable" and is counted apart (not an auto-repairable recipe).

Figures:
* repaired and verified / auto-repairable recipes;
* one training of the final config: the journal's run of the final config with the first seed, its
  result's ``steps`` and its seconds (for a repaired recipe a candidate run, full length unless the
  watch stopped it for a critical condition);
* trainings tune's watch stopped early (a critical non-finite / divergence / lr-too-high confirmed
  live, :mod:`advisor.tune.watch`; ``--no-early-stop`` trains every run to its end);
* training compute per tuning, from the journal: the seconds of every training the tuning used
  (as if no cache: a cached run counts with the seconds it first took), relative to one training
  of the final config; and separately the seconds actually trained in this invocation (cached
  runs cost nothing; the cache is a fresh directory per invocation unless ``--cache DIR``);
* the same in training steps (the result's ``steps``), which start-up and compilation do not blur,
  in all and up to the first verified repair (``--target info`` goes on acting on advice after it);
* re-check: every accepted repair (verified round) is trained again with ``--recheck`` fresh seeds
  (default 5, seeds 1000+) on both sides and judged by the old fixed-seed rule (better in a
  majority of seeds by more than the pooled seed noise, and the condition gone in a majority) and
  by Welch's test at 0.05 in one look; a still-improving condition counts as answered by that gain,
  as tune counts it (:data:`advisor.tune.verify.GAIN_ANSWERS`).
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
from advisor.tune import Journal, compare, condition_state, config_hash, load_trainer, metric_values, tune  # noqa: E402
from advisor.tune.runner import Runner  # noqa: E402
from advisor.tune.sequential import decide  # noqa: E402
from advisor.tune.verify import GAIN_ANSWERS, answered, lower_is_better  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("torch", "jax", "both"), default="both")
    ap.add_argument("--recipes", "--only", dest="recipes", nargs="*", help="recipe names (default: every pathological one)")
    ap.add_argument("--seeds", type=int, default=2, help="seeds per side to start with (default 2)")
    ap.add_argument("--max-seeds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recheck", type=int, default=5, help="fresh seeds to re-check each accepted repair with (0: skip)")
    ap.add_argument("--out", default=None, help="keep journals here (resumable); default: a temporary directory")
    ap.add_argument("--cache", default=None, help="training cache directory (default: a fresh one under --out)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-early-stop", action="store_true", help="train every run to its end (tune's early stop off)")
    ap.add_argument("--target", choices=("info", "warning", "recipe"), default="info",
                    help="the least severe finding tune acts on: info (default: every recipe's condition counts, and tune goes on "
                         "with advice after the repair), warning (tune's own default), or recipe (info for a recipe whose condition "
                         "is advice-level by its rule, else warning: the tuning a user who cares about that condition runs)")
    a = ap.parse_args()
    from backends import recipes

    names = a.recipes or [r.name for r in recipes.RECIPES if r.condition != "healthy"]
    unknown = [n for n in names if n not in recipes.BY_NAME]
    if unknown:
        print(f"error: unknown recipe(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    backends = ("torch", "jax") if a.backend == "both" else (a.backend,)
    root = a.out or tempfile.mkdtemp(prefix="bench-tune-")
    cache = a.cache or os.path.join(root, "cache")
    rows = []
    print(f"{'backend':7s} {'recipe':22s} {'condition':20s} {'rnd':>3s} {'repaired':>16s} {'metric before -> after':>24s} {'runs':>4s} {'compute':>8s} {'x1 run':>6s} {'steps':>6s} {'to-fix':>6s} {'cached':>6s} {'old,new/n':>9s} stopped applied")
    for backend in backends:
        trainer = load_trainer(backend)
        for name in names:
            rows.append(_one(a, trainer, backend, recipes.BY_NAME[name], recipes.config(recipes.BY_NAME[name]).to_dict(), root, cache))
    _summary(a, rows, root)
    return 0


def _one(a, trainer, backend: str, recipe, cfg: dict, root: str, cache: str) -> dict:
    out = os.path.join(root, backend, recipe.name)
    t = time.time()
    r = tune(trainer, cfg, out=out, rounds=a.rounds, seeds=a.seeds, max_seeds=a.max_seeds, target=_target(a.target, recipe.condition),
             resume=os.path.exists(os.path.join(out, "journal.jsonl")), workers=a.workers, cache=cache, early_stop=not a.no_early_stop)
    wall = time.time() - t
    runs = _journal_runs(out)
    manual = r.stop_reason.startswith("not auto-repairable") and not r.rounds  # a later round's manual advice does not undo a repair
    repaired = any(x["verified"] for x in r.rounds) and _gone(runs, r, recipe.condition)
    one = _one_run_seconds(runs, r)
    steps_one = _one_run_steps(runs, r)
    fix_steps, fix_seconds = _to_first_repair(out)
    fix_ratio = fix_steps / steps_one if steps_one and fix_steps is not None else math.nan
    fix_sec_ratio = fix_seconds / one if one and fix_seconds is not None else math.nan
    step_ratio = sum(float((x.get("result") or {}).get("steps") or 0) for x in runs.values()) / steps_one if steps_one else math.nan
    compute = sum(float(x.get("seconds") or 0.0) for x in runs.values())
    trained = sum(float(x.get("seconds") or 0.0) for x in runs.values() if not x.get("cached"))
    stopped = sum(1 for x in runs.values() if x.get("stopped"))
    before = statistics.fmean(r.initial_metric) if r.initial_metric else math.nan
    after = statistics.fmean(r.final_metric) if r.final_metric else math.nan
    held = [_recheck(a, trainer, out, x, _chain(trainer, r), cache) for x in r.rounds if x["verified"]] if a.recheck else []
    applied = "; ".join(f"{x['applied']['action']} {x['applied']['params']} ({x['seeds']} seeds)" for x in r.rounds) or r.stop_reason
    state = "manual" if manual else str(repaired)
    ratio = compute / one if one else math.nan
    hold = f"{sum(h[0] for h in held)},{sum(h[1] for h in held)}/{len(held)}" if held else "-"
    print(f"{backend:7s} {recipe.name:22s} {recipe.condition:20s} {len(r.rounds):3d} {state:>16s} {before:11.4g} -> {after:<10.4g} {r.trainings:4d} {compute:7.0f}s {ratio:5.1f}x {step_ratio:5.1f}x {fix_ratio:5.1f}x {trained / one if one else math.nan:5.1f}x {hold:>9s} {stopped:3d}/{len(runs):<3d} {applied}", flush=True)
    return {"backend": backend, "recipe": recipe.name, "condition": recipe.condition, "rounds": len(r.rounds), "repaired": repaired, "manual": manual, "wall": wall,
            "compute": compute, "trained": trained, "step_ratio": step_ratio, "fix_ratio": fix_ratio, "fix_sec_ratio": fix_sec_ratio, "one": one, "before": before, "after": after, "held": held,
            "stopped": stopped, "runs": len(runs)}


def _target(choice: str, condition: str) -> Severity:
    """The ``--target`` severity for a recipe: ``recipe`` takes its condition's rule severity
    (info stays info; anything above it acts from warning, tune's default)."""
    if choice == "recipe":
        from advisor.rules import BY_ID

        return Severity.INFO if BY_ID[condition].severity == Severity.INFO else Severity.WARNING
    return Severity(choice)


def _summary(a, rows: list, root: str) -> None:
    auto = [x for x in rows if not x["manual"]]
    done = [x for x in auto if x["repaired"]]
    lth = [x for x in auto if x["condition"] == "lr-too-high"]
    print()
    print(f"repaired and verified within {a.rounds} rounds: {len(done)}/{len(auto)} auto-repairable = {len(done) / max(len(auto), 1):.1%} "
          f"(lr-too-high {sum(x['repaired'] for x in lth)}/{len(lth)}); not auto-repairable: {len(rows) - len(auto)}")
    ratios = [x["compute"] / x["one"] for x in rows if x["one"]]
    cached = [x["trained"] / x["one"] for x in rows if x["one"]]
    if ratios:
        print(f"median training compute per tuning (journal, as without a cache): {statistics.median(x['compute'] for x in rows):.0f}s = "
              f"{statistics.median(ratios):.2f}x one training of the final config; actually trained with the cache: {statistics.median(cached):.2f}x; "
              f"wall time of this invocation {sum(x['wall'] for x in rows):.0f}s")
    steps = [x["step_ratio"] for x in rows if math.isfinite(x["step_ratio"])]
    if steps:
        print(f"median training steps per tuning: {statistics.median(steps):.2f}x the steps of one training of the final config "
              "(independent of process start-up and compilation, which dominate the seconds of small runs)")
    fixes = [x["fix_ratio"] for x in done if math.isfinite(x["fix_ratio"])]
    fix_secs = [x["fix_sec_ratio"] for x in done if math.isfinite(x["fix_sec_ratio"])]
    if fixes:
        print(f"median training steps up to the first verified repair (repaired recipes; --target info goes on with advice after it): "
              f"{statistics.median(fixes):.2f}x one training of the final config; in journal seconds {statistics.median(fix_secs):.2f}x")
    lth_rows = ", ".join(f"{x['backend']}/{x['recipe']} {'repaired' if x['repaired'] else 'NOT repaired'} ({x['fix_ratio']:.1f}x to fix, {x['step_ratio']:.1f}x in all)" for x in rows if x["recipe"].startswith("lr-too-high") and not x["manual"])
    if lth_rows:
        print(f"lr-too-high recipes: {lth_rows}")
    if done:
        print(f"median rounds (repaired): {statistics.median(x['rounds'] for x in done)}")
    held = [h for x in rows for h in x["held"]]
    if held:
        print(f"accepted repairs that hold on {a.recheck} fresh seeds: old fixed-seed rule {sum(h[0] for h in held)}/{len(held)}, "
              f"Welch test at 0.05 (one look) {sum(h[1] for h in held)}/{len(held)}")
    print(f"trainings stopped early by tune's watch (a critical condition confirmed live): {sum(x['stopped'] for x in rows)}/{sum(x['runs'] for x in rows)}")
    print("one training of the final config = the journal's run of the final config with the first seed (its result's steps, "
          "its seconds); for a repaired recipe that is a full-length candidate run (a watched run stops only on a confirmed critical condition)")
    print(f"journals under {root}")


def _chain(trainer, r) -> dict:
    """config hash -> config for every config the kept rounds went through (replayed with apply)."""
    cfg = r.initial_config
    out = {config_hash(cfg): cfg}
    for x in r.rounds:
        cfg = trainer.apply(cfg, x["applied"])
        out[config_hash(cfg)] = cfg
    return out


def _recheck(a, trainer, out: str, rnd: dict, configs: dict, cache: str) -> bool:
    """The accepted change re-trained with fresh seeds on both sides, judged by the old fixed-seed rule."""
    from advisor.tune.cache import TrainingCache

    before_cfg, after_cfg = configs.get(rnd["config_hash_before"]), configs.get(rnd["config_hash_after"])
    if before_cfg is None or after_cfg is None:
        return False
    sub = os.path.join(out, "recheck")
    os.makedirs(sub, exist_ok=True)
    journal = Journal(os.path.join(sub, "journal.jsonl"), resume=True)
    runner = Runner(trainer, sub, journal, a.workers or 2, None, TrainingCache(cache, trainer.name, trainer.module_name))
    seeds = [1000 + i for i in range(a.recheck)]
    b, f = runner.train_all(before_cfg, seeds), runner.train_all(after_cfg, seeds)
    mb, mf, lower = metric_values(b, rnd["metric"]), metric_values(f, rnd["metric"]), lower_is_better(rnd["metric"])
    c = compare(mb, mf, lower)
    state = condition_state(f, rnd["condition"], b)
    fresh = decide(mb, mf, lower, looks=1, last=True)  # the new test, one look at alpha 0.05, on the fresh seeds
    # as tune judges it: a condition in GAIN_ANSWERS (still-improving) is answered by a clear gain
    old_ok, new_ok = answered(rnd["condition"], state, c.improved).gone and c.improved, answered(rnd["condition"], state, fresh.accepted).gone and fresh.accepted
    print(f"    recheck {rnd['condition']} {rnd['applied']['action']}: better in {c.improved_seeds}/{c.seeds} fresh seeds, condition gone: {state.gone}, "
          f"old rule (mean gain {c.improvement:.3g} > noise {c.noise:.3g}): {old_ok}, Welch at 0.05: {new_ok} ({fresh.reason})", flush=True)
    return bool(old_ok), bool(new_ok)


def _gone(runs: dict, r, condition: str) -> bool:
    """Tune's own test between the initial and the final config's runs: the condition is gone
    or clearly weaker (lower severity, or confidence down by WEAKER_BY) in most seeds."""
    if condition in GAIN_ANSWERS and any(x["verified"] and x["condition"] == condition for x in r.rounds):
        return True  # answered by its verified gain (the longer runs may still be improving)
    first = [runs[(config_hash(r.initial_config), s)] for s in r.seeds]
    last = [runs[(config_hash(r.final_config), s)] for s in r.seeds]
    return condition_state(last, condition, first).gone


def _journal_runs(out: str) -> dict:
    """(config hash, seed) -> the journal's record of that finished training."""
    return Journal(os.path.join(out, "journal.jsonl"), resume=True).runs


def _to_first_repair(out: str) -> tuple[float | None, float | None]:
    """Training steps and journal seconds of the runs journaled before the first verified attempt
    (None, None: none verified)."""
    import json

    total, seconds = 0.0, 0.0
    with open(os.path.join(out, "journal.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            if rec.get("type") == "run":
                total += float((rec.get("result") or {}).get("steps") or 0)
                seconds += float(rec.get("seconds") or 0.0)
            elif rec.get("type") == "attempt" and rec.get("verified"):
                return total, seconds
    return None, None


def _one_run_steps(runs: dict, r) -> float:
    rec = runs.get((config_hash(r.final_config), r.seeds[0]))
    return float((rec.get("result") or {}).get("steps") or 0.0) if rec else 0.0


def _one_run_seconds(runs: dict, r) -> float:
    """Seconds of one training of the final config (first seed), from the journal: the cost of
    training the repaired model once, the unit the tuning overhead is measured in."""
    rec = runs.get((config_hash(r.final_config), r.seeds[0]))
    return float(rec.get("seconds") or 0.0) if rec else 0.0


if __name__ == "__main__":
    sys.exit(main())
