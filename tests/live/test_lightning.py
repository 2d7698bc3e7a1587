"""Lightning adapter: logged metrics and gradient norms reach the Monitor; critical stops fit()."""

from __future__ import annotations

import logging
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from advisor.live.lightning import AdvisorCallback


class Regressor(L.LightningModule):
    def __init__(self, lr: float = 0.05, blow_up_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        self.lr, self.blow_up_at = lr, blow_up_at

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        if self.blow_up_at is not None and self.global_step >= self.blow_up_at:
            loss = loss * math.nan
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loaders():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(512, 8, generator=g)
    ds = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    return torch.utils.data.DataLoader(ds, batch_size=32), torch.utils.data.DataLoader(ds, batch_size=128)


def fit(module, cb, epochs):
    train, val = loaders()
    trainer = L.Trainer(
        max_epochs=epochs, callbacks=[cb], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
        trainer.fit(module, train, val)
    return trainer


def test_callback_records_losses_metrics_and_grad_norms():
    cb = AdvisorCallback(every=20, layer_every=10, on_finding=None)
    fit(Regressor(), cb, epochs=3)
    run = cb.monitor.run()
    assert len(run.series["train/loss"]) == 48
    assert len(run.series["train/grad_norm"]) == 48
    assert len(run.series["val_loss"]) == 3  # one per validation, not repeated every step
    assert {"train/grad_norm/net.0", "train/grad_norm/net.2", "train_loss"} <= set(run.series)
    signals = cb.monitor.report().signals
    assert signals["val_loss"] == "val_loss" and signals["grad_norm"] == "train/grad_norm"
    assert cb.monitor.closed


def test_critical_finding_stops_the_trainer():
    cb = AdvisorCallback(every=10, on_finding=None, stop_on="critical")
    trainer = fit(Regressor(blow_up_at=30), cb, epochs=20)
    assert trainer.should_stop
    assert trainer.global_step <= 30 + 10 + 1
    assert "non-finite" in [a.finding.condition for a in cb.monitor.alerts]


def test_the_stop_reason_and_findings_are_written_into_the_loggers_event_file(tmp_path):
    import glob

    from advisor.io.tfevents import read_event_file

    cb = AdvisorCallback(every=10, on_finding=None, stop_on="critical")
    train, val = loaders()
    logger = L.loggers.TensorBoardLogger(str(tmp_path), name="run", version=0)
    trainer = L.Trainer(
        max_epochs=20, callbacks=[cb], logger=logger, enable_checkpointing=False, log_every_n_steps=5,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Regressor(blow_up_at=30), train, val)
    logger.experiment.flush()
    texts = {}
    for f in glob.glob(str(tmp_path / "run" / "version_0" / "*tfevents*")):
        texts.update(read_event_file(f).texts)
    # torch's SummaryWriter files text under "<tag>/text_summary"
    table = next((t for k, t in texts.items() if k.startswith("advisor/findings")), "")
    assert "advisor stopped the run at step" in table and "non-finite" in table, texts
    assert "| critical | non-finite |" in table
