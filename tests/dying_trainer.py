"""tests.fake_trainer, except that the first attempt of each seed kills its own process
(``os._exit``, as the OOM killer or a lost node would), after writing part of its logs: the
executor must retry the training on a new worker and journal it once."""

from __future__ import annotations

import os
from typing import Any, Mapping

from advisor.io.writer import EventWriter
from tests.fake_trainer import apply, load_config  # noqa: F401  (the trainer protocol)
from tests.fake_trainer import train as _train


def train(config: Mapping[str, Any], logdir: str, seed: int) -> dict[str, Any]:
    marker = os.path.join(os.path.dirname(logdir), f"attempt-{os.path.basename(logdir)}")
    if not os.path.exists(marker):
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as fh:
            fh.write(str(os.getpid()))
        with EventWriter(logdir) as w:  # a partial log the retry must not be diagnosed with
            for i in range(50):
                w.add_scalar("train/loss", 1e6, i, wall_time=1.0 + i)
        os._exit(1)
    return _train(config, logdir, seed)
