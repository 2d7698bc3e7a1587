"""A plain PyTorch training script, as you may already have one: a small MLP on synthetic
Gaussian blobs, logging to TensorBoard. Nothing in it knows about advisor.

    python examples/own_trainer/train.py --logdir runs/own --set lr=0.05 --set optimizer=sgd
"""

from __future__ import annotations

import argparse
import json
import math

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

DEFAULTS = {"lr": 0.05, "optimizer": "sgd", "epochs": 8, "batch_size": 32, "weight_decay": 0.0, "hidden": 32, "n_train": 256, "classes": 4}


def make_data(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    centers = torch.randn(classes, 8, generator=torch.Generator().manual_seed(7)) * 2.0
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + torch.randn(n, 8, generator=g) * 1.5, y


def run(cfg: dict, logdir: str, seed: int = 0, should_stop=None) -> dict:
    """Train once; ``should_stop(step, scalars)``, when given, is asked after each epoch (a reason back stops)."""
    torch.manual_seed(seed)
    x, y = make_data(cfg["n_train"], cfg["classes"], seed)
    xv, yv = make_data(256, cfg["classes"], seed + 500)
    model = nn.Sequential(nn.Linear(8, cfg["hidden"]), nn.ReLU(), nn.Linear(cfg["hidden"], cfg["classes"]))
    opt_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[cfg["optimizer"]]
    opt = opt_cls(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    writer = SummaryWriter(logdir)
    step, vals, accs = 0, [], []
    for _epoch in range(cfg["epochs"]):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), cfg["batch_size"]):
            idx = perm[i : i + cfg["batch_size"]]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/lr", cfg["lr"], step)
            step += 1
        with torch.no_grad():
            out = model(xv)
            vals.append(loss_fn(out, yv).item())
            accs.append((out.argmax(1) == yv).float().mean().item())
        writer.add_scalar("val/loss", vals[-1], step)
        writer.add_scalar("val/accuracy", accs[-1], step)
        if should_stop is not None and should_stop(step, {"train/loss": loss.item(), "train/lr": cfg["lr"], "val/loss": vals[-1]}):
            break
    writer.close()
    finite = [v for v in vals if math.isfinite(v)]
    return {"final_val_loss": vals[-1], "best_val_loss": min(finite) if finite else math.inf,
            "final_val_accuracy": accs[-1], "best_val_accuracy": max(accs), "steps": step}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    cfg = dict(DEFAULTS)
    for kv in a.set:
        k, _, v = kv.partition("=")
        cfg[k] = type(DEFAULTS[k])(v)
    print(json.dumps(run(cfg, a.logdir, a.seed)))
