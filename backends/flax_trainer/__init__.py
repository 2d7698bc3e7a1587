"""JAX/Flax reference trainer: ``train(config, logdir, seed=None, *, control=None, callback=None, progress=False)``.

Run it as ``python -m backends.flax_trainer [--config FILE] [--set KEY=VALUE ...] --logdir DIR``.
The framework is imported on the first ``train`` call, not with this package. ``train``, ``apply``
and ``load_config`` are the protocol ``advisor tune`` loads this package by (see :mod:`backends.protocol`).
"""

from backends.config import TrainConfig
from backends.control import Control
from backends.loop import TrainResult, trainer
from backends.protocol import apply, load_config

BACKEND = "jax"
train = trainer(BACKEND, "backends.flax_trainer.engine:FlaxEngine")

__all__ = ["BACKEND", "Control", "TrainConfig", "TrainResult", "apply", "load_config", "train"]
