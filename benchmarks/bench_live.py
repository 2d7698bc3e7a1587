"""What the live monitor costs a training loop, how fast it detects faults, how it agrees with analyze.

    python benchmarks/bench_live.py                      # overhead on a CPU MLP (and CUDA if present)
    python benchmarks/bench_live.py --latency            # steps from an injected fault to its finding
    python benchmarks/bench_live.py --replay DIR         # real runs replayed live vs advisor analyze
    python benchmarks/bench_live.py --judgment           # latency in cadence windows, healthy streams
    python benchmarks/bench_live.py --act                # act=True vs no monitor, torch and optax

Overhead: an MLP 784-512-512-10, batch 128, Adam, with no monitor (the named peer), with the
framework-free ``advisor.live.Monitor`` logging the loss tensor, and with
``advisor.live.torch.Monitor`` (optimizer hooks: global grad norm at its device default — timed
to cost at most 0.5% of the step on a CPU, every step on a GPU — and, as ``torch1``, every
step; per-layer norms and update ratio every ``every`` steps), all at the default cadence
(every=50). The variants train side by side in one process, in alternating blocks of ``every``
steps (shuffled order per round, after a warm-up block), so load changes on a shared machine
hit all of them alike; each block holds one cadence point of each monitor (a transfer, and a
diagnosis when the monitor's time budget allows). Each monitor's clocks (diagnosis budget,
step time) are paused while the other variants run, as if its loop ran alone. Overhead = total
time of the variant / total time of the peer - 1, in wall time and in process CPU time
(steadier when other processes compete for the cores), and the median over blocks of the
paired ratio. On CUDA the same runs on the GPU, and host-device synchronisations are counted
per step with
``torch.cuda.set_sync_debug_mode("warn")``: steps between cadence points must add none.
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

import numpy as np

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

    if variant == "torch1":
        return TorchMonitor(model, opt, every=every, grad_every=1, on_finding=None)
    return TorchMonitor(model, opt, every=every, on_finding=None)  # device default: self-timed on a CPU


class Runner:
    """One variant's model, optimizer and monitor, stepped in blocks."""

    def __init__(self, variant: str, device: str, every: int) -> None:
        import torch

        self.variant, self.device = variant, device
        self.model, self.opt, self.batches = make(device)
        self.mon = monitor_for(variant, self.model, self.opt, every)
        self.lossf = torch.nn.CrossEntropyLoss()
        self.i = 0
        self.paused_at: float | None = None
        self.wall: list[float] = []  # per block
        self.cpu: list[float] = []

    def step(self) -> None:
        x, y = self.batches[self.i % len(self.batches)]
        loss = self.lossf(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.mon is not None:
            self.mon.log(self.i, loss=loss)
        self.i += 1

    def block(self, n: int, timed: bool = True) -> None:
        import torch

        if self.mon is not None and self.paused_at is not None:
            # The monitor's diagnosis budget is a share of the wall time since its last diagnosis;
            # pause that clock while the other variants run, as if this loop ran alone.
            self.mon._last_diag_end += time.monotonic() - self.paused_at
            if getattr(self.mon, "_last_timed", None) is not None:  # its step clock, likewise
                self.mon._last_timed += time.perf_counter() - self.paused_perf
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            self.step()
        if self.device == "cuda":
            torch.cuda.synchronize()
        if timed:
            self.wall.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)
        self.paused_at, self.paused_perf = time.monotonic(), time.perf_counter()


def overhead(device: str, blocks: int, every: int, variants: list[str], repeats: int = 3) -> dict[str, float]:
    """Variants stepped in alternating blocks of ``every`` steps (one cadence point per block).

    Each variant owns a model copy, and where a copy happens to sit in memory can shift its step
    time by a percent or two. So the blocks are split over ``repeats`` rounds with fresh copies
    (built in shuffled order), and an A/A control — a second copy without a monitor — shows what
    is left of that bias: read the overheads with its number in mind."""
    names = ["none", "none2", *variants]
    rng = random.Random(0)
    wall: dict[str, list[float]] = {v: [] for v in names}
    cpu: dict[str, list[float]] = {v: [] for v in names}
    mons: dict[str, list] = {v: [] for v in names}
    per_repeat = max(1, blocks // repeats)
    done = 0
    for rep in range(repeats):
        order = list(names)
        rng.shuffle(order)
        runners = {v: Runner("none" if v == "none2" else v, device, every) for v in order}
        for r in runners.values():  # warm-up: allocations, first diagnosis, caches
            r.block(every, timed=False)
        for b in range(per_repeat):
            rng.shuffle(order)
            for v in order:
                runners[v].block(every)
            done += 1
            if done % max(1, (per_repeat * repeats) // 5) == 0:
                print(f"  block {done}/{per_repeat * repeats}: " + "  ".join(f"{v} {1000 * runners[v].wall[-1] / every:.2f} ms/step" for v in names), flush=True)
        for v, r in runners.items():
            wall[v] += r.wall
            cpu[v] += r.cpu
            if r.mon is not None:
                r.mon.close()
                mons[v].append(r.mon)
    steps = per_repeat * repeats * every
    base_w, base_c = sum(wall["none"]), sum(cpu["none"])
    print(f"\n{device}: MLP 784-512-512-10, batch 128, Adam; {per_repeat * repeats} blocks of {every} steps per variant, alternating in shuffled order, fresh copies every {per_repeat} blocks")
    print(f"  {'variant':<28}{'ms/step':>9}{'overhead: wall':>16}{'cpu time':>10}{'median block':>14}")
    print(f"  {'no monitor (peer)':<28}{1000 * base_w / steps:>9.3f}{'—':>16}{'—':>10}{'—':>14}")
    out = {}
    label = {"none2": "A/A control: no monitor", "core": "advisor.live.Monitor", "torch": "advisor.live.torch.Monitor", "torch1": "  same, grad_every=1"}
    for v in names[1:]:
        w = sum(wall[v]) / base_w - 1
        c = sum(cpu[v]) / base_c - 1
        med = statistics.median(x / y for x, y in zip(wall[v], wall["none"])) - 1
        out[v] = w
        print(f"  {label[v]:<28}{1000 * sum(wall[v]) / steps:>9.3f}{100 * w:>+15.2f}%{100 * c:>+9.2f}%{100 * med:>+13.2f}%")
        if mons[v]:
            n = sum(m.n_diagnoses for m in mons[v])
            secs = sum(m.diagnose_seconds for m in mons[v])
            transfer = sum(m.transfer_seconds for m in mons[v])
            ge = [m.grad_every for m in mons[v] if hasattr(m, "grad_every")]
            extra = f"; grad norm every {'/'.join(map(str, ge))} step(s) at the end" if ge else ""
            print(f"  {'':<28}{n} diagnoses, {1000 * secs / max(n, 1):.1f} ms each ({100 * secs / max(sum(wall[v]), 1e-9):.2f}% of its time); {1000 * transfer:.1f} ms in host transfers{extra}")
    return out


def attribution(device: str, blocks: int, every: int, variants: list[str]) -> dict[str, float]:
    """The monitor's own time: every entry point (``log``, the optimizer hooks) timed with the
    thread's CPU clock from the outside (time the process waits for a core on a shared machine
    is not counted), as a share of the loop's CPU time, each variant on its
    own model copy. Unlike the side-by-side overhead this does not see a model copy's memory
    placement (worth +-2% of a step on this machine: the A/A line), only what the monitor runs;
    it does not see what the monitor does to the caches of the steps after it either."""
    import torch

    out = {}
    print(f"\n{device}: the monitor's own time ({blocks} blocks of {every} steps per variant, after a warm-up block)")
    print(f"  {'variant':<28}{'cpu ms/step':>12}{'own time':>10}{'log':>8}{'hooks':>8}{'diagnose*':>10}{'transfer*':>10}")
    for v in variants:
        r = Runner(v, device, every)
        r.block(every, timed=False)
        mon = r.mon
        spent = {"log": 0.0, "hooks": 0.0}
        clock = time.thread_time

        def timed(fn, key):
            def call(*a, **k):
                t = clock()
                try:
                    return fn(*a, **k)
                finally:
                    spent[key] += clock() - t

            return call

        mon.log = timed(mon.log, "log")
        if hasattr(mon, "remove_hooks") and mon._handles:
            mon.remove_hooks()
            mon._handles += [r.opt.register_step_pre_hook(timed(mon._pre_step, "hooks")), r.opt.register_step_post_hook(timed(mon._post_step, "hooks"))]
        d0, t0 = mon.diagnose_seconds, mon.transfer_seconds
        start = clock()
        for _ in range(blocks):
            r.block(every)
        if device == "cuda":
            torch.cuda.synchronize()
        total = clock() - start
        own = (spent["log"] + spent["hooks"]) / total
        out[v] = own
        label = {"core": "advisor.live.Monitor", "torch": "advisor.live.torch.Monitor", "torch1": "  same, grad_every=1"}[v]
        pct = lambda x: f"{100 * x / total:.2f}%"  # noqa: E731
        print(f"  {label:<28}{1000 * total / (blocks * every):>12.3f}{100 * own:>9.2f}%{pct(spent['log']):>8}{pct(spent['hooks']):>8}{pct(mon.diagnose_seconds - d0):>10}{pct(mon.transfer_seconds - t0):>10}")
        mon.close()
    print("  (* wall-clock, from the monitor's own counters: inflated when the machine is busy)")
    return out


def run_steps(variant: str, device: str, steps: int, every: int, sync_counts: list) -> None:
    """``steps`` steps of one variant, counting CUDA synchronisations per step (sync debug mode)."""
    r = Runner(variant, device, every)
    r.block(20, timed=False)
    for _ in range(steps):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n_diag = r.mon.n_diagnoses if r.mon is not None else 0
            r.step()
        syncs = sum("synchroniz" in str(w.message) for w in caught)
        cadence = r.mon is not None and r.mon.n_diagnoses > n_diag
        sync_counts.append((r.i - 1, syncs, cadence))


def cuda_syncs(steps: int, every: int) -> None:
    """Count host-device synchronisations per step, with and without the monitor (CUDA only)."""
    import torch

    torch.cuda.set_sync_debug_mode("warn")
    try:
        for v in ("none", "torch"):
            counts: list = []
            run_steps(v, "cuda", steps, every, counts)
            off = [n for _, n, cad in counts if not cad]
            on = [n for _, n, cad in counts if cad]
            print(f"  cuda syncs, {v:<6}: {sum(off)} on {len(off)} steps between cadence points, {sum(on)} on {len(on)} cadence steps")
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
            # default budget: this loop takes microseconds per step, so only the tripwires (a
            # NaN, a loss giving back its gain) get a diagnosis through: the worst case
            mon = Monitor(every=every, on_finding=None)
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
    from advisor.analyze import find_runs
    from advisor.pipeline import analyze_run
    from advisor.engine import Engine
    from advisor.io.hparams import flatten
    from advisor.io.roles import resolve
    from advisor.io.runs import load_run
    from advisor.live import Monitor
    from advisor.model import Role

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


# -- judgment: latency in cadence windows, healthy streams, act= ------------------------------------


def _stream(mon, curves) -> None:
    """Feed synthetic curves ({tag: (steps, values)}) to a monitor in step order."""
    import collections

    at = collections.defaultdict(dict)
    for tag, (st, vals) in curves.items():
        for s, v in zip(np.asarray(st).tolist(), np.asarray(vals).tolist()):
            at[int(s)][tag.split(":", 1)[-1]] = v
    for s in sorted(at):
        mon.log(s, at[s])
    mon.close()


def judgment(every: int, seeds: int) -> None:
    """Latency in cadence windows on the issue's probes, and the healthy streams' alert rate."""
    from advisor.engine import Engine
    from advisor.config import AnalyzeConfig
    from advisor.live import Monitor
    from advisor.live.torch import Monitor as TorchMonitor
    from advisor.model import Severity
    from advisor.pipeline import diagnose_run
    from tests import synth
    from tests.live.helpers import diverging
    from tests.live.probes import offline_first, overfit_data, train_torch

    print(f"\nlatency (cadence every={every}; default settings, default time budget)")
    rows = []
    for seed in range(seeds):
        r = train_torch(lambda m, o: TorchMonitor(m, o, every=every, on_finding=None), 8.0, 4 * every, seed=seed)
        crit = [a for a in r.monitor.alerts if a.finding.severity is Severity.CRITICAL]
        jump = int(np.argmax(r.losses[:10]))
        rows.append(("lr 8 SGD digits MLP", seed, crit[0].finding.condition if crit else "-", (crit[0].step - jump) / every if crit else float("inf")))
        onset = 600 + 137 * seed
        mon = Monitor(every=every, on_finding=None)
        for s, v in enumerate(diverging(onset + 300, onset, growth=1.05, seed=seed)):
            mon.log(s, loss=float(v))
        hit = [a for a in mon.alerts if a.finding.condition in ("divergence", "non-finite")]
        rows.append(("divergence x1.05/step", seed, hit[0].finding.condition if hit else "-", (hit[0].step - onset) / every if hit else float("inf")))
    for name, seed, cond, win in rows:
        print(f"  {name:<24} seed {seed}  {cond:<16} {win:5.2f} windows after onset")
    ev = 10
    print(f"\noverfitting (eval every {ev} steps): live alert vs offline analyze of the same prefix (held 2 evals)")
    for seed in range(seeds):
        r = train_torch(lambda m, o: TorchMonitor(m, o, every=every, on_finding=None), 0.5, 600, seed=seed, width=256, eval_every=ev, data=overfit_data())
        off = offline_first(r, "overfitting", hold=2)
        live = [a.step for a in r.monitor.alerts if a.finding.condition == "overfitting"]
        gap = (live[0] - off) / ev if live and off is not None else float("nan")
        print(f"  seed {seed}: val min at {min(r.vals, key=lambda t: t[1])[0]}, offline {off}, live {live[0] if live else None}: {gap:+.0f} evaluations")
    eng = Engine.from_config(AnalyzeConfig())
    n = crit = warn = same = 0
    alerts = 0
    for name, build in synth.HEALTHY.items():
        for seed in range(seeds):
            curves = build(seed)
            mon = Monitor(every=every, on_finding=None)
            _stream(mon, curves)
            n += 1
            loud = [a for a in mon.alerts if a.step < (mon.step or 0)]  # during the run, not close()
            alerts += len(loud)
            crit += any(a.finding.severity is Severity.CRITICAL for a in loud)
            warn += any(a.finding.severity is Severity.WARNING for a in loud)
            offline = {f.condition for f in diagnose_run(synth.run_of(curves), eng).report.findings}
            same += {f.condition for f in mon.findings} == offline
    print(f"\nhealthy synthetic streams ({n}: {len(synth.HEALTHY)} shapes x {seeds} seeds) through the monitor at defaults:")
    print(f"  runs with a critical alert during the run: {crit}/{n}; with a warning: {warn}/{n} ({100 * warn / n:.1f}%)")
    print(f"  final live findings == offline analyze: {same}/{n} ({100 * same / n:.0f}%)")


def act(seeds: int) -> None:
    """Delivered val loss with act=True vs the same loop without a monitor, torch and optax."""
    from advisor.live import Monitor
    from advisor.live.torch import Monitor as TorchMonitor
    from tests.live.probes import overfit_data, train_optax, train_torch

    print("\nact=True: delivered val loss (the model the loop ends with) vs no monitor")
    probes = [
        ("torch lr 8", lambda f, s: train_torch(f and (lambda m, o: TorchMonitor(m, o, on_finding=None, act=True)), 8.0, 300, seed=s)),
        ("torch overfit", lambda f, s: train_torch(f and (lambda m, o: TorchMonitor(m, o, on_finding=None, act=True)), 0.5, 600, seed=s, width=256, eval_every=10, data=overfit_data())),
        ("optax lr 5", lambda f, s: train_optax(f and (lambda: Monitor(on_finding=None, act=True, hparams={"lr": 5.0, "optimizer": "sgd"})), 5.0, 300, seed=s)),
        ("optax overfit", lambda f, s: train_optax(f and (lambda: Monitor(on_finding=None, act=True)), 0.5, 600, seed=s, width=256, eval_every=10, data=overfit_data())),
    ]
    for name, go in probes:
        for seed in range(seeds):
            plain, acted = go(None, seed), go(True, seed)
            acts = "; ".join(a.detail for a in acted.monitor.actions.taken) or "no action"
            print(f"  {name:<14} seed {seed}: none {plain.final_val:.3f}  act {acted.final_val:.3f}  ({'better' if acted.final_val < plain.final_val else 'NOT better'}) — {acts}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=60, help="blocks of --every steps per variant")
    ap.add_argument("--repeats", type=int, default=3, help="rounds with fresh model copies (the blocks are split over them)")
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier timings on a shared machine)")
    ap.add_argument("--variants", default="core,torch,torch1")
    ap.add_argument("--latency", action="store_true", help="only the detection-latency table")
    ap.add_argument("--replay", metavar="DIR", help="only the live-vs-analyze replay of the runs under DIR")
    ap.add_argument("--judgment", action="store_true", help="only latency in cadence windows on the probes and the healthy streams' alert rate")
    ap.add_argument("--act", action="store_true", help="only act=True vs no monitor on the probes (torch and optax)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--attribution", action="store_true", help="only the monitor's own time (its entry points timed from outside)")
    args = ap.parse_args()
    if args.judgment or args.act:
        import torch

        torch.set_num_threads(args.threads)
        if args.judgment:
            judgment(args.every, args.seeds)
        if args.act:
            act(args.seeds)
        return
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
    if args.attribution:
        attribution("cpu", args.blocks, args.every, variants)
        return
    overhead("cpu", args.blocks, args.every, variants, args.repeats)
    attribution("cpu", args.blocks, args.every, variants)
    if torch.cuda.is_available():
        overhead("cuda", args.blocks * 4, args.every, variants, args.repeats)
        cuda_syncs(10 * args.every, args.every)
    else:
        print("\n(no CUDA device: GPU timing and sync counting skipped)")


if __name__ == "__main__":
    main()
