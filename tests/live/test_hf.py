"""Hugging Face adapter on a tiny model built from a config (no download): the Trainer's logs
reach the monitor under advisor's names; a NaN stops training; act=True cuts the lr."""

from __future__ import annotations

import glob
import logging
import math
import os
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from advisor.live.hf import AdvisorCallback

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 64, (n, 16), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.x[i]}


def tiny_gpt2():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=1, n_head=2)
    return transformers.GPT2LMHeadModel(cfg)


def train(tmp_path, cb, lr=1e-3, steps=40, report_to=(), nan_at=None):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), report_to=list(report_to), max_steps=steps,
        per_device_train_batch_size=8, learning_rate=lr, logging_steps=1, eval_strategy="steps", eval_steps=10,
        save_strategy="no", use_cpu=True, remove_unused_columns=False, disable_tqdm=True, seed=0, dataloader_num_workers=0,
    )
    model = tiny_gpt2()
    if nan_at is not None:
        orig = model.forward

        def forward(*a, **k):
            out = orig(*a, **k)
            if trainer.state.global_step >= nan_at:
                out.loss = out.loss * math.nan
            return out

        model.forward = forward
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(128, 0), eval_dataset=Tokens(32, 1), callbacks=[cb])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only contend on a shared machine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("transformers").setLevel(logging.ERROR)
            trainer.train()
    finally:
        torch.set_num_threads(threads)
    return trainer


def test_trainer_logs_reach_the_monitor(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "logs"))
    cb = AdvisorCallback(every=10, on_finding=None)
    train(tmp_path, cb, steps=30, report_to=["tensorboard"])
    run = cb.monitor.run()
    assert len(run.series["train/loss"]) == 30
    assert {"train/grad_norm", "train/lr", "val/loss"} <= set(run.series)
    assert len(run.series["val/loss"]) == 3
    assert cb.monitor.hparams["lr"] == 1e-3 and cb.monitor._tracker.total_steps == 30
    assert cb.monitor.closed
    files = glob.glob(str(tmp_path / "logs" / "*.advisor"))
    assert len(files) == 1  # the findings table, beside TensorBoard's own file


def test_a_nan_stops_the_trainer(tmp_path):
    cb = AdvisorCallback(every=5, on_finding=None, stop_on="critical")
    trainer = train(tmp_path, cb, steps=30, nan_at=12)
    assert "non-finite" in [a.finding.condition for a in cb.monitor.alerts]
    assert trainer.state.global_step < 30


def test_act_cuts_the_learning_rate_of_a_diverging_run(tmp_path):
    cb = AdvisorCallback(every=5, on_finding=None, act=True)
    trainer = train(tmp_path, cb, steps=25, nan_at=12)
    taken = cb.monitor.actions.taken
    assert taken and taken[0].kind == "lr", [a.finding.condition for a in cb.monitor.alerts]
    assert trainer.lr_scheduler.base_lrs[0] < 1e-3
