"""What a trainer provides to ``advisor tune``, and how one is found by name.

A trainer is a module (or an object in one) with three functions on JSON-able dicts::

    train(config: dict, logdir: str, seed: int, **options) -> result  # a dict, or an object with to_dict()
    apply(config: dict, remedy: dict) -> config                       # one SPEC §3 remedy as a pure patch
    load_config(path: str) -> config                                  # a config file as a dict

``options`` are keywords a trainer may support (``auto_remedy=True`` for ``tune --live``). A
config may come back as a mapping, an object with ``to_dict()`` or a dataclass; tune keeps dicts.

Early stop (optional): when ``train`` names a ``callback`` parameter (``**kwargs`` does not count), tune passes
``callback(step, scalars) -> reason | None`` (:class:`advisor.tune.watch.Watch`); call it at your
logging points with that step's values (``{"train/loss": ..., "val/loss": ...}`` or plain names
such as ``loss``, ``val_loss``) and, when it returns a non-empty string, stop and return the result
so far. A trainer without the keyword is called as ``train(config, logdir, seed)`` and trains on.

The core never imports a trainer: :data:`BACKENDS` is the one place that maps the user-facing
names ``torch`` and ``jax`` to the reference trainers' module paths, strings handed to importlib
when a trainer is used. Any other name is a module path, ``package.module`` or
``package.module:object`` (an object providing the three functions: a user's own trainer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from advisor.errors import UsageError

#: The registry of reference trainers by the name ``--backend`` takes (see the module docstring).
BACKENDS: Mapping[str, str] = {"torch": "backends.torch_trainer", "jax": "backends.flax_trainer"}
_EXTRAS = {"torch": "torch", "jax": "jax"}  # backend name -> the pip extra that installs its framework


class TrainerModule(Protocol):
    """The three functions a trainer provides (a module or any object with them)."""

    def train(self, config: dict[str, Any], logdir: str, seed: int, **options: Any) -> Any: ...

    def apply(self, config: dict[str, Any], remedy: dict[str, Any]) -> Any: ...

    def load_config(self, path: str) -> Any: ...


@dataclass(frozen=True)
class Trainer:
    """A trainer as tune sees it: a name, and where its :class:`TrainerModule` is imported from."""

    name: str
    module_name: str  # "package.module" or "package.module:object"

    def provider(self) -> TrainerModule:
        """Import the trainer (a missing one is a usage error naming the extra to install)."""
        module, _, attr = self.module_name.partition(":")
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            extra = _EXTRAS.get(self.name)
            hint = f"; install it with: pip install 'training-advisor[{extra}]'" if extra else "; a trainer of your own is package.module[:object] on the Python path"
            raise UsageError(f"cannot load the {self.name} trainer ({e}){hint}") from None
        if not attr:
            return mod  # type: ignore[return-value]
        try:
            return operator.attrgetter(attr)(mod)
        except AttributeError:
            raise UsageError(f"cannot load the {self.name} trainer: {module} has no {attr}") from None

    def _function(self, fn: str) -> Callable[..., Any]:
        impl = getattr(self.provider(), fn, None)
        if not callable(impl):
            raise UsageError(f"trainer {self.name} provides no {fn}()")
        return impl

    def load_config(self, path: str) -> dict[str, Any]:
        try:
            return config_to_dict(self._function("load_config")(path))
        except (OSError, ValueError) as e:  # a trainer's config error is a ValueError
            raise UsageError(f"{path}: {e}") from None

    def apply(self, config: Mapping[str, Any], remedy: Mapping[str, Any]) -> dict[str, Any]:
        return config_to_dict(self._function("apply")(dict(config), dict(remedy)))

    def train(self, config: Mapping[str, Any], logdir: str, seed: int, watch: Callable[..., Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Train once; ``kw`` (e.g. ``auto_remedy=True``) goes to trainers that support it;
        ``watch`` goes as ``callback=`` to a trainer whose ``train`` takes one (else it is unused)."""
        fn = self._function("train")
        if watch is not None and takes_keyword(fn, "callback"):
            kw = {**kw, "callback": watch}
        try:
            result = fn(dict(config), logdir, seed, **kw)
        except TypeError as e:
            if kw and "unexpected keyword" in str(e):
                raise UsageError(f"trainer {self.name} does not support live control ({', '.join(kw)})") from None
            raise
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Does ``fn`` name a parameter ``name`` that takes a keyword (``**kwargs`` does not count)?"""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def load_trainer(name: str) -> Trainer:
    """'torch', 'jax', or a module path providing the protocol (``package.module[:object]``)."""
    return Trainer(name, BACKENDS.get(name, name))


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A trainer's config as a plain, JSON-able dict (tune hashes, journals and diffs these)."""
    if isinstance(cfg, Mapping):
        return json.loads(json.dumps(cfg))
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    raise TypeError(f"config of type {type(cfg).__name__} is not a mapping")


def config_hash(config: Mapping[str, Any]) -> str:
    """What the journal keys a config's runs by."""
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Flattened {key: (old, new)} for every leaf that differs."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        key = f"{prefix}{k}"
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out.update(config_diff(va, vb, key + "."))
        elif va != vb:
            out[key] = (va, vb)
    return out
