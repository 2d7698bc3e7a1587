"""``advisor tune``: apply recommendations on a reference trainer and verify them over seeds.

A round trains the current config with K seeds, analyses every run, takes the finding present
in most seeds that ranks highest, and tries its ``auto`` remedies in order: patch the config,
train the patched config with the same seeds, and verify —

* the condition is gone (or clearly weaker: lower severity, or confidence down by
  ``WEAKER_BY``) in a majority of seeds, and
* the target metric improved in a majority of seeds, with a mean paired improvement larger
  than the seed-to-seed noise (pooled standard deviation of both sides); the paired effect
  size (mean / std of the differences) is reported.

A verified remedy becomes the new config and the next round starts from it. A remedy that
improved the metric beyond the noise while its condition stayed is kept too (``"kept": true``,
``"verified": false``): throwing away a clear gain helps nobody, and the next round diagnoses
the better config again (a dropout cut from 0.8 to 0.4 that still leaves val below train is
followed by a further cut). Any other attempt is recorded and the next candidate (then the next
finding) is tried, within a budget. Tuning stops when the runs are healthy, the budget or the
rounds are spent, or nothing helps.

Every finished training is appended to ``journal.jsonl`` under ``--out`` (flushed and fsynced),
keyed by the config's hash and the seed; ``--resume`` reuses finished runs, so killing the
process at any moment loses no result. Seeds train in parallel worker processes.

Trainers are reached through a small protocol and loaded by name; the core never imports them:
a trainer module provides ``train(config: dict, logdir, seed) -> result`` (a dict or an object
with ``to_dict()``), and ``apply(config, remedy) -> config`` and ``load_config(path) -> dict``
either itself or through ``backends.config``.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import importlib
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from advisor.analyze import analyze
from advisor.errors import UsageError
from advisor.model import Severity, jsonable

BACKENDS = {"torch": "backends.torch_trainer", "jax": "backends.flax_trainer"}
WEAKER_BY = 0.25  # confidence drop that counts as "clearly weaker" at the same severity

# metric name -> (result key(s) tried in order, lower is better)
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "val_loss": (("final_val_loss", "best_val_loss"), True),
    "best_val_loss": (("best_val_loss",), True),
    "val_accuracy": (("final_val_accuracy", "best_val_accuracy"), False),
    "best_val_accuracy": (("best_val_accuracy",), False),
    "test_loss": (("test_loss",), True),
    "test_accuracy": (("test_accuracy",), False),
}


# ----------------------------------------------------------------------------- trainer protocol


@dataclass(frozen=True)
class Trainer:
    """A reference trainer as tune sees it."""

    name: str
    module_name: str

    def _mod(self):
        try:
            return importlib.import_module(self.module_name)
        except ImportError as e:
            extra = {"torch": "torch", "jax": "jax"}.get(self.name, self.name)
            raise UsageError(f"cannot load the {self.name} trainer ({e}); install it with: pip install 'training-advisor[{extra}]'") from None

    def _config_api(self, fn: str) -> Callable[..., Any]:
        mod = self._mod()
        if hasattr(mod, fn):
            return getattr(mod, fn)
        try:
            cfg = importlib.import_module("backends.config")
        except ImportError as e:
            raise UsageError(f"trainer {self.name} provides no {fn}() and backends.config is missing ({e})") from None
        if fn == "load_config":
            return lambda path: _config_to_dict(cfg.TrainConfig.load(path))
        if fn == "apply":
            return lambda c, r: _config_to_dict(cfg.apply(cfg.TrainConfig.from_dict(c), r))
        return getattr(cfg, fn)

    def load_config(self, path: str) -> dict[str, Any]:
        try:
            return _config_to_dict(self._config_api("load_config")(path))
        except (OSError, ValueError) as e:  # ConfigError is a ValueError
            raise UsageError(f"{path}: {e}") from None

    def apply(self, config: Mapping[str, Any], remedy: Mapping[str, Any]) -> dict[str, Any]:
        return _config_to_dict(self._config_api("apply")(dict(config), dict(remedy)))

    def train(self, config: Mapping[str, Any], logdir: str, seed: int, **kw: Any) -> dict[str, Any]:
        """Train once; ``kw`` (e.g. ``auto_remedy=True``) goes to trainers that support it."""
        try:
            result = self._mod().train(dict(config), logdir, seed, **kw)
        except TypeError as e:
            if kw and "unexpected keyword" in str(e):
                raise UsageError(f"trainer {self.name} does not support live control ({', '.join(kw)})") from None
            raise
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def load_trainer(name: str) -> Trainer:
    """'torch', 'jax', or a module path providing the protocol (e.g. a custom trainer)."""
    return Trainer(name, BACKENDS.get(name, name))


def _config_to_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        return json.loads(json.dumps(cfg))
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    raise TypeError(f"config of type {type(cfg).__name__} is not a mapping")


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Flattened {key: (old, new)} for every leaf that differs."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        key = f"{prefix}{k}"
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out.update(config_diff(va, vb, key + "."))
        elif va != vb:
            out[key] = (va, vb)
    return out


# ----------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSONL of finished trainings and tuning decisions; survives kills."""

    def __init__(self, path: str, resume: bool) -> None:
        self.path = path
        self.runs: dict[tuple[str, int], dict[str, Any]] = {}
        self.header: dict[str, Any] | None = None
        if os.path.exists(path):
            if not resume:
                raise UsageError(f"{path} exists: pass --resume to continue it, or choose another --out")
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill: that run is simply redone
                if rec.get("type") == "run":
                    self.runs[(rec["config_hash"], int(rec["seed"]))] = rec
                elif rec.get("type") == "start" and self.header is None:
                    self.header = rec

    def write(self, rec: Mapping[str, Any]) -> None:
        line = json.dumps(rec, default=str, allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


# ----------------------------------------------------------------------------- training in parallel


def _train_job(args: tuple[Any, ...]) -> dict[str, Any]:
    name, config, logdir, seed, threads, *rest = args
    kw = rest[0] if rest else {}
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch  # noqa: F401  (only to cap its threads when it is the backend)

        torch.set_num_threads(threads)
    except Exception:
        pass
    t = time.time()
    try:
        result = load_trainer(name).train(config, logdir, seed, **kw)
        return {"ok": True, "result": result, "seconds": time.time() - t}
    except UsageError as e:
        return {"ok": False, "error": str(e), "seconds": time.time() - t, "usage": True}
    except Exception as e:  # a crashed training is a result (diverged config), not a crash of tune
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "seconds": time.time() - t}


@dataclass
class Runner:
    trainer: Trainer
    out: str
    journal: Journal
    workers: int
    progress: Callable[[int, float], None] | None = None  # (runs finished, seconds) callback
    done: int = 0
    spent: float = 0.0

    def logdir(self, h: str, seed: int) -> str:
        return os.path.join(self.out, "runs", h, f"seed{seed}")

    def train_all(self, config: Mapping[str, Any], seeds: Sequence[int], live: bool = False) -> list[dict[str, Any]]:
        """Train ``config`` with every seed (reusing journaled runs); records in seed order.

        ``live``: the trainer diagnoses itself while it trains and applies live remedies
        (journaled under the config's hash with a ``-live`` suffix).
        """
        h = config_hash(config) + ("-live" if live else "")
        kw = {"auto_remedy": True} if live else {}
        todo = [s for s in seeds if (h, s) not in self.journal.runs]
        if todo:
            threads = max(1, (os.cpu_count() or 1) // max(1, min(self.workers, len(todo))))
            jobs = [(self.trainer.name, dict(config), self.logdir(h, s), s, threads, kw) for s in todo]
            if self.workers <= 1 or len(jobs) == 1:
                for job in jobs:
                    self._record(h, job[3], job[2], _train_job(job))
            else:
                ctx = mp.get_context("spawn")
                with cf.ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=ctx) as ex:
                    futs = {ex.submit(_train_job, job): job for job in jobs}
                    for fut in cf.as_completed(futs):
                        job = futs[fut]
                        try:
                            res = fut.result()
                        except Exception as e:  # a worker died (e.g. killed by the OS)
                            res = {"ok": False, "error": f"worker failed: {e}", "seconds": 0.0}
                        self._record(h, job[3], job[2], res)
        return [self.journal.runs[(h, s)] for s in seeds]

    def _record(self, h: str, seed: int, logdir: str, res: Mapping[str, Any]) -> None:
        findings: list[dict[str, Any]] = []
        if os.path.isdir(logdir):
            try:
                a = analyze([logdir], workers=1)
                findings = [f.to_dict() for r in a.report.runs for f in r.findings]
            except Exception as e:
                findings = []
                res = {**res, "analysis_error": str(e)}
        rec = {"type": "run", "config_hash": h, "seed": seed, "logdir": logdir, **res, "findings": findings}
        self.journal.write(rec)
        self.journal.runs[(h, seed)] = rec
        self.done += 1
        self.spent += float(res.get("seconds") or 0.0)
        if self.progress:
            self.progress(self.done, self.spent)


# ----------------------------------------------------------------------------- verification


def metric_values(records: Sequence[Mapping[str, Any]], metric: str) -> list[float]:
    keys, lower = METRICS[metric]
    worst = math.inf if lower else -math.inf
    out = []
    for rec in records:
        v = None
        if rec.get("ok"):
            res = rec.get("result") or {}
            for k in keys:
                if res.get(k) is not None:
                    v = res[k]
                    break
        try:
            f = float(v) if v is not None else worst
        except (TypeError, ValueError):
            f = worst
        out.append(f if math.isfinite(f) else worst)
    return out


def _stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean (a diverged seed's worst value propagates), std over finite seeds, per-seed values."""
    a = np.asarray(values, dtype=float)
    fin = a[np.isfinite(a)]
    mean = float(np.mean(a)) if a.size else math.nan
    std = float(np.std(fin, ddof=1)) if fin.size >= 2 else 0.0
    return {"mean": mean, "std": std, "per_seed": [float(x) for x in a]}


def compare(before: Sequence[float], after: Sequence[float], lower_is_better: bool) -> dict[str, Any]:
    """Paired comparison: improvement per seed, its mean, the seed noise, the effect size."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    with np.errstate(invalid="ignore"):
        d = (b - a) if lower_is_better else (a - b)  # positive = better
    d = np.where(np.isnan(d), 0.0, d)  # worst -> worst: no change
    k = d.size
    improved = int(np.sum(d > 0))
    fin_b, fin_a = b[np.isfinite(b)], a[np.isfinite(a)]
    var = [np.var(x, ddof=1) for x in (fin_b, fin_a) if x.size >= 2]
    noise = float(math.sqrt(np.mean(var))) if var else 0.0
    mean_d = float(np.mean(d))  # a seed rescued from divergence counts as an infinite gain
    if math.isnan(mean_d):  # rescued and ruined seeds at once: no verdict from the mean
        mean_d = 0.0
    sd = float(np.std(d, ddof=1)) if k >= 2 and np.all(np.isfinite(d)) else 0.0
    effect = mean_d / sd if sd > 0 else (math.inf if mean_d > 0 else (0.0 if mean_d == 0 else -math.inf))
    majority = improved > k / 2
    if k >= 2:
        better = majority and mean_d > noise
    else:  # one seed: no noise estimate; require a clear relative gain
        ref = abs(float(b[0])) if np.isfinite(b[0]) and b[0] != 0 else 1.0
        better = majority and mean_d > 0.01 * ref
    return {"improvement": mean_d, "noise": noise, "effect_size": effect, "improved_seeds": improved, "seeds": k, "improved": bool(better)}


def condition_state(records: Sequence[Mapping[str, Any]], condition: str, reference: Sequence[Mapping[str, Any]] | None = None) -> tuple[bool, int]:
    """(gone in a majority of seeds, how many seeds it is gone or clearly weaker in)."""
    gone = 0
    for i, rec in enumerate(records):
        f = next((x for x in rec.get("findings") or [] if x["condition"] == condition), None)
        if f is None:
            if rec.get("ok") or not reference:
                gone += 1
            continue
        if reference is not None and i < len(reference):
            r = next((x for x in reference[i].get("findings") or [] if x["condition"] == condition), None)
            if r is not None:
                rank_now, rank_ref = Severity.parse(f["severity"]).rank, Severity.parse(r["severity"]).rank
                if rank_now < rank_ref or (rank_now == rank_ref and f["confidence"] <= r["confidence"] - WEAKER_BY):
                    gone += 1
    return gone > len(records) / 2, gone


# ----------------------------------------------------------------------------- choosing what to fix


@dataclass(frozen=True)
class Target:
    condition: str
    severity: Severity
    seeds: int
    remedies: tuple[dict[str, Any], ...]
    summary: str


def targets(records: Sequence[Mapping[str, Any]], min_severity: Severity = Severity.WARNING) -> list[Target]:
    """Conditions at or above ``min_severity`` in a majority of seeds, most important first.

    Ordered by seeds affected, severity, then mean priority; remedies are the ``auto`` ones in the
    order of the seed whose finding ranked highest, with numeric parameters replaced by their
    median across seeds (e.g. the early-stop step).
    """
    per: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        for f in rec.get("findings") or []:
            if Severity.parse(f["severity"]).rank >= min_severity.rank:
                per.setdefault(f["condition"], []).append(f)
    k = len(records)
    out = []
    for cond, fs in per.items():
        if len(fs) <= k / 2:
            continue
        best = min(fs, key=lambda f: f["priority"])
        rems = []
        for r in best["remedies"]:
            if r.get("kind", "auto") != "auto":
                continue
            params = dict(r.get("params") or {})
            for p, v in params.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    vals = [x["params"][p] for f in fs for x in f["remedies"] if x["action"] == r["action"] and isinstance(x.get("params", {}).get(p), (int, float))]
                    if vals:
                        med = float(np.median(vals))
                        params[p] = int(round(med)) if isinstance(v, int) else med
            rems.append({"action": r["action"], "params": params, "rationale": r.get("rationale", "")})
        sev = max((Severity.parse(f["severity"]) for f in fs), key=lambda s: s.rank)
        out.append((len(fs), sev.rank, -float(np.mean([f["priority"] for f in fs])), Target(cond, sev, len(fs), tuple(rems), best["summary"])))
    out.sort(key=lambda t: (-t[0], -t[1], -t[2], t[3].condition))
    return [t[3] for t in out]


# ----------------------------------------------------------------------------- the loop


def verdict_text(a: Mapping[str, Any]) -> str:
    """One attempt's verdict in words (the log, the table and the HTML page say the same)."""
    if a["verified"]:
        return "verified"
    if a.get("kept"):
        return "kept: clear gain, condition stays"
    return "condition stays" if not a["condition_gone"] else "no clear gain"


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
    curves: dict[str, Any] = field(default_factory=dict)  # config hash -> mean curves, for plots
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


def tune(
    trainer: Trainer,
    config: Mapping[str, Any],
    *,
    out: str,
    rounds: int = 3,
    seeds: int = 3,
    metric: str = "val_loss",
    budget: int | None = None,
    resume: bool = False,
    workers: int | None = None,
    base_seed: int = 0,
    target: Severity = Severity.WARNING,
    progress: Callable[[int, float], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TuneResult:
    """The tuning loop; see the module docstring. ``target``: the least severe finding to act on
    (warning: stop at SPEC's "healthy"; info: also act on advice such as gradient noise)."""
    min_severity = target
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if rounds < 1 or seeds < 1:
        raise UsageError("--rounds and --seeds must be at least 1")
    os.makedirs(out, exist_ok=True)
    journal = Journal(os.path.join(out, "journal.jsonl"), resume)
    initial = _config_to_dict(config)
    if journal.header is not None and journal.header.get("config_hash") != config_hash(initial):
        raise UsageError(f"{out} holds a tuning of another config; use another --out")
    if journal.header is None:
        journal.write({"type": "start", "backend": trainer.name, "config_hash": config_hash(initial), "config": initial, "seeds": seeds, "metric": metric, "time": time.time()})
    seed_list = [base_seed + i for i in range(seeds)]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    runner = Runner(trainer, out, journal, workers or max(1, min(seeds, cpus)), progress)
    budget = budget if budget is not None else 2 * rounds
    _, lower = METRICS[metric]
    say = log or (lambda s: None)
    t0 = time.time()
    current = initial
    result = TuneResult(trainer.name, metric, seed_list, initial, initial)
    tried = 0
    for rnd in range(1, rounds + 1):
        before = runner.train_all(current, seed_list)
        result.curves[config_hash(current)] = _mean_curves(before)
        failed = [r for r in before if not r.get("ok")]
        if len(failed) > len(before) / 2:  # a crashed training is not a healthy one
            result.stop_reason = f"training failed: {failed[0].get('error', 'unknown error')}"
            break
        todo = targets(before, min_severity)
        if not todo:
            result.stop_reason = "healthy"
            break
        applied = False
        for target in todo:
            for remedy in target.remedies:
                if tried >= budget:
                    break
                try:
                    patched = trainer.apply(current, remedy)
                except (ValueError, TypeError, KeyError) as e:
                    result.attempts.append({"round": rnd, "condition": target.condition, "applied": _rem(remedy), "verified": False, "error": str(e)})
                    continue
                if config_hash(patched) == config_hash(current):
                    continue  # a no-op for this config
                tried += 1
                say(f"round {rnd}: {target.condition} in {target.seeds}/{seeds} seeds -> trying {remedy['action']} {remedy['params']}")
                after = runner.train_all(patched, seed_list)
                result.curves[config_hash(patched)] = _mean_curves(after)
                mb, ma = metric_values(before, metric), metric_values(after, metric)
                cmp = compare(mb, ma, lower)
                gone, n_gone = condition_state(after, target.condition, before)
                ok = gone and cmp["improved"]
                entry = {
                    "round": rnd,
                    "condition": target.condition,
                    "applied": _rem(remedy),
                    "metric": metric,
                    "before": _stats(mb),
                    "after": _stats(ma),
                    "condition_gone": gone,
                    "gone_in_seeds": n_gone,
                    "improvement": cmp["improvement"],
                    "noise": cmp["noise"],
                    "effect_size": cmp["effect_size"],
                    "improved_seeds": cmp["improved_seeds"],
                    "verified": ok,
                    "kept": ok or cmp["improved"],
                    "config_hash_before": config_hash(current),
                    "config_hash_after": config_hash(patched),
                }
                result.attempts.append(entry)
                journal.write({"type": "attempt", **entry})
                say(f"  -> {verdict_text(entry)}: condition gone in {n_gone}/{seeds}, {metric} {entry['before']['mean']:.4g} -> {entry['after']['mean']:.4g} (noise {cmp['noise']:.2g}, effect {cmp['effect_size']:.2g})")
                if entry["kept"]:
                    result.rounds.append(entry)
                    current = patched
                    applied = True
                    break
            if applied or tried >= budget:
                break
        if not applied:
            result.stop_reason = "budget spent" if tried >= budget else "nothing helped"
            break
    else:
        last = runner.train_all(current, seed_list)
        result.curves[config_hash(current)] = _mean_curves(last)
        result.stop_reason = "healthy" if not targets(last, min_severity) else "rounds spent"
    result.final_config = current
    final = runner.train_all(current, seed_list)  # journaled already: nothing is retrained
    first = runner.train_all(initial, seed_list)
    result.final_conditions = [[f["condition"] for f in rec.get("findings") or []] for rec in final]
    result.final_metric = metric_values(final, metric)
    result.initial_metric = metric_values(first, metric)
    result.trainings = len({k for k in journal.runs})
    result.seconds = time.time() - t0
    journal.write({"type": "end", "stop_reason": result.stop_reason, "final_config_hash": config_hash(current), "verified": result.verified})
    return result


def _rem(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"action": r["action"], "params": dict(r.get("params") or {})}


def _mean_curves(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Median train/val loss over seeds on a common step grid, for before/after plots."""
    from advisor.io.discover import discover
    from advisor.io.roles import resolve
    from advisor.io.runs import load_run
    from advisor.model import Role

    per_role: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for rec in records:
        logdir = rec.get("logdir")
        if not logdir or not os.path.isdir(logdir):
            continue
        try:
            for rf in discover(logdir).runs:
                run = load_run(rf)
                sig = resolve(run)
                for role in (Role.TRAIN_LOSS, Role.VAL_LOSS):
                    s = sig.get(run, role)
                    if s is not None and len(s):
                        per_role.setdefault(role.value, []).append((s.steps.astype(float), s.values))
        except Exception:
            continue
    out = {}
    for role, curves in per_role.items():
        hi = max(c[0][-1] for c in curves)
        grid = np.linspace(0, hi, 200)
        stack = np.array([np.interp(grid, s, np.where(np.isfinite(v), v, np.nan), right=np.nan) for s, v in curves])
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(stack, axis=0)
        out[role] = {"steps": grid.tolist(), "values": [None if not math.isfinite(x) else float(x) for x in med]}
    return out


# ----------------------------------------------------------------------------- CLI


def run_tune(args: Any) -> int:
    """``advisor tune`` (argparse namespace from advisor.cli)."""
    from advisor.render import tune_report

    trainer = load_trainer(args.backend)
    if not os.path.isfile(args.config):
        raise UsageError(f"{args.config}: no such config file")
    config = trainer.load_config(args.config)
    out = args.out or os.path.join("advisor-tune", os.path.splitext(os.path.basename(args.config))[0] + f"-{args.backend}")
    if args.live:
        return run_live(trainer, config, out, args)
    log = (lambda s: print(s, file=sys.stderr)) if args.format == "text" else None
    bar, stop = _progress_bar(args.seeds)
    try:
        result = tune(
            trainer,
            config,
            out=out,
            rounds=args.rounds,
            seeds=args.seeds,
            metric=args.metric,
            budget=args.budget,
            resume=args.resume,
            workers=args.workers,
            target=Severity.parse(args.target),
            progress=bar,
            log=log,
        )
    finally:
        stop()
    paths = tune_report.write_outputs(result, out)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(tune_report.text(result, paths))
    return 0 if result.verified else 1


def _progress_bar(seeds: int):
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("trainings done: {task.completed}"), BarColumn(), TextColumn("avg {task.fields[avg]:.0f}s/run"), TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = prog.add_task("tune", total=None, avg=0.0)
    prog.start()

    def cb(done: int, spent: float) -> None:
        prog.update(task, completed=done, avg=spent / max(done, 1))

    return cb, prog.stop


# ----------------------------------------------------------------------------- live mode


def tune_live(trainer: Trainer, config: Mapping[str, Any], *, out: str, seeds: int = 3, metric: str = "val_loss", resume: bool = False, workers: int | None = None) -> dict[str, Any]:
    """Each seed trained twice: plain, and with live remedies applied as findings arrive.

    Returns SPEC-style before/after statistics (plain vs live), the paired comparison, and per
    seed what the live monitor found and which remedy it applied at which step.
    """
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    os.makedirs(out, exist_ok=True)
    journal = Journal(os.path.join(out, "journal.jsonl"), resume)
    cfg = _config_to_dict(config)
    if journal.header is None:
        journal.write({"type": "start", "mode": "live", "backend": trainer.name, "config_hash": config_hash(cfg), "config": cfg, "seeds": seeds, "metric": metric, "time": time.time()})
    seed_list = list(range(seeds))
    runner = Runner(trainer, out, journal, workers or max(1, min(seeds, os.cpu_count() or 1)))
    plain = runner.train_all(cfg, seed_list)
    live = runner.train_all(cfg, seed_list, live=True)
    for rec in (*plain, *live):
        if not rec.get("ok") and rec.get("usage"):
            raise UsageError(rec["error"])
    _, lower = METRICS[metric]
    mp_, ml = metric_values(plain, metric), metric_values(live, metric)
    cmp = compare(mp_, ml, lower)
    per_seed = []
    for s, a, b in zip(seed_list, plain, live):
        res = b.get("result") or {}
        per_seed.append(
            {
                "seed": s,
                "plain_findings": [f["condition"] for f in a.get("findings") or []],
                "live_findings": res.get("live_findings", []),
                "applied": res.get("applied", []),
                "plain_steps": (a.get("result") or {}).get("steps"),
                "live_steps": res.get("steps"),
                "stop_reason": res.get("stop_reason", ""),
            }
        )
    return jsonable(
        {
            "backend": trainer.name,
            "mode": "live",
            "metric": metric,
            "verified": bool(cmp["improved"]) and any(p["applied"] for p in per_seed),
            "before": _stats(mp_),
            "after": _stats(ml),
            "improvement": cmp["improvement"],
            "noise": cmp["noise"],
            "effect_size": cmp["effect_size"],
            "improved_seeds": cmp["improved_seeds"],
            "per_seed": per_seed,
            "config": cfg,
        }
    )


def run_live(trainer: Trainer, config: Mapping[str, Any], out: str, args: Any) -> int:
    res = tune_live(trainer, config, out=out, seeds=args.seeds, metric=args.metric, resume=args.resume, workers=args.workers)
    with open(os.path.join(out, "live.json"), "w") as fh:
        json.dump(res, fh, indent=2, allow_nan=False)
    if args.format == "json":
        sys.stdout.write(json.dumps(res, indent=2, allow_nan=False) + "\n")
    else:
        lines = [f"advisor tune --live ({res['backend']}, {len(res['per_seed'])} seed(s), metric {res['metric']})", ""]
        for p in res["per_seed"]:
            acts = "; ".join(f"step {a['step']}: {a['action']} {a['params']}" for a in p["applied"]) or "nothing applied"
            found = ", ".join(f"{f['condition']}@{f['step']}" for f in p["live_findings"]) or "no live finding"
            lines.append(f"seed {p['seed']}: {found} -> {acts}; steps {p['plain_steps']} -> {p['live_steps']}")
        b, a = res["before"], res["after"]
        lines.append("")
        lines.append(f"{res['metric']}: plain {b['mean']} ± {b['std']} -> live {a['mean']} ± {a['std']} (effect {res['effect_size']}, improved in {res['improved_seeds']}/{len(res['per_seed'])})")
        lines.append(f"verified: {'yes' if res['verified'] else 'no'}; journal and live.json under {out}")
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if res["verified"] else 1
