"""JAX/Flax reference trainer: ``train(config, logdir, seed=None, *, control=None, callback=None, progress=False)``.

Run it as ``python -m backends.flax_trainer [--config FILE] [--set KEY=VALUE ...] --logdir DIR``.
The framework is imported on the first ``train`` call, not with this package.
"""

from backends.config import TrainConfig
from backends.control import Control
from backends.loop import TrainResult, trainer

BACKEND = "jax"
train = trainer(BACKEND, "backends.flax_trainer.engine:FlaxEngine")

__all__ = ["train", "TrainResult", "TrainConfig", "Control", "BACKEND"]
