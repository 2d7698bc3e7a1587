"""JAX/Flax reference trainer: ``train(config, logdir, seed=None, *, control=None, callback=None, progress=False)``.

Run it as ``python -m backends.flax_trainer [--config FILE] [--set KEY=VALUE ...] --logdir DIR``.
"""

from __future__ import annotations

from typing import Any, Mapping

from backends.config import TrainConfig
from backends.control import Control
from backends.loop import Callback, TrainResult, run

BACKEND = "jax"


def train(
    config: TrainConfig | Mapping[str, Any] | None,
    logdir: str,
    seed: int | None = None,
    *,
    control: Control | None = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train ``config`` (a TrainConfig or its dict) with JAX/Flax, logging SPEC §6 tags to ``logdir``."""
    from backends.flax_trainer.engine import FlaxEngine

    return run(BACKEND, FlaxEngine, config, logdir, seed, control=control, callback=callback, progress=progress)


__all__ = ["train", "TrainResult", "TrainConfig", "Control", "BACKEND"]
