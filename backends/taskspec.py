"""What each task is, as numbers: its kind, default split sizes and shapes — no data.

It sits below both :mod:`backends.config` (which validates a config's split sizes against it) and
:mod:`backends.tasks` (which builds the arrays), so neither has to import the other to agree on
how large a task is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backends.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    name: str
    regression: bool
    sizes: tuple[int, int, int]  # default train, val, test
    available: int = 0  # real data: how many samples exist (0: synthetic, unlimited)
    noise: float = 0.0
    n_classes: int = 0
    n_features: int = 0
    seq_len: int = 0


SPECS = {
    "digits": TaskSpec("digits", False, (1200, 300, 297), available=1797, n_classes=10, n_features=64),
    "spirals": TaskSpec("spirals", False, (1000, 500, 500), noise=0.05, n_classes=2, n_features=2),
    "blobs": TaskSpec("blobs", False, (2000, 500, 500), noise=1.0, n_classes=4, n_features=10),
    "adding": TaskSpec("adding", True, (5000, 1000, 1000), seq_len=50, n_features=2),
    "regression": TaskSpec("regression", True, (2000, 500, 500), noise=0.1, n_features=8),
}


class SplitRequest(Protocol):
    """The part of a :class:`backends.config.DataConfig` that sizes the splits (typed without importing it)."""

    task: str
    n_train: int
    n_val: int
    n_test: int


def split_sizes(d: SplitRequest) -> tuple[int, int, int]:
    """(train, val, test) sizes the config asks for, checked against the data that exists."""
    spec = SPECS[d.task]
    sizes = tuple(v or dv for v, dv in zip((d.n_train, d.n_val, d.n_test), spec.sizes))
    if spec.available and sum(sizes) > spec.available:
        raise ConfigError(f"data: task {d.task!r} has {spec.available} samples; n_train+n_val+n_test = {sum(sizes)}")
    if sizes[0] < 2 or sizes[1] < 1 or sizes[2] < 1:
        raise ConfigError(f"data: need n_train >= 2 and n_val, n_test >= 1, got {sizes}")
    return sizes  # type: ignore[return-value]
