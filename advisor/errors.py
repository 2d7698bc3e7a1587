"""Errors a user can cause, each with its exit code. The CLI prints one line, never a traceback."""

from __future__ import annotations


class AdvisorError(Exception):
    """A problem to report to the user in one line."""

    exit_code = 2


class UsageError(AdvisorError):
    """Bad arguments, a bad config file, an unknown condition id or tag: exit code 2."""


class InputError(AdvisorError):
    """Nothing readable to analyse (missing path, no event files, only damaged files): exit code 2."""
