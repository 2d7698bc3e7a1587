"""Where a live monitor's new findings go: the built-in ``on_finding`` callbacks.

Each new condition is reported once to the ``on_finding`` callbacks; it is reported again only
when its severity rises. Built-in callbacks by name: ``"print"`` (one line on stderr), ``"warn"``
(``warnings.warn``), ``"log"`` (``logging`` at the finding's level), ``"raise"`` (raise
:class:`FindingAlarm` from ``log`` for findings at or above ``stop_on``, critical when unset) and
``"stop"`` (set :attr:`Monitor.should_stop <advisor.live.Monitor.should_stop>` likewise). Any
callable taking the :class:`~advisor.model.Finding` works too.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from advisor.model import Finding, Severity
from advisor.tracking import describe

if TYPE_CHECKING:
    from advisor.live.monitor import Monitor

log = logging.getLogger("advisor.live")

Callback = Callable[["Monitor", Finding], None]


class FindingAlarm(Exception):
    """Raised from ``Monitor.log`` by the ``"raise"`` callback; carries the finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.severity.value} {finding.condition}: {finding.summary}")
        self.finding = finding


def _print_cb(mon: Monitor, f: Finding) -> None:
    print(f"advisor [step {mon.step}] {describe(f)}", file=sys.stderr, flush=True)


def _warn_cb(mon: Monitor, f: Finding) -> None:
    warnings.warn(f"advisor [step {mon.step}] {describe(f)}", RuntimeWarning, stacklevel=4)


_LOG_LEVEL = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.CRITICAL}


def _log_cb(mon: Monitor, f: Finding) -> None:
    log.log(_LOG_LEVEL[f.severity], "[step %s] %s", mon.step, describe(f))


def _raise_cb(mon: Monitor, f: Finding) -> None:
    if f.severity.rank >= mon.alarm_severity.rank:
        raise FindingAlarm(f)


def _stop_cb(mon: Monitor, f: Finding) -> None:
    if f.severity.rank >= mon.alarm_severity.rank:
        mon.should_stop = True


BUILTIN_CALLBACKS: dict[str, Callback] = {
    "print": _print_cb,
    "warn": _warn_cb,
    "warnings": _warn_cb,
    "log": _log_cb,
    "logging": _log_cb,
    "raise": _raise_cb,
    "stop": _stop_cb,
}


def callbacks(spec: Any) -> list[Callback]:
    """The callbacks ``on_finding`` names: None, a built-in name, a callable, or a list of them."""
    if spec is None:
        return []
    if isinstance(spec, str) or callable(spec):
        spec = [spec]
    out = []
    for s in spec:
        if isinstance(s, str):
            if s not in BUILTIN_CALLBACKS:
                raise ValueError(f"unknown on_finding callback {s!r} (built-ins: {', '.join(sorted(set(BUILTIN_CALLBACKS)))})")
            out.append(BUILTIN_CALLBACKS[s])
        elif callable(s):
            out.append(lambda mon, f, fn=s: fn(f))
        else:
            raise TypeError(f"on_finding entries must be names or callables, not {type(s).__name__}")
    return out
