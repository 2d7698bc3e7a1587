"""The one error type of the reference trainers' configuration (below config, tasks and control)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration or remedy a user wrote is invalid; the message is one line."""
