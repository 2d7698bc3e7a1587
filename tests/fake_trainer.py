"""A fast stand-in for a reference trainer, implementing tune's trainer protocol.

Its curves respond to the config the way real training does, in caricature: a learning rate
above 1 diverges into NaN, one below 1e-3 crawls, ``overfit`` > 0 makes the validation loss turn
up after 30% of the run unless weight decay or early stopping intervenes, and ``broken_labels``
cannot be fixed by any remedy. Every call leaves a marker file so tests can count trainings.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np

from advisor.io.writer import EventWriter

DEFAULT = {
    "lr": 0.1,
    "steps": 400,
    "eval_every": 20,
    "weight_decay": 0.0,
    "overfit": 0.0,
    "broken_labels": False,
    "early_stop": {"step": None, "patience": None, "restore_best": False},
    "clip": None,
}


def load_config(path: str) -> dict[str, Any]:
    with open(path) as fh:
        cfg = json.load(fh)
    unknown = set(cfg) - set(DEFAULT)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    return {**DEFAULT, **cfg}


def apply(config: Mapping[str, Any], remedy: Mapping[str, Any]) -> dict[str, Any]:
    c = json.loads(json.dumps(dict(config)))
    a, p = remedy["action"], dict(remedy.get("params") or {})
    if a == "scale_lr":
        c["lr"] = c["lr"] * float(p["factor"])
    elif a == "weight_decay":
        c["weight_decay"] = float(p["value"])
    elif a == "early_stop":
        c["early_stop"] = {"step": p.get("step"), "patience": p.get("patience"), "restore_best": bool(p.get("restore_best", True))}
    elif a == "clip_grad_norm":
        c["clip"] = float(p["max_norm"])
    elif a == "train_longer":
        c["steps"] = int(c["steps"] * float(p["factor"]))
    # every other action leaves this toy unchanged (a no-op that tune skips)
    return c


def train(config: Mapping[str, Any], logdir: str, seed: int) -> dict[str, Any]:
    return _train(config, logdir, seed, None)


def train_watched(config: Mapping[str, Any], logdir: str, seed: int, *, callback: Any = None) -> dict[str, Any]:
    """``train`` with tune's optional early-stop hook: ``callback(step, scalars)`` at each
    evaluation; a reason back stops the run there."""
    return _train(config, logdir, seed, callback)


class Watched:
    """The protocol with ``train_watched`` as ``train`` (``tests.fake_trainer:WATCHED``)."""

    train = staticmethod(train_watched)
    apply = staticmethod(apply)
    load_config = staticmethod(load_config)


WATCHED = Watched()


def _train(config: Mapping[str, Any], logdir: str, seed: int, callback: Any) -> dict[str, Any]:
    cfg = {**DEFAULT, **dict(config)}
    if os.environ.get("FAKE_TRAINER_SLEEP"):  # lets a test kill tune while its workers train
        import time

        time.sleep(float(os.environ["FAKE_TRAINER_SLEEP"]))
    markers = os.environ.get("FAKE_TRAINER_MARKERS")
    if markers:
        os.makedirs(markers, exist_ok=True)
        with open(os.path.join(markers, f"{os.getpid()}-{seed}-{len(os.listdir(markers))}"), "w") as fh:
            fh.write(json.dumps(cfg))
    rng = np.random.default_rng(seed)
    n = int(cfg["steps"])
    stop = cfg["early_stop"].get("step") or n
    stop = min(n, int(stop) + 3 * cfg["eval_every"]) if cfg["early_stop"].get("step") else n
    lr = float(cfg["lr"])
    steps = np.arange(stop)
    t = steps / n
    speed = min(lr / 0.1, 1.0)
    floor = 0.2 if not cfg["broken_labels"] else 2.25
    train = floor + (2.3 - floor) * np.exp(-t * 8 * speed) + rng.normal(0, 0.01, stop)
    grad = 1.0 + 0.1 * rng.random(stop)
    nan_at = None
    if lr > 1.0:
        train = train + 20 * np.maximum(t - 0.2, 0) ** 2 * lr
        grad[int(0.15 * n) :] *= np.logspace(0, 5, stop - int(0.15 * n))
        nan_at = int(0.6 * n)
        if nan_at < stop:
            train[nan_at:] = np.nan
            grad[nan_at:] = np.nan
    ev = steps[:: cfg["eval_every"]]
    te = ev / n
    val = floor + 0.1 + (2.3 - floor) * np.exp(-te * 8 * speed) + rng.normal(0, 0.005, len(ev))
    over = float(cfg["overfit"]) / (1 + 1000 * float(cfg["weight_decay"]))
    val = val + over * np.maximum(te - 0.3, 0)
    if lr > 1.0:
        val = val + 20 * np.maximum(te - 0.2, 0) ** 2 * lr
        if nan_at is not None:
            val[ev >= nan_at] = np.nan
    with EventWriter(logdir) as w:
        w.add_hparams({k: v for k, v in cfg.items() if not isinstance(v, dict)})
        with open(os.path.join(logdir, "config.json"), "w") as fh:
            json.dump(cfg, fh)
        vi = 0
        for i in range(stop):
            w.add_scalars({"train/loss": train[i], "train/lr": lr, "train/grad_norm": grad[i]}, i, wall_time=1.7e9 + i)
            if vi < len(ev) and ev[vi] == i:
                w.add_scalar("val/loss", val[vi], i, wall_time=1.7e9 + i)
                vi += 1
                if callback is not None and callback(i, {"train/loss": train[i], "train/lr": lr, "train/grad_norm": grad[i], "val/loss": val[vi - 1]}):
                    stop, val = i + 1, val[:vi]
                    break
    fin = np.isfinite(val)
    best = float(np.min(val[fin])) if fin.any() else math.inf
    final = float(val[-1]) if np.isfinite(val[-1]) else math.inf
    if cfg["early_stop"].get("restore_best"):
        final = best
    return {
        "best_val_loss": best,
        "final_val_loss": final,
        "test_loss": final + 0.01,
        "steps": int(stop),
        "diverged": nan_at is not None and nan_at < stop,
    }
