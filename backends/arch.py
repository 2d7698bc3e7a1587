"""Architecture decisions both backends share, so one config builds the same network in each.

Layer names are part of the contract (``train/grad_norm/<layer>``): MLP blocks are
``hidden.<i>.linear`` / ``hidden.<i>.norm``, CNN blocks ``hidden.<i>.conv`` / ``hidden.<i>.norm``,
recurrent layers ``hidden.<i>.rnn``, the output layer ``head``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.config import ModelConfig

RELU_LIKE = ("relu", "elu", "gelu")
CNN_POOLED_BLOCKS = 2  # 8x8 -> 4x4 -> 2x2: the first two conv blocks are followed by 2x2 max pooling


@dataclass(frozen=True)
class InitSpec:
    """How to draw a weight: variance scaling (std = sqrt(scale / fan)), orthogonal (gain), or N(0, std^2)."""

    kind: str  # "variance", "orthogonal", "normal"
    scale: float  # variance scale, orthogonal gain, or the normal's std
    mode: str = "fan_in"  # "fan_in" or "fan_avg" (variance only)


def init_spec(m: ModelConfig, recurrent_weight: bool = False) -> InitSpec:
    """The initializer a weight gets; biases are always zero."""
    g = m.init_scale
    scheme = m.init
    if scheme == "default":
        if recurrent_weight:
            scheme = "orthogonal"
        else:
            scheme = "kaiming" if m.activation in RELU_LIKE and m.kind in ("mlp", "cnn") else "lecun"
    if scheme == "kaiming":
        return InitSpec("variance", 2.0 * g * g)
    if scheme == "lecun":
        return InitSpec("variance", g * g)
    if scheme == "xavier":
        return InitSpec("variance", g * g, "fan_avg")
    if scheme == "orthogonal":
        return InitSpec("orthogonal", g)
    return InitSpec("normal", g)


def head_init(m: ModelConfig) -> InitSpec:
    """The output layer: lecun-scaled (a logits layer has no activation after it)."""
    return InitSpec("variance", m.init_scale**2) if m.init not in ("normal", "orthogonal") else init_spec(m)


def cnn_flat_size(m: ModelConfig, side: int = 8) -> int:
    """Features entering the CNN head: channels x the side left after pooling."""
    for _ in range(min(m.depth, CNN_POOLED_BLOCKS)):
        side //= 2
    return m.width * side * side


def block_residual(m: ModelConfig, index: int) -> bool:
    """Residual connections skip every block whose input and output widths match (all but the first)."""
    return m.residual and index > 0
