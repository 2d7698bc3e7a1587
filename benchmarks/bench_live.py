"""What the live monitor costs a training loop, how fast it detects faults, how it agrees with analyze.

    python benchmarks/bench_live.py                      # overhead on a CPU MLP (and CUDA if present)
    python benchmarks/bench_live.py --latency            # steps from an injected fault to its finding
    python benchmarks/bench_live.py --replay DIR         # real runs replayed live vs advisor analyze

Overhead: an MLP 784-512-512-10, batch 128, Adam, trained for ``--steps`` steps per repetition,
with no monitor (the named peer), with the framework-free ``advisor.live.Monitor`` logging the
loss tensor, and with ``advisor.live.torch.Monitor`` (optimizer hooks: global grad norm every
step, per-layer norms and update ratio every ``every`` steps), all at the default cadence
(every=50). Variants run interleaved, in a shuffled order per repetition, after a warm-up;
the reported overhead is the median over repetitions of (variant time / baseline time of the
same repetition) - 1. On CUDA the same is measured on the GPU, and the number of host-device
synchronisations is counted per step with ``torch.cuda.set_sync_debug_mode("warn")``: steps
between cadence points must add none over the baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402


# -- overhead ---------------------------------------------------------------------------------------


def make(device: str, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    ).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(128, 784, generator=g).to(device), torch.randint(0, 10, (128,), generator=g).to(device)) for _ in range(8)]
    return model, opt, batches


def monitor_for(variant: str, model, opt, every: int):
    if variant == "none":
        return None
    if variant == "core":
        from advisor.live import Monitor

        return Monitor(every=every, on_finding=None)
    from advisor.live.torch import Monitor as TorchMonitor

    return TorchMonitor(model, opt, every=every, on_finding=None)


def run_steps(variant: str, device: str, steps: int, every: int, warmup: int = 20, sync_counts: list | None = None) -> tuple[float, object]:
    """Seconds for ``steps`` training steps (after ``warmup`` untimed ones)."""
    import torch

    model, opt, batches = make(device)
    mon = monitor_for(variant, model, opt, every)
    lossf = torch.nn.CrossEntropyLoss()

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        loss = lossf(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if mon is not None:
            mon.log(i, loss=loss)

    for i in range(warmup):
        step(i)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        if sync_counts is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                step(i)
            n = sum("synchroniz" in str(w.message) for w in caught)
            sync_counts.append((i, n, mon.n_diagnoses if mon is not None else 0))
        else:
            step(i)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if mon is not None:
        mon.close()
    return dt, mon


def overhead(device: str, steps: int, reps: int, every: int, variants: list[str]) -> dict[str, float]:
    times: dict[str, list[float]] = {v: [] for v in ["none", *variants]}
    mons = {}
    order = ["none", *variants]
    rng = random.Random(0)
    for r in range(reps):
        rng.shuffle(order)
        for v in order:
            dt, mon = run_steps(v, device, steps, every)
            times[v].append(dt)
            if mon is not None:
                mons[v] = mon
        print(f"  rep {r + 1}/{reps}: " + "  ".join(f"{v} {1000 * times[v][-1] / steps:.2f} ms/step" for v in ["none", *variants]), flush=True)
    base = times["none"]
    print(f"\n{device}: MLP 784-512-512-10, batch 128, Adam; {steps} steps x {reps} interleaved repetitions, every={every}")
    print(f"  {'variant':<26}{'median ms/step':>16}{'overhead (median of paired ratios)':>38}")
    print(f"  {'no monitor (peer)':<26}{1000 * statistics.median(base) / steps:>16.3f}{'—':>38}")
    out = {}
    names = {"core": "advisor.live.Monitor", "torch": "advisor.live.torch.Monitor"}
    for v in variants:
        ratios = [t / b for t, b in zip(times[v], base)]
        med = statistics.median(ratios)
        out[v] = med - 1
        spread = f"[{100 * (min(ratios) - 1):+.1f}%, {100 * (max(ratios) - 1):+.1f}%]"
        print(f"  {names[v]:<26}{1000 * statistics.median(times[v]) / steps:>16.3f}{f'{100 * (med - 1):+.2f}%  range {spread}':>38}")
        m = mons.get(v)
        if m is not None:
            per = 1000 * m.diagnose_seconds / max(m.n_diagnoses, 1)
            print(f"  {'':<26}last rep: {m.n_diagnoses} diagnoses, {per:.1f} ms each; {1000 * m.transfer_seconds:.1f} ms in host transfers")
    return out


def cuda_syncs(steps: int, every: int) -> None:
    """Count host-device synchronisations per step, with and without the monitor (CUDA only)."""
    import torch

    torch.cuda.set_sync_debug_mode("warn")
    try:
        for v in ("none", "torch"):
            counts: list = []
            run_steps(v, "cuda", steps, every, sync_counts=counts)
            diag_steps = {i for (i, _, d), (_, _, d0) in zip(counts[1:], counts[:-1]) if d > d0}
            off = sum(n for i, n, _ in counts if i not in diag_steps)
            on = sum(n for i, n, _ in counts if i in diag_steps)
            print(f"  cuda syncs, {v:<6}: {off} on {len(counts) - len(diag_steps)} steps between cadence points, {on} on {len(diag_steps)} cadence steps")
    finally:
        torch.cuda.set_sync_debug_mode(0)


# -- detection latency ------------------------------------------------------------------------------


def latency(every: int) -> None:
    from advisor.live import Monitor

    def healthy(n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        s = np.arange(n)
        return (2.0 * np.exp(-s / 300) + 0.3) * (1 + 0.03 * rng.standard_normal(n))

    print(f"\ndetection latency (every={every}): steps from the injected onset to the first critical finding")
    print(f"  {'fault':<28}" + "".join(f"{'onset ' + str(o):>14}" for o in (617, 3023, 12041)))
    faults = [(f"loss x{g}/step from onset", g) for g in (1.01, 1.03, 1.05, 1.1)] + [("NaN from onset", None)]
    for name, g in faults:
        cells = []
        for onset in (617, 3023, 12041):
            loss = healthy(onset + 1500)
            if g is None:
                loss[onset:] = np.nan
            else:
                with np.errstate(over="ignore"):
                    loss = loss * np.power(g, np.maximum(np.arange(len(loss)) - onset, 0).astype(float))
            # budget off: this loop takes microseconds per step, a real one far longer than a
            # diagnosis per cadence window, where the default budget does not delay diagnoses
            mon = Monitor(every=every, on_finding=None, budget=0)
            hit = None
            for i, v in enumerate(loss):
                mon.log(i, loss=float(v))
                crit = [a for a in mon.alerts if a.finding.severity.value == "critical"]
                if crit:
                    hit = crit[0]
                    break
            cells.append("—" if hit is None else f"{hit.step - onset} ({hit.finding.condition[:3]})")
        print(f"  {name:<28}" + "".join(f"{c:>14}" for c in cells))


# -- replay real runs -------------------------------------------------------------------------------


def replay(root: str, points: int = 50) -> None:
    from advisor.analyze import analyze_run, find_runs
    from advisor.engine import Engine
    from advisor.io.roles import resolve
    from advisor.io.runs import load_run
    from advisor.live import Monitor
    from advisor.model import Role
    from advisor.rules.base import flatten

    runs, _ = find_runs([root])
    engine = Engine.from_config()
    same = n = 0
    early = []
    print(f"\nreplay: each run of {root} fed step by step to a Monitor (cadence: every {points} train-loss points)")
    for rf in runs:
        run = load_run(rf)
        train = resolve(run).get(run, Role.TRAIN_LOSS)
        if train is None or len(train) < 10:
            continue
        every = max(1, int(points * np.median(np.diff(train.steps))))
        events: dict[int, dict[str, float]] = {}
        for key, s in run.series.items():
            for st, v in zip(s.steps.tolist(), s.values.tolist()):
                events.setdefault(st, {})[key] = v
        hp = dict(run.hparams)
        hp.update(flatten(run.config))
        mon = Monitor(every=every, on_finding=None, hparams=hp, budget=0)
        for st in sorted(events):
            mon.log(st, events[st])
        mon.close()
        static = {(f.condition, f.severity.value) for f in analyze_run(rf, engine).report.findings}
        live = {(f.condition, f.severity.value) for f in mon.findings}
        n += 1
        same += static == live
        if static != live:
            print(f"  {rf.name}: analyze {sorted(static)} / live {sorted(live)}")
        conds = {c for c, _ in static}
        for a in mon.alerts:
            if a.finding.severity.rank >= 2 and a.finding.condition not in conds:
                early.append((rf.name, a.step, a.finding.condition))
    print(f"  final findings identical to advisor analyze: {same}/{n} runs")
    print(f"  warning+ alerts during a run that analyze of the whole run does not report: {len(early)}")
    for name, step, cond in early:
        print(f"    {name} at step {step}: {cond}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier timings on a shared machine)")
    ap.add_argument("--variants", default="core,torch")
    ap.add_argument("--latency", action="store_true", help="only the detection-latency table")
    ap.add_argument("--replay", metavar="DIR", help="only the live-vs-analyze replay of the runs under DIR")
    args = ap.parse_args()
    if args.latency:
        latency(args.every)
        return
    if args.replay:
        replay(args.replay)
        return
    import torch

    torch.set_num_threads(args.threads)
    variants = [v for v in args.variants.split(",") if v]
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s)")
    overhead("cpu", args.steps, args.reps, args.every, variants)
    if torch.cuda.is_available():
        overhead("cuda", args.steps * 4, args.reps, args.every, variants)
        cuda_syncs(args.steps, args.every)
    else:
        print("\n(no CUDA device: GPU timing and sync counting skipped)")


if __name__ == "__main__":
    main()
