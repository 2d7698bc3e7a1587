"""The TensorBoard plugin (``pip install "training-advisor[tensorboard]"``): an Advisor tab.

TensorBoard finds it through the ``tensorboard_plugins`` entry point; ``tensorboard --logdir
runs/`` then shows the findings of every run beside its curves. This package imports
TensorBoard, so nothing in advisor's core imports it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy, so `advisor.tb_plugin.source` and friends import without TensorBoard's server stack.
    if name == "AdvisorPlugin":
        from advisor.tb_plugin.plugin import AdvisorPlugin

        return AdvisorPlugin
    raise AttributeError(name)


__all__ = ["AdvisorPlugin"]
