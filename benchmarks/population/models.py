"""The model families of the population, written as a practitioner would: a few nn.Modules."""

from __future__ import annotations

import torch
from torch import nn

from .data import Data
from .spec import ModelSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, spec: ModelSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for _ in range(spec.depth):
            layers += [nn.Linear(width, spec.width), ACTIVATIONS[spec.activation]()]
            if spec.dropout:
                layers.append(nn.Dropout(spec.dropout))
            width = spec.width
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two 3x3 conv blocks and a linear head for 8x8 digits."""

    def __init__(self, out_dim: int, spec: ModelSpec) -> None:
        super().__init__()
        c = max(4, spec.width // 4)
        act = ACTIVATIONS[spec.activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), act(), nn.Conv2d(c, 2 * c, 3, padding=1), act(), nn.MaxPool2d(2)
        )
        self.drop = nn.Dropout(spec.dropout) if spec.dropout else nn.Identity()
        self.head = nn.Linear(2 * c * 16, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x).flatten(1)))


class Recurrent(nn.Module):
    """LSTM or plain RNN over the sequence; the last hidden state feeds a linear head."""

    def __init__(self, in_dim: int, out_dim: int, spec: ModelSpec) -> None:
        super().__init__()
        if spec.family == "lstm":
            self.rnn: nn.Module = nn.LSTM(in_dim, spec.width, batch_first=True)
        else:
            nonlin = "relu" if spec.activation == "relu" else "tanh"
            self.rnn = nn.RNN(in_dim, spec.width, nonlinearity=nonlin, batch_first=True)
        self.drop = nn.Dropout(spec.dropout) if spec.dropout else nn.Identity()
        self.head = nn.Linear(spec.width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1]))


class TinyTransformer(nn.Module):
    """Token embedding + learned positions, a d_model=32 encoder, mean pooling, linear head."""

    def __init__(self, vocab: int, seq_len: int, out_dim: int, spec: ModelSpec) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 32)
        self.pos = nn.Parameter(torch.randn(seq_len, 32) * 0.02)
        layer = nn.TransformerEncoderLayer(32, 4, 2 * spec.width, spec.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, spec.depth, enable_nested_tensor=False)
        self.head = nn.Linear(32, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x) + self.pos).mean(1))


def build(spec: ModelSpec, data: Data) -> nn.Module:
    out_dim = data.num_classes or 1
    model: nn.Module
    if spec.family == "mlp":
        flat = data.in_dim if data.kind != "image" else 64
        model = MLP(flat, out_dim, spec)
    elif spec.family == "cnn":
        model = SmallCNN(out_dim, spec)
    elif spec.family in ("lstm", "rnn"):
        model = Recurrent(data.in_dim, out_dim, spec)
    elif spec.family == "transformer":
        model = TinyTransformer(data.in_dim, data.seq_len, out_dim, spec)
    else:
        raise ValueError(f"unknown family {spec.family!r}")
    _inject_init(model, spec)
    return model


def _inject_init(model: nn.Module, spec: ModelSpec) -> None:
    """Init faults: a scaled weight init (exploding RNNs) and a huge output bias (broken head)."""
    with torch.no_grad():
        if spec.family == "rnn" and spec.activation == "relu":
            # IRNN (Le et al. 2015): identity recurrent init, scaled; without clipping it explodes
            model.rnn.weight_hh_l0.copy_(torch.eye(spec.width) * spec.init_scale)
        elif spec.init_scale != 1.0:
            for name, p in model.named_parameters():
                if p.dim() >= 2 and (spec.family != "rnn" or "weight_hh" in name):
                    p.mul_(spec.init_scale)
        if spec.out_bias:
            head = _head(model)
            # One class gets the whole offset: a head whose bias was loaded from the wrong checkpoint.
            head.bias[0] += spec.out_bias
            if head.bias.numel() > 1:
                head.bias[1:] -= spec.out_bias / 2


def reset_head(model: nn.Module) -> None:
    """Re-initialise the output layer (a new task's head on a pretrained body)."""
    _head(model).reset_parameters()


def head_params(model: nn.Module) -> list[nn.Parameter]:
    return list(_head(model).parameters())


def _head(model: nn.Module) -> nn.Linear:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return last


def layer_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The weight matrices in forward order, named layer0.. (for per-layer gradient norms)."""
    mats = [p for name, p in model.named_parameters() if p.dim() >= 2 and "embed" not in name]
    return [(f"layer{i}", p) for i, p in enumerate(mats)]
