"""torch.optim optimizers from an :class:`~backends.config.OptimConfig`, plus Lookahead (for ``ranger``)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from backends.config import OptimConfig

LOOKAHEAD_K, LOOKAHEAD_ALPHA = 6, 0.5  # Zhang et al. 2019; optax.lookahead's usual setting


class Lookahead(torch.optim.Optimizer):
    """Lookahead (Zhang et al., 2019) around any optimizer: every k steps, slow += alpha (fast - slow); fast = slow.

    It shares the inner optimizer's param groups, so lr schedulers and live lr/weight-decay
    changes act on both.
    """

    def __init__(self, inner: torch.optim.Optimizer, k: int = LOOKAHEAD_K, alpha: float = LOOKAHEAD_ALPHA) -> None:
        self.inner, self.k, self.alpha = inner, k, alpha
        super().__init__(inner.param_groups, inner.defaults)  # the same group dicts: one lr for both
        self._count = 0
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["slow"] = p.detach().clone()

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = self.inner.step(closure)
        self._count += 1
        if self._count % self.k == 0:
            params = [p for g in self.param_groups for p in g["params"]]
            slow = [self.state[p]["slow"] for p in params]
            torch._foreach_lerp_(slow, params, self.alpha)
            torch._foreach_copy_(params, slow)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none)


def make_optimizer(cfg: OptimConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``cfg.name`` names; weight decay is decoupled for adamw, L2 on the gradient otherwise."""
    params = list(params)
    lr, wd, betas, eps = cfg.lr, cfg.weight_decay, tuple(cfg.betas), cfg.eps
    name = cfg.name
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=betas[1], eps=eps, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=1e-10, weight_decay=wd)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.9, eps=1e-6, weight_decay=wd)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    if name == "ranger":
        return Lookahead(torch.optim.RAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd))
    raise ValueError(f"unknown optimizer {name!r}")  # pragma: no cover - validated by the config
