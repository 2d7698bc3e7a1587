"""The PyTorch engine: model, optimizer and data on one device; one logging interval per call.

Idiomatic eager PyTorch: tensors stay on the device, the learning rate follows a ``LambdaLR``
over the shared :class:`~backends.schedule.Schedule`, the global gradient norm comes from
``get_total_norm`` (before clipping) and ``clip_grads_with_norm_`` reuses it, and per-step
metrics are kept as device tensors that are synced to the host once per interval.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import clip_grad_value_, clip_grads_with_norm_, get_total_norm

from backends.config import ConfigError, OptimConfig, TrainConfig
from backends.loop import Chunk, nan_rows
from backends.schedule import Schedule
from backends.tasks import Dataset
from backends.torch_trainer.ddp import Ranks
from backends.torch_trainer.models import build_model
from backends.torch_trainer.optim import make_optimizer


def resolve_device(name: str) -> torch.device:
    if name in ("auto", "cuda", "gpu"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if name != "auto":
            raise ConfigError(f"device: {name!r} requested but torch sees no CUDA device")
        return torch.device("cpu")
    if name == "tpu":
        raise ConfigError("device: the torch trainer does not run on TPU (use the jax backend)")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


class TorchEngine:
    """Implements :class:`backends.loop.Engine` for PyTorch."""

    def __init__(self, cfg: TrainConfig, data: Dataset, schedule: Schedule, steps_per_epoch: int) -> None:
        self.ranks = Ranks(resolve_device(cfg.device), min(cfg.data.batch_size, len(data.x_train)))
        self.dev = self.ranks.device
        self.device = str(self.dev) + (f" (data parallel x{self.ranks.world})" if self.ranks.parallel else "")
        self.is_writer = self.ranks.rank == 0
        seed_everything(cfg.seed)
        self.cfg = cfg
        self.regression = data.regression
        self.module = self.ranks.sync_batch_norm(build_model(cfg.model, data).to(self.dev))  # the model itself (evaluated, saved)
        self.model = self.ranks.wrap(self.module)  # what trains: DDP under torchrun
        to = self._tensors
        self.x = {"train": to(data.x_train, cfg), "val": to(data.x_val, cfg), "test": to(data.x_test, cfg)}
        self.y = {s: torch.as_tensor(v, device=self.dev) for s, v in
                  (("train", data.y_train), ("val", data.y_val), ("test", data.y_test))}
        if not self.regression:
            self.y = {s: v.long() for s, v in self.y.items()}
        self.loss_fn = nn.MSELoss() if self.regression else nn.CrossEntropyLoss()
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        groups: dict[str, list[torch.Tensor]] = defaultdict(list)
        for name, p in self.module.named_parameters():
            groups[name.rsplit(".", 1)[0]].append(p)
        self.layer_names = list(groups)
        self._layers = list(groups.values())
        self.opt = make_optimizer(cfg.optim, self.params)
        base = cfg.optim.lr
        self.schedule = schedule
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: schedule.lr(s) / base)
        self.clip_norm, self.clip_value = cfg.optim.clip_norm, cfg.optim.clip_value
        self.n_bad = nan_rows(cfg, min(cfg.data.batch_size, len(data.x_train)))

    def _tensors(self, a: np.ndarray, cfg: TrainConfig) -> torch.Tensor:
        t = torch.as_tensor(a, device=self.dev)
        return t.permute(0, 3, 1, 2).contiguous() if cfg.model.kind == "cnn" else t  # NHWC -> NCHW

    def run_chunk(self, chunk: Chunk) -> dict[str, np.ndarray]:
        n = chunk.n
        idx = self.ranks.rows(torch.as_tensor(chunk.indices[:n], device=self.dev))  # this rank's share of each batch
        n_bad = self.ranks.bad_rows(self.n_bad)
        x_all, y_all = self.x["train"], self.y["train"]
        losses, accs, norms = [], [], []
        layer_rows, ratios, layer_steps = [], [], []
        sanitize = self.cfg.data.sanitize
        self.model.train()
        for i in range(n):
            xb, yb = x_all[idx[i]], y_all[idx[i]]
            if chunk.nan[i]:
                xb[:n_bad] = float("nan")  # xb is a fresh copy (advanced indexing)
            if sanitize:
                xb = torch.nan_to_num(xb, nan=0.0, posinf=0.0, neginf=0.0)
            out = self.model(xb)
            loss = self.loss_fn(out, yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad for p in self.params]
            total = get_total_norm(grads)
            if self.clip_norm:
                clip_grads_with_norm_(self.params, self.clip_norm, total)
            if self.clip_value:
                clip_grad_value_(self.params, self.clip_value)
            record = bool(chunk.layer[i])
            if record:
                layer_rows.append(torch.stack([get_total_norm([p.grad for p in ps]) for ps in self._layers]))
                before = [p.detach().clone() for p in self.params]
            self.opt.step()
            self.sched.step()
            if record:
                with torch.no_grad():
                    delta = torch._foreach_sub([p.detach() for p in self.params], before)
                    ratios.append(get_total_norm(delta) / get_total_norm(before).clamp_min(1e-12))
                layer_steps.append(i)
            losses.append(loss.detach())
            norms.append(total)
            if not self.regression:
                accs.append((out.detach().argmax(1) == yb).float().mean())
        # One host sync for the whole interval.
        out_arrays = {"loss": self.ranks.mean(torch.stack(losses)), "grad_norm": torch.stack(norms)}
        if accs:
            out_arrays["accuracy"] = self.ranks.mean(torch.stack(accs))
        result = {k: v.float().cpu().numpy() for k, v in out_arrays.items()}
        ratio = np.full(n, np.nan)
        layers = np.full((n, len(self.layer_names)), np.nan)
        if layer_steps:
            ratio[layer_steps] = torch.stack(ratios).float().cpu().numpy()
            layers[layer_steps] = torch.stack(layer_rows).float().cpu().numpy()
        result["update_ratio"] = ratio
        for j, name in enumerate(self.layer_names):
            result[f"layer/{name}"] = layers[:, j]
        return result

    @torch.inference_mode()
    def evaluate(self, split: str) -> tuple[float, float | None]:
        self.module.eval()  # every rank evaluates the whole split: the same numbers, no collective
        x, y = self.x[split], self.y[split]
        loss_sum = torch.zeros((), device=self.dev)
        correct = torch.zeros((), device=self.dev)
        for start in range(0, len(x), 4096):
            out = self.module(x[start:start + 4096])
            yb = y[start:start + 4096]
            loss_sum += self.loss_fn(out, yb) * len(yb)
            if not self.regression:
                correct += (out.argmax(1) == yb).sum()
        loss = float(loss_sum) / len(x)
        return loss, None if self.regression else float(correct) / len(x)

    def snapshot(self) -> Any:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def restore(self, snap: Any) -> None:
        self.module.load_state_dict(snap)

    def agree(self, remedies: list[Any], reason: str | None, halt: bool) -> tuple[list[Any], str | None, bool]:
        return self.ranks.agree(remedies, reason, halt)


    def set_hyper(self, optim: OptimConfig) -> None:
        self.clip_norm, self.clip_value = optim.clip_norm, optim.clip_value
        for group in self.opt.param_groups:
            group["weight_decay"] = optim.weight_decay
            group["lr"] = self.schedule.lr(self.sched.last_epoch)  # the schedule may have changed
