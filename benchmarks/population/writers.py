"""Writing a run to disk in one ecosystem's layout, with that ecosystem's real writer library.

| writer    | library                          | directory                          | tags |
|-----------|----------------------------------|------------------------------------|------|
| torch     | torch.utils.tensorboard          | <run>/                             | Loss/train, Loss/val, Accuracy/val, lr, grad_norm |
| tbx       | tensorboardX                     | <run>/                             | loss/train, loss/val, acc/val, lr, grad_norm |
| lightning | torch writer, Lightning names    | <run>/lightning_logs/version_N/    | train_loss(_step/_epoch), val_loss, val_acc, lr-Adam, epoch, grad_2.0_norm_total |
| hf        | torch writer, Trainer names      | <run>/runs/<date>_<host>/          | train/loss, eval/loss, eval/accuracy, train/learning_rate, train/grad_norm, train/epoch |
| keras     | TF2 tensor summaries (.v2 files) | <run>/train, <run>/validation      | epoch_loss, epoch_accuracy, epoch_learning_rate; batch_loss (update_freq=N) |
| spec      | torch writer, SPEC §6 names      | <run>/                             | train/loss, train/accuracy, train/lr, train/grad_norm(/layer), val/loss, val/accuracy |

Wall times are derived from the step so that two generations differ only in file names.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .cadence import Logged, Series
from .spec import Case

T0 = 1_700_000_000.0
Point = tuple[int, int, str, float]  # step, order within the step, tag, value


def _points(named: dict[str, Series | None], order: int) -> Iterator[Point]:
    for tag, s in named.items():
        if s is not None:
            for st, v in zip(s.steps.tolist(), s.values.tolist()):
                yield st, order, tag, v


def _sorted(*groups: Iterator[Point]) -> list[Point]:
    return sorted((p for g in groups for p in g), key=lambda p: (p[0], p[1]))


def _wall(step: int) -> float:
    return T0 + 0.01 * step


def hparams_of(case: Case, lg: Logged) -> dict[str, Any]:
    """The run's configuration as a script would record it (lr, optimizer, batch size, classes, clip)."""
    o = case.optim
    hp: dict[str, Any] = {
        "lr": o.lr, "optimizer": o.name, "batch_size": o.batch_size, "num_classes": lg.num_classes,
        "schedule": o.schedule, "weight_decay": o.weight_decay, "steps": lg.total_steps,
        "model": case.model.family, "width": case.model.width, "depth": case.model.depth,
        "dropout": case.model.dropout, "dataset": case.data.name,
    }
    if o.clip is not None:
        hp["max_norm"] = o.clip
    return hp


def _plain_tags(prefix_style: str) -> dict[str, str]:
    if prefix_style == "torch":
        return {"train_loss": "Loss/train", "val_loss": "Loss/val", "val_acc": "Accuracy/val",
                "train_acc": "Accuracy/train", "lr": "lr", "grad_norm": "grad_norm", "layer": "grad_norm/"}
    if prefix_style == "tbx":
        return {"train_loss": "loss/train", "val_loss": "loss/val", "val_acc": "acc/val",
                "train_acc": "acc/train", "lr": "lr", "grad_norm": "grad_norm", "layer": "grad_norm/"}
    return {"train_loss": "train/loss", "val_loss": "val/loss", "val_acc": "val/accuracy",
            "train_acc": "train/accuracy", "lr": "train/lr", "grad_norm": "train/grad_norm",
            "layer": "train/grad_norm/"}


def _plain_points(lg: Logged, tags: dict[str, str]) -> list[Point]:
    train = {tags["train_loss"]: lg.train_loss, tags["train_acc"]: lg.train_acc, tags["lr"]: lg.lr,
             tags["grad_norm"]: lg.grad_norm}
    train.update({tags["layer"] + k: s for k, s in lg.layers.items()})
    val = {tags["val_loss"]: lg.val_loss, tags["val_acc"]: lg.val_acc}
    return _sorted(_points(train, 0), _points(val, 1))


def _write_torch_like(writer: Any, points: list[Point], per_epoch_tags: tuple[str, ...] = (), spe: int = 1) -> None:
    """Points in step order; ``per_epoch_tags`` are written against the batch index within the
    epoch (``add_scalar(tag, loss, batch_idx)``), still in the order and at the time of their step."""
    for step, _, tag, value in points:
        writer.add_scalar(tag, value, step % spe if tag in per_epoch_tags else step, walltime=_wall(step))


def _config_json(path: str, case: Case, lg: Logged) -> None:
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump(hparams_of(case, lg), fh, indent=2, sort_keys=True)


def write_plain(case: Case, lg: Logged, run_dir: str) -> str:
    """A plain script's SummaryWriter (torch or tensorboardX); hparams via add_hparams at the end."""
    if case.log.writer == "tbx":
        from tensorboardX import SummaryWriter as TBX

        w: Any = TBX(logdir=run_dir, flush_secs=600)
    else:
        from torch.utils.tensorboard import SummaryWriter

        w = SummaryWriter(log_dir=run_dir, flush_secs=600)
    tags = _plain_tags(case.log.writer)
    batch_idx = (tags["train_loss"], tags["train_acc"]) if case.log.batch_index_steps else ()
    _write_torch_like(w, _plain_points(lg, tags), batch_idx, lg.steps_per_epoch)
    if case.log.hparams:
        best = float(np.nanmin(lg.val_loss.values)) if np.isfinite(lg.val_loss.values).any() else float("nan")
        # like every add_hparams call, this lands in a time-named subdirectory of the run
        w.add_hparams(hparams_of(case, lg), {"hparam/best_val_loss": best})
    w.close()
    if case.log.config_json:
        _config_json(run_dir, case, lg)
    return run_dir


def write_spec(case: Case, lg: Logged, run_dir: str) -> str:
    """SPEC §6 names, hparams in the run's own event file and config.json beside it."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    w = SummaryWriter(log_dir=run_dir, flush_secs=600)
    if case.log.hparams:
        for summ in hparams(hparams_of(case, lg), {}):
            w.file_writer.add_summary(summ, 0, walltime=T0)
    _write_torch_like(w, _plain_points(lg, _plain_tags("spec")))
    w.close()
    if case.log.config_json:
        _config_json(run_dir, case, lg)
    return run_dir


WRITE: dict[str, Callable[[Case, Logged, str], str]] = {"torch": write_plain, "tbx": write_plain, "spec": write_spec}


def write(case: Case, lg: Logged, root: str, name: str) -> str:
    """Write the run under root/name; returns the run directory relative to root."""
    from . import writers_eco

    fn = WRITE.get(case.log.writer) or writers_eco.WRITE[case.log.writer]
    run_dir = fn(case, lg, os.path.join(root, name))
    return os.path.relpath(run_dir, root)


def tf2_scalar(tag: str, value: float, first: bool) -> Any:
    """A TF2 ``tf.summary.scalar`` value: a float32 rank-0 tensor; plugin metadata on the tag's first write."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                    tensor_content=struct.pack("<f", value))
    val = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if first:
        val.metadata.plugin_data.plugin_name = "scalars"
        val.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return val
