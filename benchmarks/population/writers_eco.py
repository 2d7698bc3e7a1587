"""Lightning, Hugging Face Trainer and Keras layouts (see ``writers`` for the table)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .cadence import Logged, Series
from .spec import Case
from .writers import T0, Point, _config_json, _points, _sorted, _wall, _write_torch_like, hparams_of, tf2_scalar

OPT_CLASS = {"sgd": "SGD", "momentum": "SGD", "adam": "Adam", "adamw": "AdamW"}


def write_lightning(case: Case, lg: Logged, root: str) -> str:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    run_dir = os.path.join(root, "lightning_logs", f"version_{case.log.version}")
    w = SummaryWriter(log_dir=run_dir, flush_secs=600)
    hp = hparams_of(case, lg)
    if case.optim.clip is not None:
        hp["gradient_clip_val"] = hp.pop("max_norm")
    if case.log.hparams:
        # save_hyperparameters(): hparams.yaml, the hparams plugin summaries and hp_metric = -1
        with open(os.path.join(run_dir, "hparams.yaml"), "w") as fh:
            fh.writelines(f"{k}: {v}\n" for k, v in hp.items())
        for summ in hparams(hp, {"hp_metric": -1}):
            w.file_writer.add_summary(summ, 0, walltime=T0)
        w.add_scalar("hp_metric", -1, 0, walltime=T0)
    step_loss = "train_loss_step" if lg.train_loss_epoch is not None else "train_loss"
    train: dict[str, Series | None] = {step_loss: lg.train_loss, f"lr-{OPT_CLASS[case.optim.name]}": lg.lr,
                                       "grad_2.0_norm_total": lg.grad_norm, "epoch": lg.epoch}
    train.update({f"grad_2.0_norm/{k}.weight": s for k, s in lg.layers.items()})
    val = {"val_loss": lg.val_loss, "val_acc": lg.val_acc, "train_loss_epoch": lg.train_loss_epoch}
    _write_torch_like(w, _sorted(_points(train, 0), _points(val, 1)))
    w.close()
    if case.log.config_json:
        _config_json(run_dir, case, lg)
    return run_dir


def _hf_dir(case: Case) -> str:
    """runs/<Mon DD_HH-MM-SS>_<host>, the Trainer's default logging_dir, made deterministic per case."""
    h = int(hashlib.sha1(case.name.encode()).hexdigest()[:8], 16)
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    stamp = f"{months[h % 12]}{h % 28 + 1:02d}_{h % 24:02d}-{h % 60:02d}-{(h // 60) % 60:02d}"
    return os.path.join("runs", f"{stamp}_node{h % 7}")


def _hf_args(case: Case, lg: Logged) -> dict[str, Any]:
    o = case.optim
    sched = {"constant": "constant", "cosine": "cosine", "warmup_cosine": "cosine", "linear": "linear"}
    return {
        "output_dir": "out", "learning_rate": o.lr, "per_device_train_batch_size": o.batch_size,
        "weight_decay": o.weight_decay, "max_grad_norm": o.clip if o.clip is not None else 0.0,
        "max_steps": lg.total_steps, "lr_scheduler_type": sched.get(o.schedule, o.schedule),
        "warmup_ratio": o.warmup, "logging_steps": case.log.log_every, "eval_strategy": "steps",
        "optim": "adamw_torch" if o.name.startswith("adam") else "sgd", "seed": 42, "num_labels": lg.num_classes,
    }


def _hf_final(lg: Logged) -> dict[str, Series]:
    """What Trainer.train() logs at its end: runtime figures and the mean loss of the whole run."""
    s = np.array([lg.total_steps])
    mean = float(np.nanmean(lg.train_loss.values)) if len(lg.train_loss.values) else float("nan")
    runtime = round(0.004 * lg.total_steps + 1.3, 4)  # deterministic stand-ins for clock readings
    return {"train/train_runtime": Series.of(s, [runtime]),
            "train/train_samples_per_second": Series.of(s, [round(lg.total_steps * 32 / runtime, 3)]),
            "train/train_steps_per_second": Series.of(s, [round(lg.total_steps / runtime, 3)]),
            "train/total_flos": Series.of(s, [1.5e10]), "train/train_loss": Series.of(s, [round(mean, 4)])}


def write_hf(case: Case, lg: Logged, root: str) -> str:
    from torch.utils.tensorboard import SummaryWriter

    run_dir = os.path.join(root, _hf_dir(case))
    w = SummaryWriter(log_dir=run_dir, flush_secs=600)
    args = _hf_args(case, lg)
    w.add_text("args", json.dumps(args, indent=2), 0, walltime=T0)  # TensorBoardCallback.on_train_begin
    train = {"train/loss": lg.train_loss, "train/grad_norm": lg.grad_norm, "train/learning_rate": lg.lr}
    n_eval = len(lg.val_loss.steps)
    evals: dict[str, Series | None] = {"eval/loss": lg.val_loss, "eval/accuracy": lg.val_acc,
                                       "eval/runtime": Series.of(lg.val_loss.steps, np.full(n_eval, 0.0712)),
                                       "eval/samples_per_second": Series.of(lg.val_loss.steps, np.full(n_eval, 5055.3))}
    pts: list[Point] = _sorted(_points(train, 0), _points({"train/epoch": lg.epoch}, 1), _points(evals, 2),
                               _points(_hf_final(lg), 3))
    _write_torch_like(w, pts)
    w.add_hparams(args, {})  # as the callback does: a time-named subdirectory holding only hparams
    w.close()
    if case.log.config_json:
        _config_json(run_dir, case, lg)
    return run_dir


def _tf2_file(path: str, streams: dict[str, Series | None]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(path, flush_secs=600, filename_suffix=".v2")
    seen: set[str] = set()
    for step, _, tag, value in _sorted(_points(streams, 0)):
        val = tf2_scalar(tag, value, tag not in seen)
        seen.add(tag)
        w.add_event(event_pb2.Event(wall_time=_wall(step), step=step, summary=summary_pb2.Summary(value=[val])))
    w.close()


def write_keras(case: Case, lg: Logged, root: str) -> str:
    """model.fit(callbacks=[TensorBoard(log_dir)]): per-epoch TF2 scalars in train/ and validation/."""
    _tf2_file(os.path.join(root, "train"),
              {"epoch_loss": lg.train_loss, "epoch_accuracy": lg.train_acc, "epoch_learning_rate": lg.lr,
               "batch_loss": lg.batch_loss})
    iters = (lg.val_loss.steps + 1) * lg.steps_per_epoch  # optimizer.iterations at each epoch's evaluation
    val_acc_it = Series(iters, lg.val_acc.values) if lg.val_acc is not None else None
    _tf2_file(os.path.join(root, "validation"),
              {"epoch_loss": lg.val_loss, "epoch_accuracy": lg.val_acc,
               "evaluation_loss_vs_iterations": Series(iters, lg.val_loss.values),
               "evaluation_accuracy_vs_iterations": val_acc_it})
    if case.log.config_json:
        _config_json(root, case, lg)
    return root


WRITE: dict[str, Callable[[Case, Logged, str], str]] = {
    "lightning": write_lightning, "hf": write_hf, "keras": write_keras,
}
