"""nn.Module models built from a :class:`~backends.config.ModelConfig` (layer names as in :mod:`backends.arch`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from backends import arch
from backends.config import ModelConfig
from backends.tasks import Dataset

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _norm(kind: str, features: int, conv: bool = False) -> nn.Module:
    if kind == "batchnorm":
        return nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)
    if kind == "layernorm":  # over (C, H, W) for images, as flax's GroupNorm(1) does
        return nn.GroupNorm(1, features) if conv else nn.LayerNorm(features)
    return nn.Identity()


class Block(nn.Module):
    """Linear (or 3x3 conv) -> norm -> activation -> dropout, with an optional identity skip."""

    def __init__(self, cfg: ModelConfig, d_in: int, index: int, conv: bool = False) -> None:
        super().__init__()
        if conv:
            self.conv = nn.Conv2d(d_in, cfg.width, 3, padding=1)
        else:
            self.linear = nn.Linear(d_in, cfg.width)
        self.norm = _norm(cfg.norm, cfg.width, conv)
        self.act = _ACTIVATIONS[cfg.activation]()
        # Conv blocks regularise in the head (dropout on feature maps of 8x8 digits hurts more than it helps).
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout and not conv else nn.Identity()
        self.pool = nn.MaxPool2d(2) if conv and index < arch.CNN_POOLED_BLOCKS else nn.Identity()
        self.residual = arch.block_residual(cfg, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.conv if hasattr(self, "conv") else self.linear
        h = self.drop(self.act(self.norm(layer(x))))
        return self.pool(x + h if self.residual else h)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, d_in: int, d_out: int) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(Block(cfg, d_in if i == 0 else cfg.width, i) for i in range(cfg.depth))
        self.head = nn.Linear(cfg.width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.hidden:
            x = block(x)
        return self.head(x)


class CNN(nn.Module):
    """Conv blocks on NCHW images, 2x2 pooling after the first two, then dropout and a linear head."""

    def __init__(self, cfg: ModelConfig, channels: int, d_out: int) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(Block(cfg, channels if i == 0 else cfg.width, i, conv=True) for i in range(cfg.depth))
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(arch.cnn_flat_size(cfg), d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.hidden:
            x = block(x)
        return self.head(self.drop(x.flatten(1)))


class Recurrent(nn.Module):
    """Stacked single-layer nn.RNN / nn.LSTM (so dropout and skips can sit between layers); head on the last step."""

    def __init__(self, cfg: ModelConfig, d_in: int, d_out: int) -> None:
        super().__init__()
        self.hidden = nn.ModuleList()
        for i in range(cfg.depth):
            n_in = d_in if i == 0 else cfg.width
            layer = (nn.LSTM(n_in, cfg.width, batch_first=True) if cfg.kind == "lstm"
                     else nn.RNN(n_in, cfg.width, nonlinearity=cfg.activation, batch_first=True))
            self.hidden.append(nn.ModuleDict({"rnn": layer}))
        self.residual = cfg.residual
        self.drop = nn.Dropout(cfg.dropout)
        self.norm = _norm(cfg.norm, cfg.width)
        self.head = nn.Linear(cfg.width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.hidden):
            h, _ = layer["rnn"](x)
            h = self.drop(h) if i < len(self.hidden) - 1 else h
            x = x + h if self.residual and i > 0 else h
        return self.head(self.drop(self.norm(x[:, -1])))


def _fans(w: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


def init_weight(w: torch.Tensor, spec: arch.InitSpec) -> None:
    with torch.no_grad():
        if spec.kind == "orthogonal":
            nn.init.orthogonal_(w, gain=spec.scale)
        elif spec.kind == "normal":
            nn.init.normal_(w, 0.0, spec.scale)
        else:
            fan_in, fan_out = _fans(w)
            fan = fan_in if spec.mode == "fan_in" else (fan_in + fan_out) / 2
            nn.init.normal_(w, 0.0, math.sqrt(spec.scale / fan))


def _init_rnn_weights(rnn: nn.RNNBase, cfg: ModelConfig) -> None:
    for name, p in rnn.named_parameters():
        if name.startswith("bias"):
            nn.init.zeros_(p)
        elif name.startswith("weight_hh"):
            # LSTM: one block per gate, each square, each initialised on its own as flax's cell does.
            for chunk in p.data.chunk(p.shape[0] // p.shape[1]):
                init_weight(chunk, arch.init_spec(cfg, recurrent_weight=True))
        else:
            for chunk in p.data.chunk(p.shape[0] // rnn.hidden_size):
                init_weight(chunk, arch.init_spec(cfg))


def build_model(cfg: ModelConfig, data: Dataset) -> nn.Module:
    """The network a config describes, with the shared initialisation (weights per arch.init_spec, zero biases)."""
    if cfg.kind == "mlp":
        model: nn.Module = MLP(cfg, math.prod(data.input_shape), data.out_dim)
    elif cfg.kind == "cnn":
        model = CNN(cfg, data.input_shape[-1], data.out_dim)
    else:
        model = Recurrent(cfg, data.input_shape[-1], data.out_dim)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init_weight(module.weight, arch.head_init(cfg) if module is getattr(model, "head", None) else arch.init_spec(cfg))
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.RNNBase):
            _init_rnn_weights(module, cfg)
    return model
