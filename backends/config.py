"""One training configuration for both reference trainers, and the pure remedy patch ``apply``.

:class:`TrainConfig` is a tree of frozen dataclasses (``data``, ``model``, ``optim``,
``schedule``, ``train``, ``early_stop`` plus ``seed`` and ``device``) that covers every knob a
SPEC §3 remedy patches. It loads from and saves to TOML or JSON, takes dotted ``KEY=VALUE``
overrides with type coercion, and validates itself: every user-caused problem is a
:class:`ConfigError` with a one-line message naming the key.

``apply(config, remedy)`` implements every ``auto`` action of :mod:`advisor.remedies` as a pure
patch; :func:`apply_live` is the subset a running trainer may apply (see :mod:`backends.control`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from advisor.config import read_table
from advisor.model import Remedy
from advisor.remedies import ACTIONS, ACTIVATIONS, AUTO_ACTIONS, NORMALIZATIONS, OPTIMIZERS, SCHEDULES
from backends.errors import ConfigError
from backends.taskspec import SPECS, split_sizes


TASKS = tuple(SPECS)  # "digits", "spirals", "blobs", "adding", "regression"
MODELS = ("mlp", "cnn", "rnn", "lstm")
INITS = ("default", "lecun", "xavier", "kaiming", "orthogonal", "normal")
DEVICES = ("auto", "cpu", "cuda", "gpu", "tpu")
RECURRENT_ACTIVATIONS = ("tanh", "relu")  # what torch.nn.RNN implements


@dataclass(frozen=True)
class DataConfig:
    """The task and the input pipeline, including the ways it can be made to misbehave."""

    task: str = "digits"
    n_train: int = 0  # 0: the task's default size
    n_val: int = 0
    n_test: int = 0
    noise: float = -1.0  # task noise (spiral jitter, blob spread, regression noise); <0: the task's default
    n_classes: int = 0  # blobs/spirals; 0: the task's default
    n_features: int = 0  # blobs/regression; 0: the task's default
    seq_len: int = 0  # adding problem; 0: the task's default
    data_seed: int = 0  # the data set itself is fixed across training seeds
    batch_size: int = 64
    shuffle: bool = True
    sort_by_class: bool = False  # order the training set by class (with shuffle off: class-sorted batches)
    label_noise: float = 0.0  # classification: fraction of train labels resampled; regression: target noise std
    shuffle_labels: bool = False  # permute training labels against the inputs (nothing left to learn)
    input_scale: float = 1.0  # multiply every input feature (bad preprocessing)
    nan_from_step: int = -1  # from this step on, some inputs of every batch are NaN; -1: never
    nan_fraction: float = 0.1  # fraction of each batch's samples made NaN
    sanitize: bool = False  # fix non-finite inputs and standardise features in the pipeline


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mlp"
    width: int = 128
    depth: int = 2  # hidden layers (mlp), conv blocks (cnn), stacked recurrent layers (rnn/lstm)
    activation: str = "relu"
    dropout: float = 0.0
    norm: str = "none"  # batchnorm, layernorm, none
    residual: bool = False
    init: str = "default"  # default (kaiming for relu-like, lecun otherwise), lecun, xavier, kaiming, orthogonal, normal
    init_scale: float = 1.0  # gain on the init (the std itself for "normal")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9  # momentum (sgd "momentum"), rmsprop momentum is not used
    betas: tuple[float, float] = (0.9, 0.999)  # adam family; betas[1] is also rmsprop's decay
    eps: float = 1e-8
    weight_decay: float = 0.0  # decoupled for adamw, L2 added to the gradient otherwise
    clip_norm: float = 0.0  # clip the global gradient norm to this; 0: off
    clip_value: float = 0.0  # clip each gradient element to +-this; 0: off (harmful: biases the direction)


@dataclass(frozen=True)
class ScheduleConfig:
    kind: str = "cosine"
    warmup: int = 0  # linear warmup steps
    horizon: int = 0  # steps over which the schedule decays to its floor; 0: the whole run
    min_lr: float = 0.0  # the floor
    milestones: tuple[float, ...] = ()  # step: steps (ints) or fractions of the horizon (0 < m < 1)
    gamma: float = 0.1  # step: factor per milestone; exponential: per-step factor if < 1 else derived
    factor: float = 0.1  # plateau: factor per reduction
    patience: int = 5  # plateau: evaluations without improvement before reducing


@dataclass(frozen=True)
class TrainLoopConfig:
    epochs: int = 30
    max_steps: int = 0  # 0: epochs * steps per epoch; otherwise the cap
    eval_every: int = 0  # steps between evaluations; 0: once per epoch
    log_every: int = 0  # steps per logging interval (host sync, callbacks, live control); 0: eval_every
    layer_every: int = 10  # steps between per-layer grad norms and update ratios


@dataclass(frozen=True)
class EarlyStopConfig:
    patience: int = 0  # evaluations without improvement of val loss before stopping; 0: off
    step: int = 0  # stop at this step; 0: off
    restore_best: bool = False  # evaluate on test with the weights of the best val loss
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    seed: int = 0
    device: str = "auto"

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """Build and validate from a nested dict (missing keys take defaults; unknown keys are errors)."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"config must be a table/object, got {type(d).__name__}")
        return _build(cls, d, "").validate()

    def to_dict(self) -> dict[str, Any]:
        """A nested, JSON-ready dict (tuples become lists)."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "TrainConfig":
        """Load a ``.toml`` or ``.json`` file."""
        try:
            d = read_table(path)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cls.from_dict(d)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save as JSON (``.json``) or TOML (anything else)."""
        p = os.fspath(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n" if p.endswith(".json") else to_toml(self.to_dict())
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)

    def with_overrides(self, overrides: Mapping[str, Any] | list[str] | tuple[str, ...]) -> "TrainConfig":
        """Apply dotted overrides: ``["optim.lr=0.1", "model.kind=cnn"]`` or ``{"optim.lr": 0.1}``."""
        pairs: list[tuple[str, Any]] = []
        if isinstance(overrides, Mapping):
            pairs = list(overrides.items())
        else:
            for item in overrides:
                if "=" not in item:
                    raise ConfigError(f"override {item!r} is not KEY=VALUE")
                k, v = item.split("=", 1)
                pairs.append((k.strip(), v.strip()))
        d = self.to_dict()
        for key, value in pairs:
            parts = key.split(".")
            cls_, node = TrainConfig, d
            for i, part in enumerate(parts):
                hints = _hints(cls_)
                if part not in hints:
                    where = ".".join(parts[:i]) or "config"
                    raise ConfigError(f"unknown key {key!r} (no {part!r} in {where})")
                tp = hints[part]
                if i == len(parts) - 1:
                    if dataclasses.is_dataclass(tp):
                        raise ConfigError(f"{key!r} is a section; set one of its keys ({key}.KEY=VALUE)")
                    node[part] = _coerce(value, tp, key, from_text=isinstance(value, str))
                else:
                    if not dataclasses.is_dataclass(tp):
                        raise ConfigError(f"{'.'.join(parts[: i + 1])!r} is not a section")
                    cls_, node = tp, node[part]
        return TrainConfig.from_dict(d)

    # -- derived quantities ---------------------------------------------------------------------

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> scalars (tuples as text): what the trainers log as TensorBoard hparams."""
        out: dict[str, Any] = {}

        def walk(prefix: str, d: Mapping[str, Any]) -> None:
            for k, v in d.items():
                key = f"{prefix}{k}"
                if isinstance(v, Mapping):
                    walk(key + ".", v)
                else:
                    out[key] = ",".join(str(x) for x in v) if isinstance(v, list) else v

        walk("", self.to_dict())
        return out

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` on the first invalid value; return self."""
        d, m, o, s, t, e = self.data, self.model, self.optim, self.schedule, self.train, self.early_stop
        _choice("data.task", d.task, TASKS)
        _choice("model.kind", m.kind, MODELS)
        _choice("model.activation", m.activation, ACTIVATIONS)
        _choice("model.norm", m.norm, NORMALIZATIONS)
        _choice("model.init", m.init, INITS)
        _choice("optim.name", o.name, OPTIMIZERS)
        _choice("schedule.kind", s.kind, SCHEDULES)
        _choice("device", self.device, DEVICES)
        for key, v in (("data.n_train", d.n_train), ("data.n_val", d.n_val), ("data.n_test", d.n_test),
                       ("data.n_classes", d.n_classes), ("data.n_features", d.n_features), ("data.seq_len", d.seq_len),
                       ("schedule.warmup", s.warmup), ("schedule.horizon", s.horizon), ("train.max_steps", t.max_steps),
                       ("train.eval_every", t.eval_every), ("train.log_every", t.log_every),
                       ("early_stop.patience", e.patience), ("early_stop.step", e.step)):
            _at_least(key, v, 0)
        for key, v in (("data.batch_size", d.batch_size), ("model.width", m.width), ("model.depth", m.depth),
                       ("train.epochs", t.epochs), ("train.layer_every", t.layer_every), ("schedule.patience", s.patience)):
            _at_least(key, v, 1)
        _fraction("data.nan_fraction", d.nan_fraction, lo_open=True)
        if d.task in ("digits", "spirals", "blobs"):
            _fraction("data.label_noise", d.label_noise)
        else:
            _nonneg("data.label_noise", d.label_noise)
        _fraction("model.dropout", m.dropout, hi_open=True)
        _fraction("optim.momentum", o.momentum, hi_open=True)
        for i, b in enumerate(o.betas):
            _fraction(f"optim.betas[{i}]", b, hi_open=True)
        if len(o.betas) != 2:
            raise ConfigError(f"optim.betas: expected 2 values, got {len(o.betas)}")
        _positive("optim.lr", o.lr)
        _positive("optim.eps", o.eps)
        _positive("model.init_scale", m.init_scale)
        _positive("data.input_scale", d.input_scale)
        _positive("schedule.gamma", s.gamma)
        _fraction("schedule.factor", s.factor, lo_open=True, hi_open=True)
        for key, v in (("optim.weight_decay", o.weight_decay), ("optim.clip_norm", o.clip_norm),
                       ("optim.clip_value", o.clip_value), ("schedule.min_lr", s.min_lr), ("early_stop.min_delta", e.min_delta)):
            _nonneg(key, v)
        if d.nan_from_step < -1:
            raise ConfigError(f"data.nan_from_step: must be a step >= 0 or -1 (never), got {d.nan_from_step}")
        if any((not math.isfinite(x)) or x <= 0 for x in s.milestones):
            raise ConfigError(f"schedule.milestones: must be positive steps (or fractions of the horizon), got {list(s.milestones)}")
        if d.noise > 0 and d.task == "digits":
            raise ConfigError("data.noise: the digits task has no synthetic noise (use data.label_noise)")
        recurrent = m.kind in ("rnn", "lstm")
        if recurrent != (d.task == "adding"):
            need = "rnn or lstm" if d.task == "adding" else "mlp or cnn"
            raise ConfigError(f"model.kind: task {d.task!r} needs model.kind {need}, got {m.kind!r}")
        if m.kind == "cnn" and d.task != "digits":
            raise ConfigError(f"model.kind: cnn needs image inputs (task 'digits'), got task {d.task!r}")
        if m.kind == "rnn" and m.activation not in RECURRENT_ACTIVATIONS:
            raise ConfigError(f"model.activation: an rnn supports {' or '.join(RECURRENT_ACTIVATIONS)}, got {m.activation!r}")
        if d.task in ("spirals", "blobs") and d.n_classes == 1:
            raise ConfigError("data.n_classes: a classification task needs at least 2 classes")
        split_sizes(d)
        return self


# -- remedies ------------------------------------------------------------------------------------


def apply(config: TrainConfig, remedy: Remedy | Mapping[str, Any]) -> TrainConfig:
    """Return ``config`` patched by one SPEC §3 ``auto`` remedy (pure; validates the result)."""
    action, params = _remedy_parts(remedy)
    spec = ACTIONS.get(action)
    if spec is None:
        raise ConfigError(f"unknown remedy action {action!r}")
    if spec.kind != "auto":
        raise ConfigError(f"remedy {action!r} is manual: a person must act, a trainer cannot apply it")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ConfigError(f"{action}: unknown parameter(s) {', '.join(unknown)} (expected {', '.join(spec.params) or 'none'})")
    return _PATCHES[action](config, _Params(action, params)).validate()


def is_live(remedy: Remedy | Mapping[str, Any]) -> bool:
    """Whether a running trainer may apply this remedy (SPEC §3 ``live`` flag)."""
    action, _ = _remedy_parts(remedy)
    spec = ACTIONS.get(action)
    return bool(spec and spec.kind == "auto" and spec.live)


def _remedy_parts(remedy: Remedy | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(remedy, Remedy):
        return remedy.action, dict(remedy.params)
    if isinstance(remedy, Mapping) and "action" in remedy:
        params = remedy.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"remedy params must be a mapping, got {type(params).__name__}")
        return str(remedy["action"]), dict(params)
    raise ConfigError("a remedy is an advisor.model.Remedy or a dict {'action': ..., 'params': {...}}")


class _Params:
    """Typed access to a remedy's params with one-line errors."""

    def __init__(self, action: str, params: dict[str, Any]) -> None:
        self.action, self.p = action, params

    def has(self, name: str) -> bool:
        return self.p.get(name) is not None

    def get(self, name: str, tp: Any, default: Any = dataclasses.MISSING) -> Any:
        if not self.has(name):
            if default is dataclasses.MISSING:
                raise ConfigError(f"{self.action}: missing parameter {name!r}")
            return default
        return _coerce(self.p[name], tp, f"{self.action}.{name}", from_text=isinstance(self.p[name], str))

    def positive(self, name: str) -> float:
        v = self.get(name, float)
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{self.action}: {name} must be a positive number, got {self.p[name]!r}")
        return v


def _scale_lr(c: TrainConfig, p: _Params) -> TrainConfig:
    return replace(c, optim=replace(c.optim, lr=c.optim.lr * p.positive("factor")))


def _lr_schedule(c: TrainConfig, p: _Params) -> TrainConfig:
    kind = p.get("kind", str)
    if kind not in SCHEDULES:
        raise ConfigError(f"lr_schedule: unknown kind {kind!r} (expected one of {', '.join(SCHEDULES)})")
    changes: dict[str, Any] = {"kind": kind}
    for name, tp in (("factor", float), ("patience", int), ("gamma", float), ("min_lr", float), ("horizon", int)):
        if p.has(name):
            changes[name] = p.get(name, tp)
    if p.has("milestones"):
        changes["milestones"] = p.get("milestones", tuple[float, ...])
    return replace(c, schedule=replace(c.schedule, **changes))



def _clip_grad_norm(c: TrainConfig, p: _Params) -> TrainConfig:
    return replace(c, optim=replace(c.optim, clip_norm=p.positive("max_norm")))






def _optimizer(c: TrainConfig, p: _Params) -> TrainConfig:
    name = p.get("name", str)
    lr = p.positive("lr") if p.has("lr") else c.optim.lr
    return replace(c, optim=replace(c.optim, name=name, lr=lr))


def _early_stop(c: TrainConfig, p: _Params) -> TrainConfig:
    if not (p.has("step") or p.has("patience")):
        raise ConfigError("early_stop: needs step and/or patience")
    e = c.early_stop
    return replace(c, early_stop=replace(
        e,
        step=p.get("step", int, e.step),
        patience=p.get("patience", int, e.patience),
        restore_best=p.get("restore_best", bool, True),
    ))


def _train_longer(c: TrainConfig, p: _Params) -> TrainConfig:
    f = p.positive("factor")
    run_length = total_steps(c)
    t, s, e = c.train, c.schedule, c.early_stop
    train = replace(t, epochs=max(1, math.ceil(t.epochs * f)), max_steps=math.ceil(t.max_steps * f) if t.max_steps else 0)
    # A horizon set to the run length means "the whole run": it grows with it. Any other horizon
    # was chosen on purpose (or is the misconfiguration being diagnosed) and stays.
    horizon = math.ceil(s.horizon * f) if s.horizon and s.horizon == run_length else s.horizon
    stop = math.ceil(e.step * f) if e.step else 0
    return replace(c, train=train, schedule=replace(s, horizon=horizon), early_stop=replace(e, step=stop))


def _capacity(c: TrainConfig, p: _Params) -> TrainConfig:
    if not (p.has("width_factor") or p.has("depth_delta")):
        raise ConfigError("capacity: needs width_factor and/or depth_delta")
    wf = p.positive("width_factor") if p.has("width_factor") else 1.0
    dd = p.get("depth_delta", int, 0)
    m = c.model
    return replace(c, model=replace(m, width=max(1, round(m.width * wf)), depth=max(1, m.depth + dd)))






def _setter(section: str, key: str, param: str | None, tp: type, default: Any = dataclasses.MISSING) -> Any:
    """A remedy that sets one config field from one of its params (or to ``default`` without one)."""

    def patch(c: TrainConfig, p: _Params) -> TrainConfig:
        value = default if param is None else p.get(param, tp, default)
        return replace(c, **{section: replace(getattr(c, section), **{key: value})})

    return patch


_PATCHES = {
    "scale_lr": _scale_lr,
    "lr_schedule": _lr_schedule,
    "warmup": _setter("schedule", "warmup", "steps", int),
    "clip_grad_norm": _clip_grad_norm,
    "weight_decay": _setter("optim", "weight_decay", "value", float),
    "dropout": _setter("model", "dropout", "rate", float),
    "batch_size": _setter("data", "batch_size", "value", int),
    "shuffle": _setter("data", "shuffle", "enabled", bool, True),
    "optimizer": _optimizer,
    "early_stop": _early_stop,
    "train_longer": _train_longer,
    "capacity": _capacity,
    "activation": _setter("model", "activation", "name", str),
    "normalization": _setter("model", "norm", "kind", str),
    "residual": _setter("model", "residual", "enabled", bool, True),
    "sanitize_inputs": _setter("data", "sanitize", None, bool, True),
}
assert set(_PATCHES) == set(AUTO_ACTIONS), "every auto action of SPEC §3 has a patch"


# -- run length (shared by both trainers) ----------------------------------------------------------


def steps_per_epoch(c: TrainConfig) -> int:
    """Full batches per epoch (the last, partial batch is dropped so every step has one shape)."""
    n_train = split_sizes(c.data)[0]
    return max(1, n_train // min(c.data.batch_size, n_train))


def total_steps(c: TrainConfig) -> int:
    """Steps the run takes unless it stops early."""
    n = c.train.epochs * steps_per_epoch(c)
    return min(n, c.train.max_steps) if c.train.max_steps else n


# -- (de)serialisation helpers ----------------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, d: Mapping[str, Any], prefix: str) -> Any:
    hints = _hints(cls)
    unknown = [k for k in d if k not in hints]
    if unknown:
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"unknown key {prefix}{unknown[0]!r} in {where} (known: {', '.join(hints)})")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        tp, v, key = hints[f.name], d[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, Mapping):
                raise ConfigError(f"{key}: expected a section, got {v!r}")
            kwargs[f.name] = _build(tp, v, key + ".")
        else:
            kwargs[f.name] = _coerce(v, tp, key, from_text=False)
    return cls(**kwargs)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(v: Any, tp: Any, key: str, *, from_text: bool) -> Any:
    """Convert ``v`` to the field type ``tp``; text (from --set) is parsed, other values checked."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        elem = args[0]
        if from_text:
            text = str(v).strip()
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except ValueError:
                    raise ConfigError(f"{key}: cannot parse list {text!r}") from None
            else:
                v = [x for x in (s.strip() for s in text.split(",")) if x]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {v!r}")
        return tuple(_coerce(x, elem, f"{key}[{i}]", from_text=isinstance(x, str)) for i, x in enumerate(v))
    if tp is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        raise ConfigError(f"{key}: expected true or false, got {v!r}")
    if tp is int:
        if isinstance(v, bool):
            raise ConfigError(f"{key}: expected an integer, got {v!r}")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str):
            try:
                f = float(v.strip())
            except ValueError:
                raise ConfigError(f"{key}: expected an integer, got {v!r}") from None
            if f.is_integer():
                return int(f)
        raise ConfigError(f"{key}: expected an integer, got {v!r}")
    if tp is float:
        if isinstance(v, bool):
            raise ConfigError(f"{key}: expected a number, got {v!r}")
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {v!r}")
    if tp is str:
        if isinstance(v, str):
            return v.strip().lower() if from_text else v
        raise ConfigError(f"{key}: expected text, got {v!r}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - schema bug


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def to_toml(d: Mapping[str, Any]) -> str:
    """A nested dict of scalars, lists and one level of tables as TOML (all our schema needs)."""

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        if isinstance(v, int):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(str(v))  # a TOML basic string: JSON's escapes are valid TOML escapes

    top = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, Mapping)]
    out = top + [""] if top else []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.append(f"[{k}]")
            out += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
            out.append("")
    return "\n".join(out)


# -- validation helpers ----------------------------------------------------------------------------


def _choice(key: str, v: str, allowed: tuple[str, ...]) -> None:
    if v not in allowed:
        raise ConfigError(f"{key}: unknown value {v!r} (expected one of {', '.join(allowed)})")


def _at_least(key: str, v: int, lo: int) -> None:
    if v < lo:
        raise ConfigError(f"{key}: must be >= {lo}, got {v}")


def _positive(key: str, v: float) -> None:
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"{key}: must be a positive number, got {v}")


def _nonneg(key: str, v: float) -> None:
    if not (math.isfinite(v) and v >= 0):
        raise ConfigError(f"{key}: must be >= 0, got {v}")


def _fraction(key: str, v: float, lo_open: bool = False, hi_open: bool = False) -> None:
    ok = math.isfinite(v) and (v > 0 if lo_open else v >= 0) and (v < 1 if hi_open else v <= 1)
    if not ok:
        lo, hi = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ConfigError(f"{key}: must be in {lo}0, 1{hi}, got {v}")


DEFAULT = TrainConfig()
