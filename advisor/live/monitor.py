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

A :class:`Monitor` is thin: it keeps the cadence and the time budget and ties together the parts
that live in their own modules —

* :mod:`advisor.live.recorder`: what ``log`` keeps (names mapped onto tags, values held on their
  device until the cadence, one host transfer per cadence point, a bounded reservoir per
  stream, the ``tee`` event file);
* :mod:`advisor.live.tripwire`: cheap checks of each transferred chunk that call for a
  diagnosis now (a NaN/Inf, a train loss giving back its gain, exploding gradient norms);
* :func:`advisor.pipeline.diagnose_run`: the same diagnosis as ``advisor analyze``, with the
  recent-window view of :mod:`advisor.live.recent` merged in;
* :class:`advisor.tracking.FindingTracker`: which findings are new;
* :mod:`advisor.live.callbacks`: where new findings go (``"print"``, ``"warn"``, ``"log"``,
  ``"raise"``, ``"stop"`` or any callable taking the finding).

Cadence. Every ``every`` steps (and/or ``seconds`` seconds) pending values are transferred and
the run is diagnosed. A diagnosis costs milliseconds, so it is skipped at a cadence point when it
would take more than ``budget`` (0.5%) of the wall time since the last one — unless a tripwire
calls for it. Critical faults are therefore diagnosed at the first cadence point where they
show, whatever the budget.

Live judgment (:mod:`advisor.live.judge`): the rules are the offline ones, severity grows with
evidence. Tripwire conditions (NaN/Inf, divergence, exploding gradients, lr-too-high) are
reported at once; overfitting once the offline analysis of the same prefix has said it through
two more evaluations (each new validation point above the best one asks for a diagnosis, over
the budget); conditions that need the run's future (no-learning, plateau, slow convergence,
underfitting) are capped at ``warning`` until the run is ``warmup`` steps long and, when
``total_steps`` is known (or an hparam such as ``max_steps``), ``evidence`` (25%) of it; below
critical, a finding is reported once the run is ``warmup`` steps long (default ``10 * every``)
and it has held for ``confirm`` steps (default ``4 * every``). ``still-improving`` is reported
by ``close()`` only. The divergence rule also runs on the last ``recent`` steps (default
``2 * every``), see :mod:`advisor.live.recent`.

Findings. Each new condition is reported once to the ``on_finding`` callbacks; it is reported
again only when its severity rises. ``mon.alerts`` lists every delivery with its step.

Failure. The monitor never raises into the training loop because of its own failure: an error
in converting, diagnosing, teeing or in a user callback is logged once (logger
``advisor.live``) and the monitor goes on. The only exception that leaves ``log`` is the
:class:`~advisor.live.callbacks.FindingAlarm` the ``"raise"`` callback asks for.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.io.roles import resolve
from advisor.live.act import PendingTarget, notes_with, own_lr_changes_removed
from advisor.live.act import attach as attach_actions
from advisor.live.cadence import Cadence, planned_steps
from advisor.live.callbacks import FindingAlarm, callbacks
from advisor.live.judge import Judge, Judgment
from advisor.live.recent import RecentWindow, min_rise
from advisor.live.recorder import Memory, Recorder, tag_for
from advisor.live.summary import attach
from advisor.live.tripwire import Tripwires
from advisor.model import Finding, Role, Run, RunReport, Severity
from advisor.pipeline import build_report, diagnose_run
from advisor.tracking import Alert

log = logging.getLogger("advisor.live")


def _load_config(config: AnalyzeConfig | str | None) -> AnalyzeConfig:
    if isinstance(config, str):
        from advisor.config import load

        return load(config)
    return config or AnalyzeConfig()


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
        memory_budget: bytes for all streams together (default 64 MiB; None: no bound): as
            streams multiply, per-layer gradient norms and then other streams are coarsened,
            the streams of the run's roles never (see :mod:`advisor.live.budget`).
        act: ``True`` or a set of ``"lr"``, ``"clip"``, ``"stop"``: apply the live-capable
            remedies to the run (see :mod:`advisor.live.act`), at most one per cadence window,
            ``act_cooldown`` windows apart, ``act_cap`` per run.
        confirm, warmup: a finding below critical is reported once the run is ``warmup`` steps
            long (default ``10 * every``) and the finding has held in every diagnosis for
            ``confirm`` steps (default ``4 * every``); critical ones are reported at once. 0 and
            0: everything as soon as it is seen.
        recent: steps of the recent view the divergence rule also runs on (default
            ``2 * every``).
        total_steps: the run's planned length (default: from ``hparams``' ``total_steps`` /
            ``max_steps`` / ...); conditions that need the run's future wait for ``evidence``
            (a fraction, default 0.25) of it before they may be critical.

    Adapters feed :attr:`recorder` (``mon.recorder.record(...)``), report their failures with
    ``mon.recorder.report_failure(...)``, drive the cadence with :meth:`tick` when nothing calls
    ``log``, and may override :meth:`on_step_cadence`.
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
        memory_budget: int | None = Memory.budget,
        confirm: int | None = None,
        warmup: int | None = None,
        recent: int | None = None,
        total_steps: int | None = None,
        evidence: float = 0.25,
        act: Any = None,
        act_cooldown: int = 2,
        act_cap: int = 3,
    ) -> None:
        self.cadence = Cadence.of(every, seconds, budget)
        self.config = _load_config(config)
        self.engine = Engine.from_config(self.config)
        self._mapping = dict(self.config.signals) or None
        self.stop_on = Severity.parse(stop_on) if isinstance(stop_on, str) else stop_on
        self.alarm_severity = self.stop_on or Severity.CRITICAL
        self._callbacks = callbacks(on_finding)
        self.name = name
        self.hparams = dict(hparams or {})
        self.judgment = Judgment.of(self.cadence.unit, confirm, warmup, recent)
        self._tracker = Judge(self.judgment.confirm, self.judgment.warmup, total_steps or planned_steps(self.hparams), evidence, 2 * self.cadence.unit)
        active = {spec.id: params for spec, params in self.engine.rules}
        self._recent = RecentWindow.for_config(self.config, active, self.judgment.recent)
        self._tripwires = Tripwires(min_rise(active))

        self.should_stop = False
        self.enabled = True  # False: log() only keeps the cadence (a DDP rank that does not report)
        self.step: int | None = None  # the latest step recorded
        self.last_logged: int | None = None  # the latest step passed to log()
        self.alerts: list[Alert] = []  # every delivery, in order
        self.n_diagnoses = 0
        self.diagnose_seconds = 0.0  # total time spent diagnosing
        self._findings: tuple[Finding, ...] = ()
        self._report: RunReport | None = None
        self._due: int | None = None  # the step of the next ``every`` cadence point
        self._quiet_lo = self._quiet_hi = 0  # steps in [lo, hi) need no cadence check in log
        self._val_tags: frozenset[str] = frozenset()  # the tripwires' (kept here for log's path)
        self._max_pending = int(max_pending)
        self._last_cadence = time.monotonic()
        self._last_diag_end = time.monotonic()
        self._diag_cost = 0.0  # running estimate of one diagnosis, seconds
        self._stale = False  # data arrived since the last diagnosis
        self._optax_reader: Any = None
        self._closed = False
        budget_bytes = int(memory_budget) if memory_budget is not None else None
        self.recorder = Recorder(Memory(int(window), int(bins), int(head), int(max_pending), budget_bytes), tee, self.hparams)
        self.summary = attach(self, self.recorder.tee_writer) if tee else None  # findings table into the tee
        self.actions = attach_actions(self, act, self._act_target(), act_cooldown, act_cap) if act else None

    # -- the options, as attributes ----------------------------------------------------------------

    @property
    def every(self) -> int | None:
        return self.cadence.every

    @property
    def seconds(self) -> float | None:
        return self.cadence.seconds

    @property
    def budget(self) -> float:
        return self.cadence.budget

    @property
    def recent(self) -> int:
        return self.judgment.recent

    @property
    def max_pending(self) -> int:
        return self.recorder.memory.max_pending

    @property
    def transfer_seconds(self) -> float:
        """Total time spent moving values to the host."""
        return self.recorder.transfer_seconds

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (``log`` is then a no-op)."""
        return self._closed

    # -- recording -------------------------------------------------------------------------------

    def add_callback(self, on_finding: Any) -> None:
        """Also deliver new findings to ``on_finding`` (a built-in name or a callable)."""
        self._callbacks.extend(callbacks(on_finding))

    def log(self, step: int, scalars: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        """Record scalars at ``step``: numbers, numpy, torch or jax scalars (read at the cadence).

        Keyword names are mapped (``loss`` -> ``train/loss``, ...); names in ``scalars`` are kept.
        """
        if self._closed:
            return
        try:
            if type(step) is not int:
                step = int(step)
            self.last_logged = step
            evaluation = False
            if self.enabled:
                self.recorder.log_named(step, scalars, named)
                if self.actions is not None:
                    self.actions.observe(step, scalars, named)
                if self._val_tags:
                    evaluation = self._evaluation(scalars, named)
        except Exception as e:
            self.recorder.report_failure("log", e)
            return
        if not evaluation and self._quiet_lo <= step < self._quiet_hi and len(self.recorder._pending) < self._max_pending:
            if step > self.step:  # between cadence points (most steps): nothing else to do
                self.step = step
            return
        self.tick(step, now=evaluation)  # a new validation point: the moment to judge

    def _evaluation(self, scalars: Mapping[str, Any] | None, named: Mapping[str, Any]) -> bool:
        """Whether this log call holds a point of an armed validation tag (called only when
        some are armed)."""
        val = self._val_tags
        return any(tag_for(k) in val for k in named) or any(k in val for k in scalars or ())

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
            if not reader.due(at, self.cadence.unit):
                return
            reader.read_into(self.recorder, opt_state, step)
            reader.last_read_step = at
        except Exception as e:
            self.recorder.report_failure("optax", e)
            return
        if step is not None or self.last_logged is None:
            self.tick(at)

    # -- cadence -----------------------------------------------------------------------------------

    def tick(self, step: int, now: bool = False) -> None:
        """After recording at ``step``: run the cadence when it is due (never raises but alarms).

        ``log`` calls it; an adapter whose hooks record through :attr:`recorder` while nobody
        calls ``log`` calls it itself. ``now``: a cadence point now (a transfer, and a diagnosis
        when a tripwire or the budget allows), as after a new validation point.
        """
        try:
            if now:
                self.step = step if self.step is None else max(self.step, step)
                self._cadence(step)
            else:
                self._tick_unsafe(step)
        except FindingAlarm:
            raise
        except Exception as e:
            self.recorder.report_failure("cadence", e)

    def _tick_unsafe(self, step: int) -> None:
        self.step = step if self.step is None else max(self.step, step)
        every, by_steps = self.cadence.every, False
        if every is not None:
            if self._due is None or step < self._due - 2 * every:  # first call, or steps restarted
                self._due = step + every
            elif step >= self._due:
                by_steps = True
        seconds = self.cadence.seconds
        due = by_steps or (seconds is not None and time.monotonic() - self._last_cadence >= seconds)
        if due or self.recorder.full:
            self._cadence(step, by_steps=by_steps)
        self._set_quiet()

    def _set_quiet(self) -> None:
        """The steps ``log`` may record without the cadence check (only with a step cadence)."""
        every = self.cadence.every
        if every is None or self.cadence.seconds is not None or self._due is None or self.step is None:
            self._quiet_lo = self._quiet_hi = 0
        else:
            self._quiet_lo, self._quiet_hi = self._due - 2 * every, self._due

    def _cadence(self, step: int, force: bool = False, alarms: bool = True, final: bool = False, by_steps: bool = False) -> None:
        self._last_cadence = time.monotonic()
        if self.cadence.every is not None and (by_steps or self._due is None):
            self._due = step + self.cadence.every
        urgent = False
        try:
            urgent = self._transfer() or self._tracker.recheck
        except Exception as e:
            self.recorder.report_failure("transfer", e)
        try:
            if (self._stale or final) and (force or urgent or self._within_budget()):
                self._deliver(self._diagnose(final), alarms)
        finally:
            if by_steps:
                try:
                    self.on_step_cadence()
                except Exception as e:
                    self.recorder.report_failure("cadence hook", e)

    def _act_target(self) -> Any:
        """What ``act=`` changes: here, plans kept for :func:`advisor.live.optax.apply`."""
        return PendingTarget()

    def on_step_cadence(self) -> None:
        """Hook for adapters at each ``every``-steps cadence point, which every process reaches at
        the same steps (the torch adapter agrees on ``should_stop`` across DDP ranks here)."""

    def _within_budget(self) -> bool:
        if not self.cadence.budget:
            return True
        return self._diag_cost <= self.cadence.budget * (time.monotonic() - self._last_diag_end)

    def _transfer(self) -> bool:
        """Move pending values to the host; True when a tripwire calls for a diagnosis now."""
        new = self.recorder.drain()
        if new is None:
            return False
        self._stale = True
        return self._tripwires.check(new)

    # -- diagnosing ------------------------------------------------------------------------------

    def run(self) -> Run:
        """The run as recorded so far (raw recent window, downsampled older history).

        Moves pending values to the host first (like a cadence point, without a diagnosis).
        """
        try:
            self._transfer()
        except Exception as e:
            self.recorder.report_failure("transfer", e)
        return self.recorder.run(self.name, self.hparams)

    def _diagnose(self, final: bool = False) -> list[Finding]:
        """Diagnose what is recorded; return the findings that are new (see FindingTracker)."""
        t0 = time.perf_counter()
        try:
            run = self.recorder.run(self.name, self.hparams)
            a = diagnose_run(run, self.engine, self._mapping, name=self.name, views=(self._recent.at(self.step),), partial=not final)
            if self.actions is not None and self.actions.taken:
                a = dataclasses.replace(a, report=dataclasses.replace(a.report, findings=own_lr_changes_removed(a.report.findings, self.actions)))
            self._tripwires.arm(a.signals, self.recorder.series)
            self._val_tags = self._tripwires.val_tags
            self.recorder.prioritize(a.signals.roles.values(), a.signals.layer_grad_norms)
            step = self.step or 0
            self._findings = self._tracker.weigh_all(a.report.findings, step, final)
            self._report = dataclasses.replace(a.report, findings=self._findings, notes=notes_with(a.report.notes, self.actions))
            for p in a.report.problems:  # a live run has no reader problems: these are rules that failed
                self.recorder.report_failure(f"rule:{p.split(':')[0]}", RuntimeError(p))
            val = a.signals.roles.get(Role.VAL_LOSS)
            res = self.recorder.series.get(val) if val else None
            return self._tracker.update(a.report.findings, step, final, len(res) if res is not None else 0)
        except Exception as e:
            self.recorder.report_failure("diagnose", e)
            return []
        finally:
            self._account(time.perf_counter() - t0)

    def _account(self, dt: float) -> None:
        """After a diagnosis that took ``dt`` seconds: the budget's running cost estimate."""
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
                    self.recorder.report_failure(f"callback:{getattr(cb, '__name__', cb)}", e)
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
            self.recorder.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
