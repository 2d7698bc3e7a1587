"""Hugging Face adapter: a ``transformers.TrainerCallback`` that feeds a live Monitor.

::

    from advisor.live.hf import AdvisorCallback

    cb = AdvisorCallback(stop_on="critical")          # act=True: lr cut / stop + best weights
    trainer = Trainer(model=model, args=args, train_dataset=ds, eval_dataset=ev, callbacks=[cb])
    trainer.train()
    cb.monitor.findings, cb.monitor.report()

What it records: everything the Trainer logs (``on_log``) — the training ``loss``, ``grad_norm``
and ``learning_rate`` every ``logging_steps``, the evaluation's ``eval_loss`` and other
``eval_*`` metrics — under advisor's names (``train/loss``, ``train/grad_norm``, ``train/lr``,
``val/loss``, ``val/accuracy``...), stamped with ``state.global_step``. The run's planned length
(``state.max_steps``), learning rate and optimizer reach the monitor as hyperparameters. The
cadence counts optimizer steps (default: every 50), so a run that logs every ``logging_steps``
is diagnosed at the first log at or after each cadence point, and at each evaluation.

A finding at or above ``stop_on`` (or an ``act`` stop) sets ``control.should_training_stop``.
``act=True`` (or a subset of ``{"lr", "stop"}``) cuts the learning rate in the optimizer's
``param_groups`` and the scheduler's base rates, or stops with the best evaluation's weights
restored (see :mod:`advisor.live.act`). The findings table (tag ``advisor/findings``) is written
into ``tee=`` when given, else, when the Trainer reports to TensorBoard, into a separate event
file in its logging directory (``args.logging_dir`` in transformers 4, the
``TENSORBOARD_LOGGING_DIR`` environment variable in 5).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as e:  # pragma: no cover - exercised only without transformers
    raise ImportError("advisor.live.hf needs transformers: pip install training-advisor[hf]") from e

from advisor.live.act import attach as attach_actions
from advisor.live.act import kinds_of
from advisor.live.monitor import Monitor
from advisor.live.summary import attach as attach_summary

#: Trainer log keys that are bookkeeping, not signals.
SKIP = ("epoch", "total_flos", "train_loss", "step")
SKIP_SUFFIX = ("_runtime", "_per_second", "_samples_per_second", "_steps_per_second")


def _names(logs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        if k in SKIP or k.endswith(SKIP_SUFFIX) or isinstance(v, bool) or not isinstance(v, numbers.Number):
            continue
        out[k] = float(v)
    return out


class AdvisorCallback(TrainerCallback):
    """Feeds an :class:`advisor.live.Monitor` from a ``transformers.Trainer``; see the module doc.

    Args:
        every: optimizer steps between cadence points.
        act: ``True`` or a subset of ``{"lr", "stop"}``.
        **kwargs: everything :class:`advisor.live.Monitor` takes (``stop_on``, ``tee``, ...).
    """

    def __init__(self, every: int = 50, act: Any = None, **kwargs: Any) -> None:
        self.every = int(every)
        self.act = kinds_of(act) & {"lr", "stop"}
        self.kwargs = kwargs
        self.monitor: Monitor | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, lr_scheduler: Any = None, **kw: Any) -> None:
        if self.monitor is not None or not state.is_world_process_zero:
            return
        kwargs = dict(self.kwargs)
        hp = {"lr": float(args.learning_rate), "optimizer": str(getattr(args.optim, "value", args.optim)), "batch_size": int(args.per_device_train_batch_size)}
        kwargs["hparams"] = {**hp, **dict(kwargs.get("hparams") or {})}
        kwargs.setdefault("total_steps", state.max_steps if state.max_steps and state.max_steps > 0 else None)
        mon = self.monitor = Monitor(every=self.every, **kwargs)
        logdir = getattr(args, "logging_dir", None) or os.environ.get("TENSORBOARD_LOGGING_DIR")  # v4 / v5
        if kwargs.get("tee") is None and logdir and "tensorboard" in (args.report_to or []):
            from advisor.io.writer import EventWriter, default_filename
            from advisor.live.summary import SUFFIX

            try:
                mon.summary = attach_summary(mon, EventWriter(logdir, filename=default_filename(SUFFIX)))
            except OSError as e:
                mon.recorder.report_failure("hf findings summary", e)
        if self.act:
            from advisor.live.torch import TorchTarget

            mon.model, mon.optimizer, mon.scheduler = model, optimizer, lr_scheduler
            mon.actions = attach_actions(mon, self.act, TorchTarget(mon))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        mon = self.monitor
        if mon is None or not logs:
            return
        try:
            scalars = _names(logs)
        except Exception as e:
            mon.recorder.report_failure("hf logs", e)
            return
        named = {k: v for k, v in scalars.items() if math.isfinite(v) or k in ("loss", "eval_loss", "grad_norm")}
        if named:
            mon.log(int(state.global_step), **named)
        self._check(control)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._check(control)

    def _check(self, control: Any) -> None:
        if self.monitor is not None and self.monitor.should_stop:
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        mon = self.monitor
        if mon is not None:
            mon.close()
            w = getattr(getattr(mon.summary, "add_text", None), "__self__", None)
            if w is not None and w is not mon.recorder.tee_writer:
                try:
                    w.close()
                except OSError as e:
                    mon.recorder.report_failure("hf findings summary", e)
