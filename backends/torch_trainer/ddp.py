"""Data parallel across processes for the torch engine: ``torchrun --nproc_per_node N -m backends.torch_trainer``.

Under torchrun (``WORLD_SIZE`` > 1) each process joins the group (NCCL on GPUs, gloo on CPUs),
takes its equal share of every batch's rows, and DistributedDataParallel averages the gradients:
the update, the gradient norms and (all-reduced once per logging interval) the logged losses are
those of the whole batch, as on one device. Rank 0 writes the logs and runs the live monitor;
:meth:`Ranks.agree` hands its remedies to every rank and stops all ranks when one stops.
Without torchrun, a :class:`Ranks` is the one process and every method is a no-op.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from backends.config import ConfigError


class Ranks:
    """This process's place among the training's processes."""

    def __init__(self, device: torch.device, batch_size: int) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world <= 1:
            return
        if batch_size % self.world:
            raise ConfigError(f"data.batch_size {batch_size} does not split over {self.world} processes")
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
        if not dist.is_initialized():  # joined once per process, left at exit (a later run reuses it)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            atexit.register(_leave)
        share = batch_size // self.world
        self.lo, self.hi = self.rank * share, (self.rank + 1) * share

    @property
    def parallel(self) -> bool:
        return self.world > 1

    def sync_batch_norm(self, model: nn.Module) -> nn.Module:
        """When parallel, batch norm with statistics over the whole batch (as on one device)."""
        if self.parallel and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as trained: DistributedDataParallel when parallel."""
        if not self.parallel:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def rows(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's share of each step's batch of row indices (steps x batch)."""
        return indices[:, self.lo : self.hi] if self.parallel else indices

    def bad_rows(self, n_bad: int) -> int:
        """How many of this rank's rows are among the batch's first ``n_bad`` (NaN injection)."""
        return max(0, min(self.hi, n_bad) - self.lo) if self.parallel else n_bad

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean over ranks (of per-rank means of equal shares: the whole batch's mean)."""
        if not self.parallel:
            return t
        t = t.float().clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t / self.world

    def agree(self, remedies: list[Any], reason: str | None, halt: bool) -> tuple[list[Any], str | None, bool]:
        """Rank 0's remedies and stop request for every rank; ``halt`` when any rank halts."""
        if not self.parallel:
            return remedies, reason, halt
        box = [(remedies, reason)]
        dist.broadcast_object_list(box, src=0)
        flag = torch.tensor([1.0 if halt else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return box[0][0], box[0][1], bool(flag.item() > 0)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
