"""The reference trainers' side of ``advisor tune``'s trainer protocol, on plain dicts.

``advisor.tune`` loads a trainer module by name and calls ``train(config, logdir, seed)``,
``apply(config, remedy)`` and ``load_config(path)`` with JSON-able dicts; it knows nothing of
:class:`~backends.config.TrainConfig`. Both backend packages export these two next to their own
``train`` (which takes a dict as well as a TrainConfig).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from advisor.model import Remedy
from backends.config import TrainConfig
from backends.config import apply as apply_remedy


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``.toml`` or ``.json`` trainer config as a validated, nested dict (ConfigError if invalid)."""
    return TrainConfig.load(path).to_dict()


def apply(config: TrainConfig | Mapping[str, Any], remedy: Remedy | Mapping[str, Any]) -> dict[str, Any]:
    """``config`` patched by one SPEC §3 ``auto`` remedy, as a dict (pure; ConfigError if invalid)."""
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    return apply_remedy(cfg, remedy).to_dict()
