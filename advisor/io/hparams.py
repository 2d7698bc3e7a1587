"""Hyperparameters, from the bytes in an event file to the values the rules ask for.

* The hparams plugin stores a run's hyperparameters as an ``HParamsPluginData`` whose
  ``session_start_info`` holds a ``map<string, google.protobuf.Value>``;
  :func:`decode_session_start` decodes it (our own wire decoding, no protobuf import). It sits
  below the accumulator, which keeps a file's first session start info and decodes it when the
  file's results are asked for.
* :func:`merged_params` merges a run's hparams, its config.json and a Hugging Face args text
  into one flat mapping; :func:`param` and the helpers below look values up in it by canonical
  name, whatever name the writer used (:data:`PARAM_ALIASES`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from advisor.io import wire
from advisor.io.wire import I64, LEN, VARINT

# --------------------------------------------------------------------------- the plugin's bytes


def _decode_pb_value(buf: memoryview, start: int, end: int) -> Any:
    """google.protobuf.Value -> Python (number, string, bool, None, list, dict)."""
    result: Any = None
    for f, wt, v in wire.iter_fields(buf, start, end):
        if f == 1:
            result = None
        elif f == 2 and wt == I64:
            result = wire.unpack_double(buf, v[0])  # type: ignore[index]
        elif f == 3 and wt == LEN:
            result = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")  # type: ignore[index]
        elif f == 4 and wt == VARINT:
            result = bool(v)
        elif f == 5 and wt == LEN:  # Struct: map<string, Value> fields = 1
            result = _decode_pb_map(buf, v[0], v[1], 1)  # type: ignore[index]
        elif f == 6 and wt == LEN:  # ListValue: repeated Value values = 1
            result = [_decode_pb_value(buf, a, b) for f2, wt2, (a, b) in _len_fields(buf, v[0], v[1]) if f2 == 1]  # type: ignore[index]
    return result


def _len_fields(buf: memoryview, start: int, end: int):
    for f, wt, v in wire.iter_fields(buf, start, end):
        if wt == LEN:
            yield f, wt, v


def _decode_pb_map(buf: memoryview, start: int, end: int, field_no: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f, _, (a, b) in _len_fields(buf, start, end):
        if f != field_no:
            continue
        k: str | None = None
        val: Any = None
        for f2, wt2, v2 in wire.iter_fields(buf, a, b):
            if f2 == 1 and wt2 == LEN:
                k = bytes(buf[v2[0] : v2[1]]).decode("utf-8", "replace")  # type: ignore[index]
            elif f2 == 2 and wt2 == LEN:
                val = _decode_pb_value(buf, v2[0], v2[1])  # type: ignore[index]
        if k is not None:
            out[k] = val
    return out


def decode_session_start(content: bytes) -> dict[str, Any] | None:
    """HParamsPluginData -> the session start info's hparams map (None for other kinds)."""
    mv = memoryview(content)
    for f, wt, v in wire.iter_fields(mv, 0, len(mv)):
        if f == 3 and wt == LEN:  # session_start_info
            return _decode_pb_map(mv, v[0], v[1], 1)  # type: ignore[index]
    return None


# --------------------------------------------------------------------------- a run's params

# Aliases for hyperparameters as different writers name them, matched on the key's last parts:
# nested configs flatten with dots (Hydra, config.json) or slashes (Lightning's
# log_hyperparams), so 'model/optimizer/lr' and 'optimizer._target_' match 'lr' and
# 'optimizer._target_' (:func:`param`).
PARAM_ALIASES: dict[str, tuple[str, ...]] = {
    "lr": ("lr", "learning_rate", "learningrate", "base_lr", "lr0", "init_lr", "initial_lr"),
    "batch_size": ("batch_size", "per_device_train_batch_size", "train_batch_size", "batchsize", "bs"),
    "clip": ("max_norm", "clip_grad_norm", "max_grad_norm", "gradient_clip_val", "grad_clip", "clip_norm", "clip"),
    "dropout": ("dropout", "dropout_rate", "drop_rate", "hidden_dropout_prob", "p_dropout"),
    "weight_decay": ("weight_decay", "wd", "l2", "decay"),
    "num_classes": ("num_classes", "n_classes", "nclasses", "classes", "num_labels", "n_labels"),
    "n_val_samples": ("n_val_samples", "val_size", "n_val"),
    "schedule": ("schedule.kind", "lr_scheduler_type", "scheduler", "schedule", "lr_schedule", "lr_scheduler"),
    "optimizer": ("optim.name", "optimizer.name", "optimizer._target_", "optim._target_", "optimizer.class_path",
                  "optimizer", "optim", "opt", "optimizer_name", "optimizer_type", "opt_name"),
    "shuffle": ("shuffle",),
    "loss": ("loss", "criterion", "loss_fn", "loss_function", "lossfn", "objective", "loss_type", "loss.name", "loss._target_"),
    "width": ("model.width", "width", "hidden_size", "hidden_dim", "d_model", "units", "n_hidden"),
}


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys ({"a": {"b": 1}} -> {"a.b": 1})."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def merged_params(hparams: Mapping[str, Any], config: Mapping[str, Any], texts: Mapping[str, str]) -> dict[str, Any]:
    """Hyperparameters from hparams, config.json and a Hugging Face args text, flattened.

    Later sources win: an args text (JSON under an ``args`` tag), then the hparams, then config.json.
    """
    out: dict[str, Any] = {}
    for key, text in texts.items():
        if key.split("/")[-2:-1] == ["args"] or key.startswith("args"):
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, Mapping):
                out.update(flatten(data))
    out.update(hparams)
    out.update(flatten(config))
    return out


def param(params: Mapping[str, Any], name: str) -> Any:
    """A hyperparameter by canonical name (see PARAM_ALIASES), or None."""
    aliases = PARAM_ALIASES.get(name, (name,))
    for a in aliases:  # exact key first
        if a in params and params[a] is not None:
            return params[a]
    low = {_norm(k): v for k, v in params.items()}
    for a in aliases:
        for k, v in low.items():
            if (k == a or k.endswith("." + a)) and v is not None and v != "":
                return v
    return None


def _norm(key: str) -> str:
    """A flattened key, lower case, its parts separated by dots whichever separator it used."""
    return key.lower().replace("/", ".")


def _last(key: str) -> str:
    return _norm(key).rsplit(".", 1)[-1]


def num_param(params: Mapping[str, Any], name: str) -> float | None:
    """:func:`param` as a finite number, or None (bools and text are not numbers here)."""
    v = param(params, name)
    if isinstance(v, bool):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def early_stopping(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Early stopping as configured (patience in evaluations, stop step), or None.

    Keys containing 'early_stop'/'early_stopping' (advisor's trainers, Hugging Face's
    ``early_stopping_patience``) or a top-level ``patience``.
    """
    found: dict[str, Any] = {}
    for k, v in params.items():
        low = _norm(k)
        if "early_stop" not in low and low != "patience":
            continue
        last = _last(k)
        if last in ("patience", "early_stopping_patience", "early_stop_patience") and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            found["patience"] = int(v)
        elif last in ("step", "stop_step") and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            found["step"] = int(v)
        elif last == "restore_best":
            found["restore_best"] = bool(v)
    return found if ("patience" in found or "step" in found) else None


# a declared loss that is binary cross-entropy, as PyTorch, Keras and TF name it
_BINARY_LOSS = re.compile(r"binary[_ ]?cross[_ ]?entropy|\bbce(with_?logits)?(loss)?\b|sigmoid_cross_entropy", re.IGNORECASE)


def num_classes(params: Mapping[str, Any]) -> int | None:
    """The class count, from any alias that holds a real one (configs use 0 for 'default'); else
    2 when the declared loss is binary cross-entropy (``criterion: binary_cross_entropy``, Keras'
    ``loss='binary_crossentropy'``, ``BCEWithLogitsLoss``): one sigmoid output, whose loss sits
    at ln 2 when it says nothing."""
    aliases = PARAM_ALIASES["num_classes"]
    for k, v in params.items():
        if _last(k) in aliases and isinstance(v, (int, float)) and not isinstance(v, bool):
            if v >= 2 and v == int(v):
                return int(v)
    loss = param(params, "loss")
    return 2 if isinstance(loss, str) and _BINARY_LOSS.search(loss) else None


def steps_per_epoch_from(params: Mapping[str, Any]) -> int | None:
    """Optimizer steps per epoch as the config states it (a ``steps_per_epoch`` of 2 or more)."""
    for key, v in params.items():
        if _last(key) == "steps_per_epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 2:
            return int(v)
    return None


# ------------------------------------------------------------ TF Object Detection API pipeline.config

_PB_TOKEN = re.compile(r'(\w+)\s*\{|\}|(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[^\s{}]+)')
_PB_SCHEDULES = {"cosine_decay_learning_rate": "cosine", "exponential_decay_learning_rate": "exponential",
                 "manual_step_learning_rate": "step", "constant_learning_rate": "constant"}


def pipeline_config(text: str) -> dict[str, Any]:
    """The schedule a TF Object Detection API ``pipeline.config`` (protobuf text) configures:
    ``schedule`` (cosine, exponential, step, constant), ``schedule_horizon`` (the decay's
    ``total_steps``, else the training's ``num_steps``) and ``warmup_steps`` — nothing else (its
    ``num_classes`` counts object classes, not the classes of a cross-entropy over the total loss)."""
    out: dict[str, Any] = {}
    depth: list[str] = []
    for m in _PB_TOKEN.finditer(text):
        if m.group(1):
            depth.append(m.group(1))
            if m.group(1) in _PB_SCHEDULES and "learning_rate" in depth[:-1]:
                out.setdefault("schedule", _PB_SCHEDULES[m.group(1)])
        elif m.group(0) == "}":
            if depth:
                depth.pop()
        else:
            key, raw = m.group(2), m.group(3)
            try:
                val = float(raw)
            except ValueError:
                continue
            if key == "total_steps" and any(d in _PB_SCHEDULES for d in depth):
                out["schedule_horizon"] = int(val)
            elif key == "num_steps" and depth[-1:] == ["train_config"]:
                out.setdefault("train_steps", int(val))
            elif key == "warmup_steps" and any(d in _PB_SCHEDULES for d in depth):
                out["warmup_steps"] = int(val)
    if "schedule_horizon" not in out and "train_steps" in out and "schedule" in out:
        out["schedule_horizon"] = out["train_steps"]
    return out

