"""PyTorch reference trainer: ``train(config, logdir, seed=None, *, control=None, callback=None, progress=False)``.

Run it as ``python -m backends.torch_trainer [--config FILE] [--set KEY=VALUE ...] --logdir DIR``.
The framework is imported on the first ``train`` call, not with this package.
"""

from backends.config import TrainConfig
from backends.control import Control
from backends.loop import TrainResult, trainer

BACKEND = "torch"
train = trainer(BACKEND, "backends.torch_trainer.engine:TorchEngine")

__all__ = ["train", "TrainResult", "TrainConfig", "Control", "BACKEND"]
