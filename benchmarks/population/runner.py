"""Run cases in a process pool, write each run and its manifest entry."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any

from .spec import HEALTHY, Case, Label

# Rough per-step cost of each family relative to a small MLP (for scheduling long jobs first).
COST = {"mlp": 1.0, "cnn": 3.0, "lstm": 2.5, "rnn": 2.5, "transformer": 4.0}

# The knob directions each condition's known cause implies (for scoring "harmful advice").
DIRECTION: dict[str, dict[str, str]] = {
    HEALTHY: {},
    "lr-too-high": {"lr": "down"},
    "non-finite": {},
    "divergence": {"lr": "down"},
    "exploding-gradients": {"lr": "down", "clip_norm": "down"},
    "vanishing-gradients": {"depth": "down"},
    "no-learning": {},
    "plateau": {},
    "slow-convergence": {"lr": "up"},
    "oscillation": {"lr": "down"},
    "unshuffled-data": {"shuffle": "on"},
    "gradient-noise": {"batch_size": "up"},
    "overfitting": {"capacity": "down", "regularization": "up", "steps": "down"},
    "underfitting": {"capacity": "up"},
    "still-improving": {"steps": "up"},
    "lr-decay-needed": {"lr": "down"},
    "schedule-misconfigured": {},
    "val-below-train": {"regularization": "down"},
    "data-mismatch": {},
    "noisy-validation": {"val_size": "up"},
    "clipping-saturated": {"lr": "down", "clip_norm": "up"},
    "bad-initial-loss": {},
}


def run_name(case: Case, seed: int) -> str:
    """An opaque directory name: the label must not leak into what the analyzer reads."""
    return f"run-{hashlib.sha1(case.name.encode()).hexdigest()[:10]}-s{seed}"


def run_one(case: Case, seed: int, out: str) -> dict[str, Any]:
    """Train, log and label one (case, seed). Runs inside a worker process."""
    import torch

    from . import cadence, train, writers

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    trace = train.run(case, seed)
    lg = cadence.logged(case, trace)
    rel = writers.write(case, lg, out, run_name(case, seed))
    lab = _label(case, seed, rel, lg, time.perf_counter() - t0)
    lab.cpu_seconds = round(time.process_time() - c0, 2)
    return asdict(lab)


def _label(case: Case, seed: int, rel: str, lg: Any, seconds: float) -> Label:
    from . import checks

    condition, also_ok, expected = case.condition, list(case.also_ok), [case.condition, *case.expected_extra]
    if condition != "non-finite" and checks.any_nonfinite(lg):
        # The recipe overshot into NaN/Inf: what the logs show is non-finite, whatever the intent.
        also_ok = sorted(set(also_ok) | {condition} - {"non-finite"})
        condition, expected = "non-finite", ["non-finite"]
    verified, text = checks.verify(case, lg, condition)
    also_ok = sorted(set(also_ok) | set(checks.info_symptoms(case, lg)) - set(expected))
    direction = dict(case.direction) if case.direction else DIRECTION[condition]
    knobs = case.knobs()
    knobs.update(steps=lg.total_steps, planned_steps=case.loop.steps, eval_count=len(lg.val_loss.steps))
    return Label(run=rel, case=case.name, seed=seed, split="dev" if seed % 2 == 0 else "test",
                 condition=condition, injected=case.condition, expected=expected, also_ok=also_ok, direction=direction, knobs=knobs,
                 verified=verified, check=text, variant=case.variant, actual_steps=lg.total_steps,
                 seconds=round(seconds, 2))


def _cost(case: Case) -> float:
    return case.loop.steps * COST.get(case.model.family, 1.0)


def generate(
    jobs: list[tuple[Case, int]], out: str, workers: int, ctx: str = "spawn"
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run all jobs (longest first, for an even finish) and write DIR/manifest.json.

    Returns the labels and the jobs that raised (they are left out of the manifest)."""
    os.makedirs(out, exist_ok=True)
    ordered = sorted(jobs, key=lambda j: -_cost(j[0]))
    labels: list[dict[str, Any]] = []
    failed: list[str] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(ctx)) as pool:
        futures = {pool.submit(run_one, c, s, out): (c, s) for c, s in ordered}
        for i, fut in enumerate(as_completed(futures), 1):
            case, seed = futures[fut]
            try:
                lab = fut.result()
            except Exception as exc:  # noqa: BLE001 -- one broken recipe must not lose the other runs
                failed.append(f"{case.name} s{seed}: {type(exc).__name__}: {exc}")
                print(f"[{i}/{len(jobs)}] ERR {failed[-1]}", file=sys.stderr, flush=True)
                continue
            labels.append(lab)
            mark = "ok " if lab["verified"] else "UNV"
            print(f"[{i}/{len(jobs)} {time.perf_counter() - t0:6.1f}s] {mark} {lab['condition']:22s} "
                  f"{case.name} s{seed} ({lab['seconds']:.1f}s) {lab['check'] if not lab['verified'] else ''}",
                  file=sys.stderr, flush=True)
    labels.sort(key=lambda d: (d["case"], d["seed"]))
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(labels, fh, indent=1, sort_keys=True)
    _summary(labels, time.perf_counter() - t0)
    return labels, failed


def _summary(labels: list[dict[str, Any]], wall: float) -> None:
    by: dict[str, list[bool]] = {}
    for lab in labels:
        by.setdefault(lab["condition"], []).append(lab["verified"])
    cpu = sum(d["cpu_seconds"] for d in labels)
    longest = max((d["cpu_seconds"] for d in labels), default=0.0)
    print(f"{len(labels)} runs in {wall:.1f}s wall; {cpu:.0f}s CPU in the workers (longest run {longest:.0f}s): "
          f"about {max(cpu / 16, longest) + 15:.0f}s on 16 dedicated cores", file=sys.stderr)
    for cond in sorted(by):
        v = by[cond]
        print(f"  {cond:24s} {sum(v):3d}/{len(v):3d} verified", file=sys.stderr)
