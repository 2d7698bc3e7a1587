"""The training run both backends share: batch plan, cadence, logging, evaluation, early stopping, control.

A backend supplies an :class:`Engine` (model + optimizer on its device) that runs one *logging
interval* of steps at a time and hands back per-step metrics as numpy arrays: the torch engine
loops in Python with metrics accumulated on device, the JAX engine runs the interval as one
compiled ``lax.scan``. Everything around that — which samples each step sees, the learning rate
of each step, when to evaluate, stop, log, call back and poll live control — lives here, once,
so the two trainers behave the same for the same config.

Step numbering: the k-th parameter update is step k (1-based); its train metrics are logged at
k, and an evaluation after it is logged at k too. ``early_stop.step = S`` stops after update S.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from advisor.io.writer import EventWriter
from backends.config import ConfigError, TrainConfig, apply, steps_per_epoch, total_steps
from backends.control import Control
from backends.schedule import Schedule
from backends.tasks import Dataset, build

Callback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    """What one run achieved (``to_dict`` is what ``advisor tune`` reads)."""

    best_val_loss: float
    best_val_step: int
    best_val_accuracy: float | None
    final_train_loss: float
    final_val_loss: float  # val loss of the weights the run returns (the best's, when restored)
    test_loss: float
    test_accuracy: float | None
    steps: int
    stopped_early: bool
    stop_reason: str
    diverged: bool
    wall_time: float
    logdir: str
    applied: tuple[dict[str, Any], ...] = ()
    restored_step: int | None = None  # the step whose weights were restored for the test evaluation
    backend: str = ""
    device: str = ""
    final_val_accuracy: float | None = None  # of the weights the run returns
    live_findings: tuple[dict[str, Any], ...] = ()  # what a live monitor reported, with its step

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["applied"] = [dict(a) for a in self.applied]
        d["live_findings"] = [dict(f) for f in self.live_findings]
        return d

    def summary(self) -> str:
        """The one line the CLI prints at the end."""
        acc = "" if self.best_val_accuracy is None else f" (acc {self.best_val_accuracy:.4f})"
        test = f"test loss {self.test_loss:.4g}" + ("" if self.test_accuracy is None else f", acc {self.test_accuracy:.4f}")
        how = f" | stopped: {self.stop_reason}" if self.stop_reason else ""
        return (f"[{self.backend}] best val loss {self.best_val_loss:.4g}{acc} at step {self.best_val_step} | {test}"
                f" | {self.steps} steps in {self.wall_time:.1f}s{how}")


@dataclass(frozen=True)
class Chunk:
    """One logging interval's inputs. Arrays have the interval's full length; the first ``n`` are real."""

    start: int  # the first step of the interval (1-based)
    n: int
    indices: np.ndarray  # (L, batch) int32 rows of the training set
    lr: np.ndarray  # (L,) float32
    nan: np.ndarray  # (L,) bool: this step's batch gets NaN inputs
    layer: np.ndarray  # (L,) bool: record per-layer grad norms and the update ratio at this step

    @property
    def active(self) -> np.ndarray:
        return np.arange(len(self.lr)) < self.n


class Engine(Protocol):
    """A backend's model + optimizer + compiled steps, on its device."""

    device: str
    layer_names: list[str]

    def run_chunk(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """Train ``chunk.n`` steps; return per-step 'loss', 'grad_norm', ('accuracy'), 'update_ratio'
        and 'layer/<name>' arrays of length ``chunk.n`` (NaN where a step records nothing)."""

    def evaluate(self, split: str) -> tuple[float, float | None]:
        """Loss and accuracy (None for regression) on 'val' or 'test'."""

    def snapshot(self) -> Any: ...

    def restore(self, snap: Any) -> None: ...

    def set_hyper(self, optim: Any) -> None:
        """Take live changes of weight decay and clipping thresholds (an OptimConfig)."""


EngineFactory = Callable[[TrainConfig, Dataset, Schedule, int], Engine]


def coerce_config(config: TrainConfig | Mapping[str, Any] | None, seed: int | None) -> TrainConfig:
    if config is None:
        cfg = TrainConfig()
    elif isinstance(config, TrainConfig):
        cfg = config.validate()
    elif isinstance(config, Mapping):
        cfg = TrainConfig.from_dict(config)
    else:
        raise ConfigError(f"config must be a TrainConfig or a dict, got {type(config).__name__}")
    return replace(cfg, seed=int(seed)) if seed is not None else cfg


class BatchPlan:
    """Which training rows each step sees: a fresh permutation per epoch when shuffling, dataset order otherwise."""

    def __init__(self, n_train: int, batch_size: int, shuffle: bool, seed: int) -> None:
        self.n, self.bs, self.shuffle, self.seed = n_train, min(batch_size, n_train), shuffle, seed
        self.per_epoch = n_train // self.bs
        self._cache: dict[int, np.ndarray] = {}

    def epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int32)
        if epoch not in self._cache:
            self._cache = {epoch: np.random.default_rng([self.seed, 1, epoch]).permutation(self.n).astype(np.int32)}
        return self._cache[epoch]

    def indices(self, start: int, n: int, length: int) -> np.ndarray:
        out = np.zeros((length, self.bs), dtype=np.int32)
        for i in range(n):
            epoch, pos = divmod(start - 1 + i, self.per_epoch)
            out[i] = self.epoch_order(epoch)[pos * self.bs:(pos + 1) * self.bs]
        return out


def nan_rows(cfg: TrainConfig, batch_size: int) -> int:
    """How many samples of a corrupted batch get NaN inputs."""
    return max(1, min(batch_size, round(cfg.data.nan_fraction * batch_size)))


def _finite_or_nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values (NaN when there are none), without numpy's empty-slice warning."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _live_monitor(spec: Any, every: int, logdir: str, sink: list[dict[str, Any]], control: Control | None) -> Any:
    """An advisor.live.Monitor whose findings land in ``sink`` (and, with a control, act)."""
    if spec is None or spec is False:
        return None
    from advisor.live import Monitor

    state = {"submitted": set()}

    def on_finding(f: Any) -> None:
        rec = {"step": mon.step, "condition": f.condition, "severity": f.severity.value, "summary": f.summary}
        if control is not None and f.condition not in state["submitted"]:
            for r in f.remedies:
                if r.kind == "auto" and r.live:
                    control.submit(r)
                    state["submitted"].add(f.condition)
                    rec["submitted"] = {"action": r.action, "params": dict(r.params)}
                    break
        sink.append(rec)

    # budget=None: diagnose at every interval, so a run (and what it applies live) does not
    # depend on how busy the machine is.
    mon = spec if not isinstance(spec, bool) else Monitor(every=max(1, every), on_finding=on_finding, budget=None, name=os.path.basename(logdir.rstrip(os.sep)) or "run")
    if not isinstance(spec, bool):
        mon.add_callback(on_finding)
    return mon


class _NullWriter:
    """The event writer of a rank that does not write (data parallel: rank 0 writes)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *a, **k: None


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(label, total=total, info="")
            self._bar.start()

    def update(self, step: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def run(
    backend: str,
    make_engine: EngineFactory,
    config: TrainConfig | Mapping[str, Any] | None,
    logdir: str,
    seed: int | None = None,
    *,
    control: Control | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    monitor: Any = None,
    auto_remedy: bool = False,
) -> TrainResult:
    """Train one run with ``make_engine``'s backend and log it to ``logdir`` (SPEC §6 tags).

    ``monitor``: True (or an :class:`advisor.live.Monitor`) diagnoses the run while it trains,
    fed every step; its findings are listed in the result. ``auto_remedy``: submit each new
    finding's first live-capable remedy (scale_lr, clip_grad_norm, weight_decay, early_stop,
    lr_schedule) through the control, so the trainer acts on live findings.
    """
    cfg = coerce_config(config, seed)
    if auto_remedy and monitor is None:
        monitor = True
    if auto_remedy and control is None:
        control = Control()
    t0 = time.perf_counter()
    data = build(cfg.data)
    run_steps = total_steps(cfg)
    spe = steps_per_epoch(cfg)
    schedule = Schedule(cfg.schedule, cfg.optim.lr, run_steps)
    engine = make_engine(cfg, data, schedule, spe)
    interval = cfg.train.log_every or cfg.train.eval_every or spe
    eval_every = cfg.train.eval_every or spe
    plan = BatchPlan(len(data.x_train), cfg.data.batch_size, cfg.data.shuffle, cfg.seed)

    # Data parallel across processes (torchrun): rank 0 alone writes the logs and runs the live
    # monitor; ``agree`` shares its decisions with the other ranks once per interval.
    writes, agree = getattr(engine, "is_writer", True), getattr(engine, "agree", None)
    if writes:
        os.makedirs(logdir, exist_ok=True)
        with open(os.path.join(logdir, "config.json"), "w", encoding="utf-8") as fh:
            json.dump(cfg.to_dict(), fh, indent=2)
    writer = EventWriter(logdir) if writes else _NullWriter()
    # Resolved facts beside the config (whose 0s mean "the task's default"), for the analyzer.
    facts = {"run.steps_per_epoch": spe, "run.total_steps": run_steps, "run.n_classes": data.n_classes, "run.n_train": len(data.x_train), "run.n_val_samples": len(data.x_val)}
    writer.add_hparams({**cfg.flat(), **facts}, metrics=("val/loss", "val/accuracy", "test/loss", "test/accuracy"))
    writer.add_text("run/backend", f"{backend} on {engine.device}", 0)
    bar = _Progress(progress, run_steps, f"{backend} {cfg.data.task}/{cfg.model.kind}")

    best_loss, best_step, best_acc, best_snap = math.inf, 0, None, None
    bad_evals, last_eval, val_loss, val_acc = 0, 0, float("nan"), None
    live_findings: list[dict[str, Any]] = []
    mon = _live_monitor(monitor, interval, logdir, live_findings, control if auto_remedy else None) if writes else None
    step, stop_reason, diverged, stopped_early = 0, "", False, False
    applied: list[dict[str, Any]] = []
    recent_train: np.ndarray = np.array([np.nan])
    callback_errors = 0
    observe = getattr(callback, "observe", None) if callback is not None else None
    observe = observe if callable(observe) else None

    try:
        while True:
            stop_at = min(run_steps, cfg.early_stop.step) if cfg.early_stop.step else run_steps
            if step >= stop_at:
                if step < run_steps:
                    stop_reason, stopped_early = f"early_stop.step {cfg.early_stop.step} reached", True
                break
            n = min(interval, stop_at - step)
            start = step + 1
            steps_1 = np.arange(start, start + interval)
            chunk = Chunk(
                start=start,
                n=n,
                indices=plan.indices(start, n, interval),
                lr=schedule.lrs(start - 1, interval),
                nan=(steps_1 >= cfg.data.nan_from_step) if cfg.data.nan_from_step >= 0 else np.zeros(interval, bool),
                layer=(steps_1 % cfg.train.layer_every == 0) | (steps_1 == 1),
            )
            m = engine.run_chunk(chunk)
            loss = m["loss"][:n]
            bad = np.flatnonzero(~np.isfinite(loss))
            done = n if not len(bad) else int(bad[0]) + 1
            last: dict[str, float] = {}
            for i in range(done):
                k = start + i
                last = {"train/loss": float(loss[i])}
                if "accuracy" in m:
                    last["train/accuracy"] = float(m["accuracy"][i])
                last["train/lr"] = float(chunk.lr[i])
                last["train/grad_norm"] = float(m["grad_norm"][i])
                if chunk.layer[i]:
                    for name in engine.layer_names:
                        last[f"train/grad_norm/{name}"] = float(m[f"layer/{name}"][i])
                    last["train/update_ratio"] = float(m["update_ratio"][i])
                writer.add_scalars(last, k)
                if mon is not None:
                    mon.log(k, last)
                if observe is not None:  # a callback that takes every step (advisor tune's watch)
                    observe(k, dict(last))
            step = start + done - 1
            recent_train = loss[:done]
            if len(bad):
                diverged, stop_reason = True, f"non-finite loss ({loss[bad[0]]}) at step {step}"
                writer.add_text("run/stop", stop_reason, step)

            if not diverged and (step - last_eval >= eval_every or step >= stop_at):
                last_eval = step
                val_loss, val_acc = engine.evaluate("val")
                vals = {"val/loss": val_loss} if val_acc is None else {"val/loss": val_loss, "val/accuracy": val_acc}
                writer.add_scalars(vals, step)
                if mon is not None:
                    mon.log(step, vals)
                last.update(vals)
                if schedule.observe(val_loss):
                    writer.add_text("run/schedule", f"plateau: lr reduced to {schedule.lr(step):.3g}", step)
                if val_loss < best_loss - cfg.early_stop.min_delta:
                    best_loss, best_step, best_acc, bad_evals = val_loss, step, val_acc, 0
                    if cfg.early_stop.restore_best or control is not None:  # a live early stop may restore it
                        best_snap = engine.snapshot()
                else:
                    bad_evals += 1
                    if cfg.early_stop.patience and bad_evals >= cfg.early_stop.patience:
                        stop_reason, stopped_early = f"early stopping: val loss did not improve for {bad_evals} evaluations", True

            if callback is not None and last:
                try:
                    asked = callback(step, dict(last))
                    if isinstance(asked, str) and asked and not stop_reason:  # the caller asks to stop (advisor tune)
                        stop_reason, stopped_early = asked, True
                        writer.add_text("run/stop", asked, step)
                except Exception as e:  # a monitor's failure never kills training
                    callback_errors += 1
                    if callback_errors <= 3:
                        msg = f"callback raised {type(e).__name__}: {e}"
                        writer.add_text("run/callback_error", msg, step)
                        print(f"warning: {msg}", file=sys.stderr)

            remedies, reason = (control.drain(), control.stop_requested) if control is not None and not diverged else ([], None)
            if agree is not None:  # every rank acts on rank 0's remedies, and stops when any rank stops
                remedies, reason, halt = agree(remedies, reason, bool(diverged or stop_reason))
                if halt and not (diverged or stop_reason):
                    stop_reason, stopped_early = "stopped on another rank", True
            for remedy in remedies if not diverged else ():
                try:
                    cfg = apply(cfg, remedy)
                except ConfigError as e:
                    writer.add_text("control/rejected", f"{remedy.action}: {e}", step)
                    applied.append({"step": step, "action": remedy.action, "params": dict(remedy.params), "error": str(e)})
                    continue
                schedule.reconfigure(cfg.schedule, cfg.optim.lr)
                engine.set_hyper(cfg.optim)
                applied.append({"step": step, "action": remedy.action, "params": dict(remedy.params)})
                writer.add_text("control/applied", f"step {step}: {remedy.action} {json.dumps(dict(remedy.params))}", step)
                if remedy.action == "early_stop" and cfg.early_stop.patience and bad_evals >= cfg.early_stop.patience:
                    stop_reason, stopped_early = "early stopping (applied live)", True
            if reason and not stop_reason:
                stop_reason, stopped_early = f"control: {reason}", True

            bar.update(step, f"loss {_mean(recent_train):.4g}" + (f" val {val_loss:.4g}" if last_eval else ""))
            if diverged or stop_reason:
                break

        if mon is not None:
            mon.close()
        restored: int | None = None
        if cfg.early_stop.restore_best and best_snap is not None and best_step != step:
            engine.restore(best_snap)
            restored = best_step
            writer.add_text("run/restore", f"restored the weights of step {best_step} (best val loss {best_loss:.4g})", step)
        # The val loss of the weights returned: the best's when restored; measured again when
        # training moved on (or crashed into NaN) after the last evaluation.
        if restored is not None:
            final_val, final_acc = best_loss, best_acc
        elif last_eval == step and not diverged:
            final_val, final_acc = val_loss, val_acc
        else:
            final_val, final_acc = engine.evaluate("val")
        test_loss, test_acc = engine.evaluate("test")
        writer.add_scalars({"test/loss": test_loss} | ({} if test_acc is None else {"test/accuracy": test_acc}), step)
        wall = time.perf_counter() - t0
        result = TrainResult(
            best_val_loss=best_loss if best_step else float("nan"),
            best_val_step=best_step,
            best_val_accuracy=best_acc,
            final_train_loss=_mean(recent_train),
            final_val_loss=_finite_or_nan(final_val),
            final_val_accuracy=final_acc,
            live_findings=tuple(live_findings),
            test_loss=float(test_loss),
            test_accuracy=test_acc,
            steps=step,
            stopped_early=stopped_early,
            stop_reason=stop_reason,
            diverged=diverged,
            wall_time=wall,
            logdir=os.fspath(logdir),
            applied=tuple(applied),
            restored_step=restored,
            backend=backend,
            device=engine.device,
        )
        writer.add_text("run/result", json.dumps(result.to_dict()), step)
        return result
    finally:
        bar.close()
        writer.close()


def trainer(backend: str, engine: str) -> Callable[..., TrainResult]:
    """Make a backend package's ``train`` (SPEC protocol); ``engine`` is 'module:Class', imported on first use."""

    def train(
        config: TrainConfig | Mapping[str, Any] | None,
        logdir: str,
        seed: int | None = None,
        *,
        control: Control | None = None,
        callback: Callback | None = None,
        progress: bool = False,
        monitor: Any = None,
        auto_remedy: bool = False,
    ) -> TrainResult:
        module, name = engine.split(":")
        make_engine = getattr(importlib.import_module(module), name)
        return run(backend, make_engine, config, logdir, seed, control=control, callback=callback, progress=progress, monitor=monitor, auto_remedy=auto_remedy)

    train.__doc__ = (f"Train ``config`` (a TrainConfig or its dict; None: the default) with the {backend} engine, logging "
                     "SPEC §6 tags to ``logdir``. ``seed`` overrides config.seed; ``control`` takes live remedies; "
                     "``callback(step, scalars)`` runs at each logging interval (its exceptions are logged, never raised; a "
                     "non-empty string it returns stops the run there, with that reason; a callback with an ``observe(step, scalars)`` "
                     "method is also given every step's values); "
                     "``monitor=True`` diagnoses the run live with advisor.live.Monitor and ``auto_remedy=True`` applies "
                     "each live finding's first live-capable remedy.")
    return train


__all__ = ["trainer", "TrainResult", "Chunk", "Engine", "BatchPlan", "run", "nan_rows", "coerce_config"]
