"""The training loop: a plain PyTorch script that records every step, whatever gets logged.

The loop keeps the full per-step history (loss, lr, gradient norm, batch accuracy) and every
evaluation; ``cadence`` then decides what a given writer would have put on disk. Keeping the
two apart lets one run be logged with each writer's real semantics without training twice.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import models, optim
from .data import Data, load
from .spec import EPOCH, Case


@dataclass
class Trace:
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    layer_steps: list[int] = field(default_factory=list)
    layer_norms: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)  # updates done when evaluated
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    steps_per_epoch: int = 1
    planned_steps: int = 0
    num_classes: int = 0
    n_train: int = 0
    n_val: int = 0


@dataclass(frozen=True)
class Plan:
    steps: int
    steps_per_epoch: int
    eval_every: int


def plan(case: Case, n_train: int) -> Plan:
    """Steps, epoch length and evaluation period. Epoch-logging writers train whole epochs."""
    spe = math.ceil(n_train / case.optim.batch_size)
    steps = case.loop.steps
    if case.log.writer == "keras" or case.log.log_every == EPOCH:
        epochs = max(4, round(steps / spe))  # at least four evaluations, even for long epochs
        steps = epochs * spe
        # Keras validates every epoch; epoch-logging scripts every k epochs
        per = 1 if case.log.writer == "keras" else max(1, epochs // case.loop.eval_count)
        return Plan(steps, spe, per * spe)
    return Plan(steps, spe, max(1, steps // case.loop.eval_count))


def _order(data: Data, case: Case, gen: torch.Generator) -> torch.Tensor:
    n = len(data.y_train)
    if case.loop.sort_by_class:
        return torch.argsort(data.y_train, stable=True)
    if not case.loop.shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=gen)


def _loss_fn(data: Data, label_smoothing: float = 0.0) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing) if data.num_classes else nn.MSELoss()


def _forward(model: nn.Module, x: torch.Tensor, data: Data) -> torch.Tensor:
    out = model(x)
    return out if data.num_classes else out.squeeze(-1)


def _evaluate(model: nn.Module, data: Data, trace: Trace, step: int, sample: int, gen: torch.Generator,
              label_smoothing: float = 0.0) -> None:
    x, y = data.x_val, data.y_val
    if sample:
        # limit_val_batches=1 with a shuffled val loader: each evaluation sees another small batch
        idx = torch.randperm(len(y), generator=gen)[:sample]
        x, y = x[idx], y[idx]
    model.eval()
    with torch.no_grad():
        out = _forward(model, x, data)
        trace.val_loss.append(float(_loss_fn(data, label_smoothing)(out, y)))  # the script's one criterion
        if data.num_classes:
            trace.val_acc.append(float((out.argmax(1) == y).float().mean()))
    trace.eval_steps.append(step)
    model.train()


def _norm_wanted(case: Case, step: int, spe: int) -> bool:
    """Whether any writer's cadence logs the grad norm of this step (instant at N, 2N; or at N-1, 2N-1;
    or at an epoch's last step): computing it only then keeps long sparse-logged runs cheap."""
    every = case.log.log_every
    if case.optim.clip is not None or every <= 1:
        return True
    return step % every in (0, every - 1) or (step + 1) % spe == 0


def _grad_norms(case: Case, model: nn.Module, trace: Trace, step: int, spe: int) -> None:
    """Global norm before clipping (NaN on steps no cadence logs); per-layer at the cadence."""
    total = float("nan")
    if case.optim.clip is not None:
        total = float(torch.nn.utils.clip_grad_norm_(model.parameters(), case.optim.clip))
    elif _norm_wanted(case, step, spe):
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        total = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
    trace.grad_norm.append(total)
    every = max(1, case.log.log_every)
    if case.log.layer_norms and step % every == 0:
        trace.layer_steps.append(step)
        for name, w in models.layer_weights(model):
            g = 0.0 if w.grad is None else float(w.grad.norm())
            trace.layer_norms.setdefault(name, []).append(g)


def _stop_early(trace: Trace, patience: int) -> bool:
    v = trace.val_loss
    if not patience or len(v) <= patience:
        return False
    return min(v[-patience:]) >= min(v[:-patience])


def run(case: Case, seed: int) -> Trace:
    torch.manual_seed(seed)
    np.random.seed(seed)
    data = load(case.data, seed)
    model = models.build(case.model, data)
    if case.loop.pretrain:
        _pretrain(model, data, case.loop.pretrain, case.optim.batch_size)
        if case.loop.head_only:
            models.reset_head(model)  # a new task's head on the pretrained body
    # The frozen bug: the optimiser was built on a stale copy, so the model never changes.
    opt = optim.make_optimizer((copy.deepcopy(model) if case.loop.frozen else model).parameters(), case.optim)
    p = plan(case, len(data.y_train))
    sched = optim.make_scheduler(opt, case.optim, p.steps, p.steps // p.steps_per_epoch)
    trace = Trace(steps_per_epoch=p.steps_per_epoch, planned_steps=p.steps, num_classes=data.num_classes,
                  n_train=len(data.y_train), n_val=len(data.y_val))
    _loop(case, model, data, opt, sched, p, trace)
    return trace


def _pretrain(model: nn.Module, data: Data, steps: int, bs: int) -> None:
    """Train silently (Adam 1e-3, shuffled batches) before the logged run: the logged run then
    starts from a model that has already learned, as a resumed or fine-tuned one does."""
    gen = torch.Generator().manual_seed(int(torch.initial_seed()) + 7)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = _loss_fn(data)
    n = len(data.y_train)
    for _ in range(steps):
        idx = torch.randint(0, n, (bs,), generator=gen)
        loss = loss_fn(_forward(model, data.x_train[idx], data), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _loop(case: Case, model: nn.Module, data: Data, opt: torch.optim.Optimizer,
          sched: torch.optim.lr_scheduler.LRScheduler | None, p: Plan, trace: Trace) -> None:
    gen = torch.Generator().manual_seed(int(torch.initial_seed()))
    val_gen = torch.Generator().manual_seed(int(torch.initial_seed()) + 1)
    loss_fn = _loss_fn(data, case.loop.label_smoothing)
    need_norm = case.log.grad_norm or case.log.layer_norms or case.optim.clip is not None
    nan_at = int(case.loop.nan_from * p.steps) if case.loop.nan_from else -1
    bs = case.optim.batch_size
    order = _order(data, case, gen)
    frozen_until = int(case.loop.head_only * p.steps)
    head = models.head_params(model) if frozen_until else []
    body = [q for q in model.parameters() if all(q is not h for h in head)] if frozen_until else []
    for step in range(p.steps):
        pos = (step % p.steps_per_epoch) * bs
        if step and pos == 0 and case.loop.shuffle and not case.loop.sort_by_class:
            order = torch.randperm(len(order), generator=gen)
        idx = order[pos: pos + bs]
        x, y = data.x_train[idx], data.y_train[idx]
        if 0 <= nan_at <= step:
            x = x.clone()
            x[0] = float("nan")  # a corrupted shard from here on
        out = _forward(model, x, data)
        loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step < frozen_until:
            for q in body:  # the body is frozen until then (zero gradients: no step, no moments)
                q.grad.zero_()
        if need_norm:
            _grad_norms(case, model, trace, step, p.steps_per_epoch)
        trace.lr.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None and case.optim.schedule != "never":
            sched.step()
        trace.loss.append(loss.item())
        if data.num_classes:
            trace.train_acc.append((out.argmax(1) == y).float().mean().item())
        if (step + 1) % p.eval_every == 0:
            _evaluate(model, data, trace, step + 1, case.loop.val_sample, val_gen, case.loop.label_smoothing)
            if _stop_early(trace, case.loop.early_stop):
                break
