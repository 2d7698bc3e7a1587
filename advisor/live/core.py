"""The framework-free live monitor: record scalars cheaply, diagnose at a cadence, report once.

::

    from advisor.live import Monitor

    with Monitor(every=50, stop_on="critical") as mon:
        for step in range(n_steps):
            loss = train_step()
            mon.log(step, loss=loss, lr=lr)           # numbers, numpy, torch or jax scalars
            if step % 500 == 0:
                mon.log(step, val_loss=evaluate())
            if mon.should_stop:
                break
    print(mon.report().to_dict())                     # one SPEC §4 run entry

How it stays cheap. ``log`` only appends the value as given (a torch tensor is detached, not
read; a jax array is kept as it is) to a pending list. Every ``every`` steps (and/or ``seconds``
seconds) the pending values are moved to the host in one go — one ``torch.cat(...).cpu()`` per
device and dtype, one ``jax.device_get`` for all jax arrays — and appended to a bounded
:class:`~advisor.live.reservoir.Reservoir` per stream. Then the run is diagnosed by the same
engine as ``advisor analyze`` (``Engine.diagnose`` on an :class:`advisor.model.Run` built from
the reservoirs). A diagnosis costs milliseconds, so it is skipped at a cadence point when it
would take more than ``budget`` (0.5%) of the wall time since the last one — unless a tripwire
on the new values calls for it: a NaN/Inf, a train loss giving back a quarter of its gain, a
gradient norm 10x its start or a 20x spike (:class:`_Tripwire`). Critical faults are therefore
diagnosed at the first cadence point where they show, whatever the budget.

Names. Keyword names are mapped onto the tags advisor's role resolution knows (SPEC §6), so
``advisor analyze`` on a ``tee`` directory resolves them the same way:

=================================================  =====================
``log(step, NAME=...)``                            stored as
=================================================  =====================
``loss``, ``train_loss``, ``training_loss``         ``train/loss``
``val_loss``, ``valid_loss``, ``eval_loss``         ``val/loss``
``test_loss``                                      ``test/loss``
``acc``, ``accuracy``, ``train_acc(uracy)``         ``train/accuracy``
``val_acc(uracy)``, ``valid_acc``, ``eval_acc``     ``val/accuracy``
``lr``, ``learning_rate``                          ``train/lr``
``grad_norm``, ``gradient_norm``                   ``train/grad_norm``
``update_ratio``                                   ``train/update_ratio``
anything else (and any name passed in a mapping)   as given
=================================================  =====================

Names in a mapping (``mon.log(step, {"train/grad_norm/fc1": g})``) are kept as given; any tag
the role resolution understands works (``Loss/val``, ``val_f1``, ...), and a ``[signals]``
mapping in the config overrides it.

Live judgment. The rules were written for finished runs, so two things differ live:

* a condition below critical is a judgment on the shape of an unfinished run (at step 100 a
  healthy exponential decay looks like slow convergence); it is reported once the run is
  ``warmup`` steps long (default ``10 * every``) and the finding has held in every diagnosis
  for ``confirm`` steps (default ``4 * every``). Critical findings (NaN/Inf, divergence,
  exploding gradients) are reported at once. ``still-improving`` ("training stopped too
  early") is reported by ``close()`` only;
* the divergence rule wants the rise to persist over a fraction of the whole run, so on a long
  run it would fire late; the monitor also runs it on the last ``recent`` steps (default
  ``2 * every``) and keeps that finding when the rise gives back ``min_rise`` of the whole
  run's gain too. A divergence is then caught within about one cadence window at any step.

Findings. Each new condition is reported once to the ``on_finding`` callbacks; it is reported
again only when its severity rises. Built-in callbacks by name: ``"print"`` (one line on
stderr), ``"warn"`` (``warnings.warn``), ``"log"`` (``logging`` at the finding's level),
``"raise"`` (raise :class:`FindingAlarm` from ``log`` for findings at or above ``stop_on``,
critical when unset) and ``"stop"`` (set :attr:`Monitor.should_stop` likewise). Any callable
taking the :class:`~advisor.model.Finding` works too. ``mon.alerts`` lists every delivery with
its step.

Failure. The monitor never raises into the training loop because of its own failure: an error
in converting, diagnosing, teeing or in a user callback is logged once (logger
``advisor.live``) and the monitor goes on. The only exception that leaves ``log`` is the
:class:`FindingAlarm` the ``"raise"`` callback asks for.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.io.roles import Signals, resolve
from advisor.pipeline import build_report, diagnose_run
from advisor.live.reservoir import Reservoir
from advisor.model import Finding, Role, Run, RunReport, Series, Severity
from advisor.rules.base import Context
from advisor.tracking import Alert, FindingTracker, describe

log = logging.getLogger("advisor.live")

ALIASES: dict[str, str] = {}
for _tag, _names in {
    "train/loss": ("loss", "train_loss", "training_loss", "loss_train"),
    "val/loss": ("val_loss", "valid_loss", "validation_loss", "eval_loss", "loss_val"),
    "test/loss": ("test_loss",),
    "train/accuracy": ("acc", "accuracy", "train_acc", "train_accuracy"),
    "val/accuracy": ("val_acc", "val_accuracy", "valid_acc", "validation_accuracy", "eval_acc", "eval_accuracy"),
    "train/lr": ("lr", "learning_rate"),
    "train/grad_norm": ("grad_norm", "gradient_norm", "grad_norm_total"),
    "train/update_ratio": ("update_ratio",),
}.items():
    for _n in _names:
        ALIASES[_n] = _tag

#: Conditions that describe a finished run: reported by ``close()`` only.
END_OF_RUN = ("still-improving",)
#: Conditions also checked on the recent steps alone, so that they are caught within about one
#: cadence window however long the run already is.
RECENT_RULES = ("divergence",)


def tag_for(name: str) -> str:
    """The stored tag for a ``log`` keyword name (see the module docstring)."""
    return ALIASES.get(name, name)


class FindingAlarm(Exception):
    """Raised from ``Monitor.log`` by the ``"raise"`` callback; carries the finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.severity.value} {finding.condition}: {finding.summary}")
        self.finding = finding


# -- converting logged values ---------------------------------------------------------------------

_HOST, _TORCH, _JAX, _OTHER = 0, 1, 2, 3
_KINDS: dict[type, int] = {float: _HOST, int: _HOST, bool: _HOST}


def _kind(t: type) -> int:
    k = _KINDS.get(t)
    if k is None:
        mod = t.__module__ or ""
        if mod.startswith("torch"):
            k = _TORCH
        elif mod.startswith(("jax", "jaxlib")):
            k = _JAX
        elif mod.startswith("numpy"):
            k = _HOST
        else:
            k = _OTHER
        _KINDS[t] = k
    return k


def to_host(values: Sequence[Any]) -> list[np.ndarray | None]:
    """Move many logged values to the host at once; each comes back as a float64 1-d array.

    A value that is not a number (a string, an object without ``__float__``) comes back None.

    Torch tensors are concatenated per device and dtype and copied with one ``.cpu()`` each;
    jax arrays go through one ``jax.device_get``. This is the only place the monitor reads
    device memory (the tests count its calls to prove there is no per-step sync).
    """
    out: list[np.ndarray | None] = [None] * len(values)
    groups: dict[tuple[int, Any], list[int]] = {}
    for i, v in enumerate(values):
        k = _kind(type(v))
        if k == _TORCH:
            groups.setdefault((k, (v.device, v.dtype)), []).append(i)
        elif k == _JAX:
            groups.setdefault((k, None), []).append(i)
        else:
            try:
                out[i] = np.asarray(v if isinstance(v, np.ndarray) else [float(v)], dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                out[i] = None
    for (k, _), idx in groups.items():
        if k == _TORCH:
            flat = _torch_to_host([values[i] for i in idx])
        else:
            flat = _jax_to_host([values[i] for i in idx])
        for i, a in zip(idx, flat):
            out[i] = a
    return out


def _torch_to_host(ts: list[Any]) -> list[np.ndarray]:
    torch = sys.modules["torch"]
    sizes = [t.numel() for t in ts]
    flat = torch.cat([t.reshape(-1) for t in ts]).cpu()
    if flat.dtype in (torch.bfloat16, torch.float16) or not (flat.is_floating_point() or flat.dtype in (torch.int64, torch.int32, torch.bool)):
        flat = flat.float()
    arr = flat.numpy().astype(np.float64)
    return np.split(arr, np.cumsum(sizes)[:-1])


def _jax_to_host(xs: list[Any]) -> list[np.ndarray]:
    jax = sys.modules["jax"]
    return [np.asarray(a, dtype=np.float64).reshape(-1) for a in jax.device_get(xs)]


# -- callbacks -----------------------------------------------------------------------------------

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


BUILTIN_CALLBACKS: dict[str, Callable[[Monitor, Finding], None]] = {
    "print": _print_cb,
    "warn": _warn_cb,
    "warnings": _warn_cb,
    "log": _log_cb,
    "logging": _log_cb,
    "raise": _raise_cb,
    "stop": _stop_cb,
}


def _callbacks(spec: Any) -> list[Callable[[Monitor, Finding], None]]:
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


# -- the monitor ---------------------------------------------------------------------------------

_Entry = tuple  # (tag or tuple of tags, step, wall time, value, flags)
#: Entry flags. DROP_NONFINITE: a NaN/Inf value is not a data point (an AMP step the scaler
#: skipped); L2_BY_TAG: a vector of per-parameter norms whose tags repeat, combined per tag as
#: sqrt(sum of squares) (per-layer gradient norms from per-tensor norms).
DROP_NONFINITE, L2_BY_TAG = 1, 2


class Monitor:
    """Records a training run's scalars and diagnoses it live; see the module docstring.

    Args:
        every: steps between cadence points (host transfer, then a diagnosis). None: only
            ``seconds`` drives the cadence.
        seconds: also a cadence point when this many seconds passed since the last one.
        config: an :class:`~advisor.config.AnalyzeConfig`, or the path of an ``advisor.toml`` /
            ``pyproject.toml``; rule parameters, select/ignore and a ``[signals]`` mapping
            apply as in ``advisor analyze``. None: the defaults.
        on_finding: callbacks for each new finding: names of built-ins or callables.
        stop_on: ``"critical"`` / ``"warning"`` / ``"info"``: a finding at or above it sets
            :attr:`should_stop`. None (default): never.
        tee: a directory: everything logged is also written there as a TensorBoard event file
            (advisor's own writer), at full resolution.
        name: the run's name in reports.
        hparams: the run's hyperparameters (lr, batch_size, num_classes, ...); rules use them as
            they use the hparams of an event file. Written to ``tee`` too.
        budget: most fraction of wall time spent diagnosing (0 or None: diagnose at every
            cadence point).
        window, bins, head: per-stream memory (see :class:`~advisor.live.reservoir.Reservoir`).
        max_pending: values held between cadence points before an early transfer.
        confirm, warmup: a finding below critical is reported once the run is ``warmup`` steps
            long (default ``10 * every``) and the finding has held in every diagnosis for
            ``confirm`` steps (default ``4 * every``); critical ones are reported at once. 0 and
            0: everything as soon as it is seen.
        recent: steps of the recent view the divergence rule also runs on (default
            ``2 * every``).
    """

    def __init__(
        self,
        *,
        every: int | None = 50,
        seconds: float | None = None,
        config: AnalyzeConfig | str | None = None,
        on_finding: Any = "print",
        stop_on: str | Severity | None = None,
        tee: str | None = None,
        name: str = "live",
        hparams: Mapping[str, Any] | None = None,
        budget: float | None = 0.005,
        window: int = 1024,
        bins: int = 512,
        head: int = 32,
        max_pending: int = 100_000,
        confirm: int | None = None,
        warmup: int | None = None,
        recent: int | None = None,
    ) -> None:
        if every is None and seconds is None:
            raise ValueError("set every (steps) and/or seconds for the diagnosis cadence")
        if every is not None and int(every) < 1:
            raise ValueError("every must be a positive number of steps")
        if isinstance(config, str):
            from advisor.config import load

            config = load(config)
        self.config = config or AnalyzeConfig()
        self.engine = Engine.from_config(self.config)
        self._mapping = dict(self.config.signals) or None
        self.every = int(every) if every is not None else None
        self.seconds = float(seconds) if seconds else None
        self.stop_on = Severity.parse(stop_on) if isinstance(stop_on, str) else stop_on
        self.alarm_severity = self.stop_on or Severity.CRITICAL
        self._callbacks = _callbacks(on_finding)
        self.name = name
        self.hparams = dict(hparams or {})
        self.budget = float(budget) if budget else 0.0
        self._res_args = (int(window), int(bins), int(head))
        self.max_pending = int(max_pending)

        self.should_stop = False
        self.enabled = True  # False: log() only keeps the cadence (a DDP rank that does not report)
        self.step: int | None = None  # the latest step recorded
        self.last_logged: int | None = None  # the latest step passed to log()
        self.alerts: list[Alert] = []  # every delivery, in order
        self.n_diagnoses = 0
        self.diagnose_seconds = 0.0  # total time spent diagnosing
        self.transfer_seconds = 0.0  # total time spent moving values to the host
        self._findings: tuple[Finding, ...] = ()
        self._report: RunReport | None = None
        self._series: dict[str, Reservoir] = {}
        self._pending: list[_Entry] = []
        self._due: int | None = None
        self._last_cadence = time.monotonic()
        self._last_diag_end = time.monotonic()
        self._diag_cost = 0.0  # running estimate of one diagnosis, seconds
        self._stale = False  # data arrived since the last diagnosis
        self._trips: dict[str, _Tripwire] = {}  # train loss and grad norm, once resolved
        unit = self.every or 50
        self._tracker = FindingTracker(
            confirm_steps=4 * unit if confirm is None else confirm,
            warmup=10 * unit if warmup is None else warmup,
            defer=END_OF_RUN,
        )
        self._optax_reader: Any = None
        self.recent = int(recent) if recent is not None else 2 * (self.every or 50)
        active = {spec.id: params for spec, params in self.engine.rules}
        self._divergence_params = active.get("divergence")
        fast = tuple(r for r in RECENT_RULES if r in active)
        self._recent_engine = Engine.from_config(AnalyzeConfig(rules=self.config.rules, select=fast)) if fast else None
        self._failed: set[str] = set()
        self._closed = False
        self._tee = None
        if tee is not None:
            from advisor.io.writer import EventWriter

            self._tee = EventWriter(tee)
            if self.hparams:
                self._tee.add_hparams(self.hparams)

    # -- recording -------------------------------------------------------------------------------

    def add_callback(self, on_finding: Any) -> None:
        """Also deliver new findings to ``on_finding`` (a built-in name or a callable)."""
        self._callbacks.extend(_callbacks(on_finding))

    def log(self, step: int, scalars: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        """Record scalars at ``step``: numbers, numpy, torch or jax scalars (read at the cadence).

        Keyword names are mapped (``loss`` -> ``train/loss``, ...); names in ``scalars`` are kept.
        """
        if self._closed:
            return
        try:
            step = int(step)
            self.last_logged = step
            if self.enabled:
                wall = time.time()
                pend = self._pending
                if scalars:
                    for tag, v in scalars.items():
                        pend.append((tag, step, wall, _keep(v), 0))
                for k, v in named.items():
                    pend.append((ALIASES.get(k, k), step, wall, _keep(v), 0))
        except Exception as e:
            self._fail("log", e)
            return
        self._tick(step)

    def _record(self, tags: str | tuple[str, ...], step: int, value: Any, flags: int = 0) -> None:
        """Queue a value, or a 1-d vector for a tuple of tags, from a framework hook."""
        self._pending.append((tags, step, time.time(), value, flags))

    def log_optax(self, opt_state: Any, step: int | None = None) -> None:
        """Record the norms an :func:`advisor.live.optax.monitored` state holds.

        Cheap to call every step: the state is read (one ``jax.device_get``) only when ``every``
        steps passed since the last read (or half the ring's length, if that is shorter).
        ``step``: the loop's step of the latest update in ``opt_state``; leave it out when the
        loop's steps count updates from 0 (the records are then stamped with the update count).
        """
        if self._closed or not self.enabled:
            return
        try:
            if self._optax_reader is None:
                from advisor.live.optax import StateReader

                self._optax_reader = StateReader()
            reader = self._optax_reader
            reader.calls += 1
            at = int(step) if step is not None else (self.last_logged if self.last_logged is not None else reader.calls - 1)
            if not reader.due(at, self.every or 50):
                return
            reader.read_into(self, opt_state, step)
            reader.last_read_step = at
        except Exception as e:
            self._fail("optax", e)
            return
        if step is not None or self.last_logged is None:
            self._tick(at)

    def _tick(self, step: int) -> None:
        """After recording at ``step``: run the cadence when it is due (never raises but alarms)."""
        try:
            self._tick_unsafe(step)
        except FindingAlarm:
            raise
        except Exception as e:
            self._fail("cadence", e)

    def _tick_unsafe(self, step: int) -> None:
        self.step = step if self.step is None else max(self.step, step)
        by_steps = False
        if self.every is not None:
            if self._due is None or step < self._due - 2 * self.every:  # first call, or steps restarted
                self._due = step + self.every
            elif step >= self._due:
                by_steps = True
        due = by_steps or (self.seconds is not None and time.monotonic() - self._last_cadence >= self.seconds)
        if due or len(self._pending) >= self.max_pending:
            self._cadence(step, by_steps=by_steps)

    def _cadence(self, step: int, force: bool = False, alarms: bool = True, final: bool = False, by_steps: bool = False) -> None:
        self._last_cadence = time.monotonic()
        if self.every is not None and (by_steps or self._due is None):
            self._due = step + self.every
        urgent = False
        try:
            urgent = self._drain()
        except Exception as e:
            self._fail("transfer", e)
        try:
            if (self._stale or final) and (force or urgent or self._within_budget()):
                self._deliver(self._diagnose(final), alarms)
        finally:
            if by_steps:
                try:
                    self._on_step_cadence()
                except Exception as e:
                    self._fail("cadence hook", e)

    def _on_step_cadence(self) -> None:
        """Hook for adapters at each ``every``-steps cadence point, which every process reaches at
        the same steps (the torch adapter agrees on ``should_stop`` across DDP ranks here)."""

    def _within_budget(self) -> bool:
        if not self.budget:
            return True
        return self._diag_cost <= self.budget * (time.monotonic() - self._last_diag_end)

    def _drain(self) -> bool:
        """Move pending values to the host, into the reservoirs (and the tee).

        Returns True when the new values call for a diagnosis now: a NaN/Inf, or a train loss
        above its initial level.
        """
        if not self._pending:
            return False
        t0 = time.perf_counter()
        pend, self._pending = self._pending, []
        host = to_host([e[3] for e in pend])
        cols: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for (tags, step, wall, value, flags), arr in zip(pend, host):
            if arr is None:
                self._fail(f"value:{tags}", TypeError(f"{tags}: {type(value).__name__} is not a number; skipped"))
                continue
            if isinstance(tags, str):
                if arr.size != 1:
                    self._fail(f"shape:{tags}", ValueError(f"{tags}: expected a scalar, got {arr.size} values; skipped"))
                    continue
                pairs: Iterable[tuple[str, float]] = ((tags, arr[0]),)
            elif flags & L2_BY_TAG:
                pairs = _l2_by_tag(tags, arr).items()
            else:
                pairs = zip(tags, arr)
            for tag, v in pairs:
                v = float(v)
                if flags & DROP_NONFINITE and not math.isfinite(v):
                    continue
                c = cols.get(tag)
                if c is None:
                    c = cols[tag] = ([], [], [])
                c[0].append(step)
                c[1].append(v)
                c[2].append(wall)
        urgent = False
        for tag, (s, v, w) in cols.items():
            res = self._series.get(tag)
            if res is None:
                res = self._series[tag] = Reservoir(*self._res_args)
            vals = np.asarray(v, dtype=np.float64)
            res.extend(np.asarray(s, dtype=np.int64), vals, np.asarray(w, dtype=np.float64))
            if not np.isfinite(vals).all():
                urgent = True
            elif tag in self._trips:
                urgent = self._trips[tag].trips(vals) or urgent
        self._stale = True
        self.transfer_seconds += time.perf_counter() - t0
        if self._tee is not None:
            try:
                for tag, (s, v, w) in cols.items():
                    for st, val, wt in zip(s, v, w):
                        self._tee.add_scalar(tag, val, st, wall_time=wt)
                self._tee.flush()
            except Exception as e:
                self._fail("tee", e)
        return urgent

    # -- diagnosing ------------------------------------------------------------------------------

    def run(self) -> Run:
        """The run as recorded so far (raw recent window, downsampled older history).

        Moves pending values to the host first (like a cadence point, without a diagnosis).
        """
        try:
            self._drain()
        except Exception as e:
            self._fail("transfer", e)
        return self._build_run()

    def _build_run(self) -> Run:
        series = {}
        for tag, res in self._series.items():
            s, v, w = res.points()
            series[tag] = Series.from_points(tag, s, v, w)
        return Run(name=self.name, path="", series=series, hparams=dict(self.hparams))

    def _arm(self, signals: Signals) -> None:
        """Tripwires on the resolved train loss and gradient norm (see :class:`_Tripwire`)."""
        min_rise = getattr(self._divergence_params, "min_rise", 0.25)
        for role, kind in ((Role.TRAIN_LOSS, "loss"), (Role.GRAD_NORM, "grad")):
            tag = signals.roles.get(role)
            if tag is not None and tag not in self._trips:
                res = self._series.get(tag)
                self._trips[tag] = _Tripwire(kind, min_rise, res.points()[1][:16] if res is not None else None)

    def _recent_findings(self, run: Run, signals: Signals, ctx: Context) -> list[Finding]:
        """Divergence on the last ``recent`` steps, kept when it is one for the whole run too.

        The divergence rule asks the rise to persist over a fraction of the run and measures the
        end level over its last tenth, so on a long run it fires late. On the recent steps alone
        it fires within about a cadence window; the finding is kept only when the recent rise
        also gives back ``min_rise`` of the whole run's gain (or ends above its initial level),
        so a bump in a flat tail is not called a divergence.
        """
        if self._recent_engine is None or self.step is None or not self.recent:
            return []
        lo = self.step - self.recent
        series = {}
        for tag, s in run.series.items():
            keep = s.steps > lo
            if keep.any():
                series[tag] = Series.from_points(tag, s.steps[keep], s.values[keep], s.wall_times[keep])
        tail = Run(name=run.name, path="", series=series, hparams=run.hparams)
        t = signals.roles.get(Role.TRAIN_LOSS)
        if t is None or t not in series or len(series[t]) < 0.8 * self.recent / max(self._spacing(run.series[t]), 1):
            return []  # the recent view needs a train loss that covers it (not the run's first steps)
        mapping = {r.value: k for r, k in signals.roles.items() if k in series}
        found = diagnose_run(tail, self._recent_engine, mapping).report.findings
        tagged = [dataclasses.replace(f, evidence={**f.evidence, "view": f"last {self.recent} steps"}) for f in found if self._rise_counts(f, ctx)]
        return tagged

    def _rise_counts(self, f: Finding, ctx: Context) -> bool:
        c = ctx.train
        final = f.evidence.get("final_loss")
        if c is None or c.n == 0 or not isinstance(final, (int, float)):
            return False
        start, low = c.start(), float(np.min(c.bvals))
        min_rise = getattr(self._divergence_params, "min_rise", 0.25)
        return bool(final > start or final - low >= min_rise * max(start - low, 0.0) > 0)

    @staticmethod
    def _spacing(s: Series) -> float:
        return float(np.median(np.diff(s.steps[-64:]))) if len(s) > 1 else 1.0

    def _diagnose(self, final: bool = False) -> list[Finding]:
        t0 = time.perf_counter()
        try:
            run = self._build_run()
            a = diagnose_run(run, self.engine, self._mapping, name=self.name, views=(self._recent_findings,))
            self._arm(a.signals)
            findings, problems = a.report.findings, a.report.problems  # a live run has no reader problems
            self._findings = findings
            self._report = a.report
            for p in problems:
                self._fail(f"rule:{p.split(':')[0]}", RuntimeError(p))
            return self._tracker.update(findings, self.step or 0, final)
        except Exception as e:
            self._fail("diagnose", e)
            return []
        finally:
            dt = time.perf_counter() - t0
            self._stale = False
            self.n_diagnoses += 1
            self.diagnose_seconds += dt
            self._diag_cost = dt if self.n_diagnoses == 1 else 0.7 * self._diag_cost + 0.3 * dt
            self._last_diag_end = time.monotonic()

    def _deliver(self, new: list[Finding], alarms: bool = True) -> None:
        alarm: FindingAlarm | None = None
        for f in new:
            self.alerts.append(Alert(self.step if self.step is not None else 0, time.time(), f))
            if self.stop_on is not None and f.severity.rank >= self.stop_on.rank:
                self.should_stop = True
            for cb in self._callbacks:
                try:
                    cb(self, f)
                except FindingAlarm as a:
                    alarm = alarm or a
                except Exception as e:
                    self._fail(f"callback:{getattr(cb, '__name__', cb)}", e)
        if alarm is not None:
            if alarms:
                raise alarm
            log.warning("advisor: %s", alarm)

    # -- results ---------------------------------------------------------------------------------

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The findings of the latest diagnosis, ranked (priority 1 first)."""
        return self._findings

    def diagnose(self) -> tuple[Finding, ...]:
        """Transfer what is pending and diagnose now, whatever the cadence; return the findings."""
        if not self._closed:
            self._cadence(self.step if self.step is not None else 0, force=True, alarms=False)
        return self._findings

    def report(self) -> RunReport:
        """SPEC §4's run entry for everything logged so far (``.to_dict()`` for JSON)."""
        self.diagnose()
        if self._report is None:
            run = self.run()
            return build_report(self.name, run, resolve(run, self._mapping), self._findings)
        return self._report

    def close(self) -> None:
        """Final transfer and diagnosis (new findings are delivered, never raised); close the tee."""
        if self._closed:
            return
        try:
            self._cadence(self.step if self.step is not None else 0, force=True, alarms=False, final=True)
        finally:
            self._closed = True
            if self._tee is not None:
                try:
                    self._tee.close()
                except Exception as e:
                    self._fail("tee", e)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- failure ---------------------------------------------------------------------------------

    def _fail(self, where: str, e: BaseException) -> None:
        """Log a failure of the monitor once per kind, and go on."""
        if where in self._failed:
            return
        self._failed.add(where)
        log.warning("advisor live monitor: %s failed (%s: %s); continuing without it", where, type(e).__name__, e, exc_info=log.isEnabledFor(logging.DEBUG))


class _Tripwire:
    """A cheap check of each new chunk of the train loss or gradient norm that calls for a
    diagnosis now, whatever the time budget (the engine still decides what it is).

    Loss: the end of the chunk gave back ``min_rise`` of the gain so far (initial level minus the
    lowest chunk median) or is above the initial level — the divergence rule's own threshold.
    Gradient norm: the chunk's median is 10x its initial level, or its maximum is 20x the
    previous chunk's median (the exploding-gradients rule's growth and spike scales).
    """

    def __init__(self, kind: str, min_rise: float, head: np.ndarray | None) -> None:
        self.kind, self.min_rise = kind, min_rise
        self.initial: float | None = None
        self.low = math.inf
        self.last: float | None = None
        if head is not None:
            self._start(head)

    def _start(self, vals: np.ndarray) -> None:
        fin = vals[np.isfinite(vals)]
        if fin.size >= 5:
            self.initial = float(np.median(fin[:16]))

    def trips(self, vals: np.ndarray) -> bool:
        if self.initial is None:
            self._start(vals)
            return False
        med = float(np.median(vals))
        if self.kind == "loss":
            # the chunk's end (its last fifth, as the recent view's end level) against the
            # lowest chunk median so far
            end = float(np.median(vals[-max(5, len(vals) // 5) :]))
            gain = self.initial - self.low
            hit = end > self.initial or (gain > 0 and end - self.low >= self.min_rise * gain)
            self.low = min(self.low, med)
        else:
            hit = med >= 10 * self.initial or (self.last is not None and float(np.max(vals)) >= 20 * self.last)
            self.last = med
        return bool(hit)


def _l2_by_tag(tags: Sequence[str], arr: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for t, x in zip(tags, arr.tolist()):
        out[t] = out.get(t, 0.0) + x * x
    return {t: math.sqrt(v) for t, v in out.items()}


def _keep(v: Any) -> Any:
    """What to hold until the cadence: the value itself, detached from autograd when a tensor."""
    t = type(v)
    if t is float or t is int:
        return v
    if _kind(t) == _TORCH:
        return v.detach()
    return v
