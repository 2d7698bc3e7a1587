"""What each writer would have put on disk for a trace: which steps, which values, which step numbers.

The semantics follow the real libraries:

* plain scripts (torch / tensorboardX / SPEC layout): ``if step % N == 0: add_scalar(loss.item())``
  (instantaneous, steps 0, N, 2N, ...), or the tutorial's ``running_loss / N`` logged at N, 2N, ...;
  per-epoch logging writes the epoch mean at the epoch index.
* Lightning ``log_every_n_steps=N``: the current batch's loss at batch index N-1, 2N-1, ...
  (``_batches_that_stepped`` before its increment), ``epoch`` alongside, validation at the index
  of the last batch before it; ``on_epoch=True`` adds ``train_loss_epoch``.
* Hugging Face Trainer ``logging_steps=N``: the mean loss since the last log, rounded to 4
  decimals, at global step N, 2N, ...; the pre-clip grad norm of the last step; the lr after the
  scheduler step; the fractional epoch.
* Keras: the epoch's sample-weighted mean loss at the epoch index; validation at the same index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .spec import EPOCH, Case
from .train import Trace


@dataclass
class Series:
    steps: np.ndarray
    values: np.ndarray

    @staticmethod
    def of(steps: list[int] | np.ndarray, values: list[float] | np.ndarray) -> Series:
        # scalars are stored as float32 on disk; checks must see the same numbers
        return Series(np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float32).astype(np.float64))


@dataclass
class Logged:
    """The logged streams by role; writers map roles to their own tag names."""

    train_loss: Series
    val_loss: Series
    val_acc: Series | None = None
    train_acc: Series | None = None
    train_loss_epoch: Series | None = None  # lightning on_epoch=True
    batch_loss: Series | None = None  # keras update_freq=N: the epoch's running mean so far
    lr: Series | None = None
    grad_norm: Series | None = None
    epoch: Series | None = None
    layers: dict[str, Series] = field(default_factory=dict)
    num_classes: int = 0
    steps_per_epoch: int = 1
    total_steps: int = 0


def _epoch_means(values: np.ndarray, spe: int, weights: np.ndarray | None = None) -> np.ndarray:
    n = len(values) // spe
    v = values[: n * spe].reshape(n, spe)
    if weights is None:
        return v.mean(1)
    w = weights[:spe]
    return (v * w).sum(1) / w.sum()


def _batch_weights(trace: Trace, batch_size: int) -> np.ndarray:
    """Keras weights each batch by its size; the last batch of an epoch may be short."""
    w = np.full(trace.steps_per_epoch, float(batch_size))
    w[-1] = trace.n_train - batch_size * (trace.steps_per_epoch - 1)
    return w


def logged(case: Case, trace: Trace) -> Logged:
    writer = case.log.writer
    if writer == "keras":
        return _keras(case, trace)
    if writer == "hf":
        return _hf(case, trace)
    if writer == "lightning":
        return _lightning(case, trace)
    if case.log.log_every == EPOCH:
        return _plain_epoch(case, trace)
    return _plain(case, trace)


def _common(case: Case, trace: Trace, out: Logged, idx: np.ndarray, steps: np.ndarray) -> Logged:
    """lr, grad norm and per-layer norms at the train-loss cadence (instantaneous values)."""
    if case.log.lr and trace.lr:
        out.lr = Series.of(steps, np.asarray(trace.lr)[idx])
    if case.log.grad_norm and trace.grad_norm:
        out.grad_norm = Series.of(steps, np.asarray(trace.grad_norm)[idx])
    if case.log.layer_norms and trace.layer_steps:
        out.layers = {k: Series.of(trace.layer_steps, v) for k, v in trace.layer_norms.items()}
    out.num_classes, out.steps_per_epoch, out.total_steps = trace.num_classes, trace.steps_per_epoch, len(trace.loss)
    return out


def _val(case: Case, trace: Trace, steps: np.ndarray) -> tuple[Series, Series | None]:
    acc = Series.of(steps, trace.val_acc) if trace.val_acc and case.log.accuracy else None
    return Series.of(steps, trace.val_loss), acc


def _plain(case: Case, trace: Trace) -> Logged:
    n, every = len(trace.loss), case.log.log_every
    loss = np.asarray(trace.loss)
    if case.log.loss_mode == "mean":
        idx = np.arange(every - 1, n, every)
        values = loss[: len(idx) * every].reshape(-1, every).mean(1)
        steps = idx + 1
    else:
        idx = np.arange(0, n, every)
        values, steps = loss[idx], idx
    val, acc = _val(case, trace, np.asarray(trace.eval_steps))
    out = Logged(Series.of(steps, values), val, acc)
    if acc is not None and trace.train_acc:
        out.train_acc = Series.of(steps, np.asarray(trace.train_acc)[idx])
    return _common(case, trace, out, idx, steps)


def _plain_epoch(case: Case, trace: Trace) -> Logged:
    spe = trace.steps_per_epoch
    means = _epoch_means(np.asarray(trace.loss), spe)
    epochs = np.arange(len(means))
    last = epochs * spe + spe - 1  # the step whose lr / grad norm an epoch-end log would see
    val, acc = _val(case, trace, np.asarray(trace.eval_steps) // spe - 1)
    out = Logged(Series.of(epochs, means), val, acc)
    if acc is not None and trace.train_acc:
        out.train_acc = Series.of(epochs, _epoch_means(np.asarray(trace.train_acc), spe))
    return _common(case, trace, out, last, epochs)


def _lightning(case: Case, trace: Trace) -> Logged:
    n, every, spe = len(trace.loss), case.log.log_every, trace.steps_per_epoch
    idx = np.arange(every - 1, n, every)
    loss = np.asarray(trace.loss)
    val, acc = _val(case, trace, np.asarray(trace.eval_steps) - 1)
    out = Logged(Series.of(idx, loss[idx]), val, acc)
    if case.log.loss_mode == "epoch_mean":
        means = _epoch_means(loss, spe)
        out.train_loss_epoch = Series.of(np.arange(len(means)) * spe + spe - 1, means)
    all_steps = np.unique(np.concatenate([idx, val.steps]))
    out.epoch = Series.of(all_steps, all_steps // spe)
    return _common(case, trace, out, idx, idx)


def _hf(case: Case, trace: Trace) -> Logged:
    n, every, spe = len(trace.loss), case.log.log_every, trace.steps_per_epoch
    idx = np.arange(every - 1, n, every)
    means = np.asarray(trace.loss)[: len(idx) * every].reshape(-1, every).mean(1)
    steps = idx + 1
    val, acc = _val(case, trace, np.asarray(trace.eval_steps))
    out = Logged(Series.of(steps, np.round(means, 4)), val, acc)
    out = _common(case, trace, out, idx, steps)
    if out.lr is not None:  # logged after lr_scheduler.step(): the next step's lr
        out.lr = Series.of(steps, np.asarray(trace.lr + trace.lr[-1:])[idx + 1])
    all_steps = np.unique(np.concatenate([steps, val.steps]))
    out.epoch = Series.of(all_steps, np.round(all_steps / spe, 2))
    return out


def _keras(case: Case, trace: Trace) -> Logged:
    spe = trace.steps_per_epoch
    w = _batch_weights(trace, case.optim.batch_size)
    means = _epoch_means(np.asarray(trace.loss), spe, w)
    epochs = np.arange(len(means))
    val, acc = _val(case, trace, np.arange(len(trace.val_loss)))
    out = Logged(Series.of(epochs, means), val, acc)
    if acc is not None and trace.train_acc:
        out.train_acc = Series.of(epochs, _epoch_means(np.asarray(trace.train_acc), spe, w))
    last = epochs * spe + spe - 1
    if case.log.log_every != EPOCH:
        # TensorBoard(update_freq=N): batch_loss every N batches at the global batch index, the
        # mean of the epoch's losses so far (Keras resets its loss tracker at each epoch start)
        loss = np.asarray(trace.loss)
        idx = np.arange(0, len(loss), case.log.log_every)
        start = (idx // spe) * spe
        csum = np.concatenate([[0.0], np.cumsum(loss)])
        out.batch_loss = Series.of(idx, (csum[idx + 1] - csum[start]) / (idx - start + 1))
    out = _common(case, trace, out, last, epochs)
    if out.lr is not None:  # the optimizer's lr at epoch end, after the epoch's last schedule step
        out.lr = Series.of(epochs, np.asarray(trace.lr + trace.lr[-1:])[last + 1])
    return out
