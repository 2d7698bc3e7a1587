"""Shared helpers: the two trainers, one tiny config shape (so the JAX path compiles it once), event readers."""

from __future__ import annotations

import glob
import os

import numpy as np

from backends.config import TrainConfig

BACKENDS = {"torch": "backends.torch_trainer", "jax": "backends.flax_trainer"}

# 256 train rows / batch 32 = 8 steps per epoch; 3 epochs = 24 steps. Tests that vary only host-side
# knobs (lr, schedule, shuffle, clip thresholds, weight decay, early stopping) reuse one compilation.
TINY = TrainConfig().with_overrides([
    "data.n_train=256", "data.n_val=128", "data.n_test=128", "data.batch_size=32",
    "model.width=32", "train.epochs=3", "train.layer_every=4",
])


def scalars(logdir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tag -> (steps, values) of the run's single event file."""
    from advisor.io.tfevents import read_event_file

    files = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    ef = read_event_file(files[0])
    assert not ef.problems, ef.problems
    return {tag: (td.steps, td.values) for tag, td in ef.scalars.items()}


def read_run(logdir: str):
    from advisor.io.tfevents import read_event_file

    return read_event_file(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))[0])
