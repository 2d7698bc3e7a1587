"""Keras 3 adapter (any backend): a ``keras.callbacks.Callback`` that feeds a live Monitor.

::

    from advisor.live.keras import AdvisorCallback

    cb = AdvisorCallback(stop_on="critical")          # act=True: lr cut / stop + best weights
    model.fit(x, y, validation_data=(xv, yv), epochs=20, callbacks=[cb])
    cb.monitor.findings, cb.monitor.report()

What it records: at each batch end the batch logs (``loss`` and the compiled metrics — Keras
reports them as running means over the epoch) as ``train/loss`` etc., stamped with a global
batch counter; at each epoch end the validation logs (``val_loss``, ``val_accuracy``...) and the
optimizer's learning rate. The run's planned length (``epochs * steps``), learning rate and
optimizer reach the monitor as hyperparameters.

A finding at or above ``stop_on`` (or an ``act`` stop) sets ``model.stop_training``. ``act=True``
(or a subset of ``{"lr", "stop"}``) assigns a lower ``optimizer.learning_rate`` (a rate given as
a schedule is left alone, and said so), or stops with the best epoch's weights restored (a
host copy from ``model.get_weights()`` at each new validation minimum); see
:mod:`advisor.live.act`. The findings table goes into ``tee=`` when given.
"""

from __future__ import annotations

import numbers
from typing import Any

try:
    import keras
except ImportError as e:  # pragma: no cover - exercised only without keras
    raise ImportError("advisor.live.keras needs Keras 3: pip install training-advisor[keras]") from e

from advisor.live.act import attach as attach_actions
from advisor.live.act import kinds_of
from advisor.live.monitor import Monitor


def _numbers(logs: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            if not isinstance(v, bool) and (isinstance(v, numbers.Number) or getattr(v, "shape", None) == ()):
                out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _lr(optimizer: Any) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:
        return None


class KerasTarget:
    """``act=`` on Keras: ``optimizer.learning_rate`` and ``model.get_weights()``/``set_weights``."""

    def __init__(self, cb: AdvisorCallback) -> None:
        self.cb = cb

    def snapshot(self) -> Any:
        return [w.copy() for w in self.cb.model.get_weights()]

    def apply(self, plan: Any, actions: Any) -> str:
        model = self.cb.model
        weights, restored = plan.weights(actions)
        if weights is not None:
            model.set_weights(weights)
        if plan.kind == "lr":
            opt = model.optimizer
            lr = _lr(opt)
            try:
                opt.learning_rate.assign(lr * plan.lr_factor)
            except Exception:
                return f"learning rate left alone (a schedule, not a variable){restored}" if restored else ""
            return f"learning rate x{plan.lr_factor:.3g} (now {lr * plan.lr_factor:.4g}){restored}"
        if plan.kind == "stop":
            model.stop_training = True
            return f"stopped{restored}"
        return ""


class AdvisorCallback(keras.callbacks.Callback):
    """Feeds an :class:`advisor.live.Monitor` from ``model.fit``; see the module docstring.

    Args:
        every: batches between cadence points.
        act: ``True`` or a subset of ``{"lr", "stop"}``.
        **kwargs: everything :class:`advisor.live.Monitor` takes (``stop_on``, ``tee``, ...).
    """

    def __init__(self, every: int = 50, act: Any = None, **kwargs: Any) -> None:
        super().__init__()
        self.every = int(every)
        self.act = kinds_of(act) & {"lr", "stop"}
        self.kwargs = kwargs
        self.monitor: Monitor | None = None
        self.step = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is not None:
            return
        kwargs = dict(self.kwargs)
        opt = getattr(self.model, "optimizer", None)
        hp: dict[str, Any] = {"optimizer": type(opt).__name__} if opt is not None else {}
        lr = _lr(opt) if opt is not None else None
        if lr is not None:
            hp["lr"] = lr
        kwargs["hparams"] = {**hp, **dict(kwargs.get("hparams") or {})}
        p = self.params or {}
        if p.get("epochs") and p.get("steps"):
            kwargs.setdefault("total_steps", int(p["epochs"]) * int(p["steps"]))
        self.monitor = Monitor(every=self.every, **kwargs)
        if self.act:
            self.monitor.actions = attach_actions(self.monitor, self.act, KerasTarget(self))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        mon = self.monitor
        if mon is None:
            return
        try:
            scalars = _numbers(logs)
        except Exception as e:
            mon.recorder.report_failure("keras logs", e)
            return
        mon.log(self.step, **scalars)
        self.step += 1
        self._check()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        mon = self.monitor
        if mon is None:
            return
        vals = {k: v for k, v in _numbers(logs).items() if k.startswith("val_")}
        lr = _lr(self.model.optimizer)
        if lr is not None:
            vals["lr"] = lr
        if vals:
            mon.log(max(0, self.step - 1), **vals)
        self._check()

    def _check(self) -> None:
        if self.monitor is not None and self.monitor.should_stop:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is not None:
            self.monitor.close()
