"""The action vocabulary of SPEC §3 as small factories returning frozen :class:`Remedy` data.

``scale_lr(0.1)``, ``clip_grad_norm(1.0)``, ... each returns an immutable, JSON round-trippable
remedy that says whether a trainer can apply it mid-run (``live``) and whether it is ``safe``
(bounded; it changes neither the objective nor the data). The reference trainers' pure
``apply(config, remedy)`` implements every ``auto`` action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advisor.model import Remedy


@dataclass(frozen=True)
class ActionSpec:
    """What an action id means: its parameters and how it may be applied."""

    action: str
    params: tuple[str, ...]
    kind: str  # "auto" or "manual"
    live: bool  # a running trainer can apply it
    safe: bool  # bounded; neither objective nor data changes
    doc: str


ACTIONS: dict[str, ActionSpec] = {
    a.action: a
    for a in (
        ActionSpec("scale_lr", ("factor",), "auto", True, True, "multiply the learning rate by factor"),
        ActionSpec(
            "lr_schedule",
            ("kind", "factor", "patience", "milestones", "gamma", "min_lr", "horizon"),
            "auto",
            True,
            True,
            "switch the learning-rate schedule (constant, step, cosine, exponential, plateau)",
        ),
        ActionSpec("warmup", ("steps",), "auto", False, True, "ramp the learning rate up linearly over steps"),
        ActionSpec("clip_grad_norm", ("max_norm",), "auto", True, True, "clip the global gradient norm to max_norm"),
        ActionSpec("weight_decay", ("value",), "auto", True, False, "set weight decay (L2) to value"),
        ActionSpec("dropout", ("rate",), "auto", False, False, "set the dropout rate"),
        ActionSpec("batch_size", ("value",), "auto", False, True, "set the batch size"),
        ActionSpec("shuffle", ("enabled",), "auto", False, True, "shuffle the training data every epoch"),
        ActionSpec("optimizer", ("name", "lr"), "auto", False, True, "switch the optimizer (optionally its lr)"),
        ActionSpec("early_stop", ("step", "patience", "restore_best"), "auto", True, True, "stop at a step or after patience evaluations without improvement"),
        ActionSpec("train_longer", ("factor",), "auto", False, True, "train for factor times as many steps"),
        ActionSpec("capacity", ("width_factor", "depth_delta"), "auto", False, False, "make the model wider and/or deeper"),
        ActionSpec("activation", ("name",), "auto", False, False, "change the hidden activation"),
        ActionSpec("normalization", ("kind",), "auto", False, False, "add or change normalisation layers"),
        ActionSpec("residual", ("enabled",), "auto", False, False, "add residual connections"),
        ActionSpec("sanitize_inputs", (), "auto", False, False, "drop or fix non-finite inputs, normalise features"),
        ActionSpec("check_data", ("what",), "manual", False, True, "a person checks labels, splits or the input pipeline"),
        ActionSpec("eval_more_often", ("every",), "manual", False, True, "evaluate more often"),
        ActionSpec("larger_val_set", (), "manual", False, True, "use a larger validation set"),
        ActionSpec("entropy_coef", ("factor",), "manual", False, True, "RL: scale the entropy bonus by factor"),
        ActionSpec("balance_adversaries", ("what",), "manual", False, True, "GAN: rebalance generator and discriminator (what to change)"),
    )
}

AUTO_ACTIONS: tuple[str, ...] = tuple(a for a, s in ACTIONS.items() if s.kind == "auto")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "radam", "ranger")
SCHEDULES = ("constant", "step", "cosine", "exponential", "plateau")
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid")
NORMALIZATIONS = ("batchnorm", "layernorm", "none")


def make(action: str, rationale: str = "", **params: Any) -> Remedy:
    """Build a remedy for ``action`` with the kind/live/safe flags of its spec."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise ValueError(f"unknown remedy action {action!r}")
    unknown = set(params) - set(spec.params)
    if unknown:
        raise ValueError(f"{action}: unknown parameter(s) {sorted(unknown)}")
    clean = {k: v for k, v in params.items() if v is not None}
    return Remedy(action, clean, spec.kind, spec.live, spec.safe, rationale)


def scale_lr(factor: float, rationale: str = "") -> Remedy:
    return make("scale_lr", rationale, factor=float(factor))


def lr_schedule(kind: str, rationale: str = "", **params: Any) -> Remedy:
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}")
    return make("lr_schedule", rationale, kind=kind, **params)


def warmup(steps: int, rationale: str = "") -> Remedy:
    return make("warmup", rationale, steps=int(steps))


def clip_grad_norm(max_norm: float, rationale: str = "") -> Remedy:
    return make("clip_grad_norm", rationale, max_norm=float(max_norm))


def weight_decay(value: float, rationale: str = "") -> Remedy:
    return make("weight_decay", rationale, value=float(value))


def dropout(rate: float, rationale: str = "") -> Remedy:
    return make("dropout", rationale, rate=float(rate))


def batch_size(value: int, rationale: str = "") -> Remedy:
    return make("batch_size", rationale, value=int(value))


def shuffle(enabled: bool = True, rationale: str = "") -> Remedy:
    return make("shuffle", rationale, enabled=bool(enabled))


def optimizer(name: str, lr: float | None = None, rationale: str = "") -> Remedy:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}")
    return make("optimizer", rationale, name=name, lr=None if lr is None else float(lr))


def early_stop(step: int | None = None, patience: int | None = None, restore_best: bool = True, rationale: str = "") -> Remedy:
    return make("early_stop", rationale, step=None if step is None else int(step), patience=patience, restore_best=bool(restore_best))


def train_longer(factor: float, rationale: str = "") -> Remedy:
    return make("train_longer", rationale, factor=float(factor))


def capacity(width_factor: float | None = None, depth_delta: int | None = None, rationale: str = "") -> Remedy:
    return make("capacity", rationale, width_factor=width_factor, depth_delta=depth_delta)


def activation(name: str, rationale: str = "") -> Remedy:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return make("activation", rationale, name=name)


def normalization(kind: str, rationale: str = "") -> Remedy:
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {kind!r}")
    return make("normalization", rationale, kind=kind)


def residual(enabled: bool = True, rationale: str = "") -> Remedy:
    return make("residual", rationale, enabled=bool(enabled))


def sanitize_inputs(rationale: str = "") -> Remedy:
    return make("sanitize_inputs", rationale)


def check_data(what: str, rationale: str = "") -> Remedy:
    return make("check_data", rationale, what=what)


def eval_more_often(every: int | None = None, rationale: str = "") -> Remedy:
    return make("eval_more_often", rationale, every=every)


def larger_val_set(rationale: str = "") -> Remedy:
    return make("larger_val_set", rationale)


def entropy_coef(factor: float, rationale: str = "") -> Remedy:
    return make("entropy_coef", rationale, factor=float(factor))


def balance_adversaries(what: str, rationale: str = "") -> Remedy:
    return make("balance_adversaries", rationale, what=what)
