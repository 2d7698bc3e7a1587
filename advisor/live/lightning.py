"""PyTorch Lightning adapter: a Callback that feeds a live Monitor and can stop the Trainer.

::

    from advisor.live.lightning import AdvisorCallback

    cb = AdvisorCallback(every=50, stop_on="critical")
    trainer = L.Trainer(callbacks=[cb])
    trainer.fit(model, datamodule)
    cb.monitor.findings, cb.monitor.report()

What it records (rank 0 only): the training step's loss (``outputs["loss"]``) as
``train/loss`` at each batch end; every metric the module logs (``self.log``) as it changes —
read from ``trainer.callback_metrics`` at batch and validation end, under Lightning's names
(``train_loss_step``, ``val_loss``, ``val_acc``, ... which advisor's role resolution knows);
and the global and per-layer gradient norms in ``on_before_optimizer_step`` (after gradient
accumulation, with AMP already unscaled; a step whose gradients are non-finite under 16-bit
AMP is one the scaler skips and is not recorded). Nothing is read from the device between
cadence points. When a finding at or above ``stop_on`` arrives, ``trainer.should_stop`` is set
(agreed across ranks at cadence points, as Lightning's EarlyStopping does), and the reason is written with the
findings table (a TensorBoard text summary, tag ``advisor/findings``) into the logger's event
file when the logger has a TensorBoard writer (else into ``tee=`` when given). The Trainer's
planned steps (``estimated_stepping_batches``) tell the monitor how long the run will be.
"""

from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
    import torch
except ImportError:  # pragma: no cover - the standalone package
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
        import torch
    except ImportError as e:
        raise ImportError("advisor.live.lightning needs PyTorch Lightning: pip install training-advisor[lightning]") from e

from advisor.live.monitor import Monitor
from advisor.live.recorder import DROP_NONFINITE, L2_BY_TAG
from advisor.live.summary import TextSink, attach
from advisor.live.torch import GRAD_TAG, GradStats


def _planned(trainer: Any) -> int | None:
    """The Trainer's planned optimizer steps, when finite."""
    try:
        n = float(trainer.estimated_stepping_batches)
    except Exception:
        return None
    return int(n) if 0 < n < float("inf") else None


class AdvisorCallback(pl.Callback):
    """Feeds an :class:`advisor.live.Monitor` from a Lightning Trainer; see the module docstring.

    Args:
        every: training steps between cadence points.
        layer_every: steps between per-layer gradient norms (default: ``every``).
        grad_norms, layer_norms: what to record from the gradients.
        **kwargs: everything :class:`advisor.live.Monitor` takes (``stop_on``, ``tee``, ...).
    """

    def __init__(self, every: int = 50, layer_every: int | None = None, grad_norms: bool = True, layer_norms: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.every = int(every)
        self.layer_every = max(1, int(layer_every or every))
        self.grad_norms, self.layer_norms = grad_norms, layer_norms
        self.kwargs = kwargs
        self.monitor: Monitor | None = None
        self._stats: GradStats | None = None
        self._params: list[Any] = []
        self._seen: dict[str, Any] = {}
        self._amp = False
        self.summary: TextSink | None = None
        self.stop_reason: str | None = None

    # -- setup -----------------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.monitor is not None:
            return
        kwargs = dict(self.kwargs)
        if not trainer.is_global_zero:
            kwargs.update(on_finding=None, tee=None)
        if "total_steps" not in kwargs:
            kwargs["total_steps"] = _planned(trainer)
        self.monitor = Monitor(every=self.every, **kwargs)
        self.monitor.enabled = bool(trainer.is_global_zero)
        if trainer.is_global_zero:  # findings into the logger's own event file, where users look
            for lg in getattr(trainer, "loggers", None) or []:
                self.summary = attach(self.monitor, getattr(lg, "experiment", None)) if hasattr(lg, "log_dir") else None
                if self.summary is not None:
                    break
        self._params = [p for p in pl_module.parameters()]
        self._stats = GradStats({id(p): n for n, p in pl_module.named_parameters()})
        self._amp = "16" in str(getattr(trainer, "precision", ""))

    # -- recording -------------------------------------------------------------------------------

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        mon = self.monitor
        if mon is None or not mon.enabled or not (self.grad_norms or self.layer_norms):
            return
        try:
            with torch.no_grad():
                got = self._stats.norms(self._params) if self._stats is not None else None
                if got is None:
                    return
                per, total, idx = got
                step = int(trainer.global_step)
                flags = DROP_NONFINITE if self._amp else 0
                if self.grad_norms:
                    mon.recorder.record(GRAD_TAG, step, total, flags)
                if self.layer_norms and step % self.layer_every == 0:
                    mon.recorder.record(self._stats.layer_tags(self._params, idx), step, torch.stack(per), flags | L2_BY_TAG)
        except Exception as e:
            mon.recorder.report_failure("lightning grad hook", e)

    def _changed_metrics(self, trainer: Any) -> dict[str, Any]:
        out = {}
        for k, v in trainer.callback_metrics.items():
            if self._seen.get(k) is not v:
                self._seen[k] = v
                out[k] = v
        return out

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        mon = self.monitor
        if mon is None:
            return
        step = int(trainer.global_step)
        scalars: dict[str, Any] = {}
        if mon.enabled:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if loss is not None and hasattr(loss, "detach"):
                scalars["train/loss"] = loss
            scalars.update(self._changed_metrics(trainer))
        mon.log(step, scalars)
        if trainer.world_size == 1:
            if mon.should_stop:
                self._stop(trainer)
        elif step % self.every == 0:  # every rank reaches these steps: agree on stopping there
            self._sync_stop(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        mon = self.monitor
        if mon is None or trainer.sanity_checking:
            return
        if mon.enabled:
            mon.log(int(trainer.global_step), self._changed_metrics(trainer))

    def _sync_stop(self, trainer: Any) -> None:
        mon = self.monitor
        if mon is None:
            return
        stop = mon.should_stop
        if mon.stop_on is not None:
            try:
                stop = bool(trainer.strategy.reduce_boolean_decision(stop, all=False))
            except Exception as e:
                mon.recorder.report_failure("lightning stop sync", e)
        if stop:
            mon.should_stop = True
            self._stop(trainer)

    def _stop(self, trainer: Any) -> None:
        """Stop the Trainer and write why (once) beside the findings table."""
        trainer.should_stop = True
        mon = self.monitor
        if self.stop_reason is not None or mon is None:
            return
        hit = [a for a in mon.alerts if mon.stop_on is not None and a.finding.severity.rank >= mon.stop_on.rank]
        why = f"{hit[0].finding.severity.value} {hit[0].finding.condition}: {hit[0].finding.summary}" if hit else "a finding"
        self.stop_reason = f"advisor stopped the run at step {trainer.global_step} on {why}"
        sink = self.summary or mon.summary
        if sink is not None:
            sink.note(mon, self.stop_reason)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.monitor is not None:
            self.monitor.close()
