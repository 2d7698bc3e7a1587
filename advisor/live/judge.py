"""Live judgment: severity that grows with evidence, and which findings are reported when.

The rules are the offline ones (``advisor analyze``); what differs live is that the run is not
finished. :class:`Judge` decides, at each diagnosis of a growing run, which findings to deliver:

* **tripwires** — a critical finding that does not need the run's future (``non-finite``,
  ``divergence``, ``exploding-gradients``, ``lr-too-high``) is delivered at once — a NaN/Inf at
  any step, the others once the run is ``early`` steps long (two cadence windows: read off the
  first few dozen points of a noisy small-batch run, a shape is noise);
* **evidence-counting** conditions (``overfitting``: its rule counts the evaluations after the
  validation minimum itself) are delivered once the offline analysis of the same prefix has
  reported them through ``SELF_EVIDENT_HOLD`` more evaluations (each new validation point
  past the best one calls for a diagnosis): a single noisy evaluation is no trend;
* conditions that **need the run's future** (``no-learning``, ``plateau``,
  ``slow-convergence``, ``underfitting``, ``lr-decay-needed``): nobody can judge "no learning"
  50 steps into a run of unknown length. They are capped at ``warning`` until the run holds
  enough evidence — ``warmup`` steps (default 10 cadence windows) and, when the run's length
  is known (``total_steps``), ``evidence`` (default 25%) of it — and then, like every other
  condition below critical, delivered once the run is ``warmup`` steps long and the finding
  held in every diagnosis for ``confirm`` steps and while the run grew by half;
* ``still-improving`` ("training stopped too early") describes a finished run: ``close()``
  only.

A condition is delivered once, and again when its (possibly capped) severity rises. The final
update (``close()``) delivers whatever the offline analysis would, uncapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from advisor.model import Finding, Severity
from advisor.tracking import END_OF_RUN, forget_absent, keep_stronger

#: Conditions whose rule needs the run's future: capped below critical until the evidence is in.
NEEDS_FUTURE = frozenset({"no-learning", "plateau", "slow-convergence", "underfitting", "lr-decay-needed"})
#: Conditions whose rule counts its own evidence: delivered when the same prefix offline shows them.
SELF_EVIDENT = frozenset({"overfitting"})
#: Further evaluations a SELF_EVIDENT finding must hold through (a noisy evaluation is no trend).
SELF_EVIDENT_HOLD = 2
#: Critical at any step: a NaN/Inf is a fact, not a shape. Other critical findings (divergence,
#: lr-too-high, exploding gradients) wait until the run is ``early`` steps long (two cadence
#: windows): on the first few dozen points of a noisy small-batch run they are read off noise.
IMMEDIATE = frozenset({"non-finite"})
#: The most a NEEDS_FUTURE finding is worth before the evidence is in.
CAP = Severity.WARNING


@dataclass(frozen=True)
class Judgment:
    """How a live monitor judges an unfinished run (see "Live judgment" in the module doc)."""

    confirm: int  # steps a finding below critical must hold before it is reported
    warmup: int  # steps a run must be long before one is reported
    recent: int  # steps of the recent-window view

    @classmethod
    def of(cls, unit: int, confirm: int | None, warmup: int | None, recent: int | None) -> Judgment:
        """From ``Monitor``'s keyword arguments; None: the default in cadence windows."""
        return cls(
            4 * unit if confirm is None else int(confirm),
            10 * unit if warmup is None else int(warmup),
            2 * unit if recent is None else int(recent),
        )


def needs_future(f: Finding) -> bool:
    """Whether the finding is a judgment on the run's future: a NEEDS_FUTURE condition, or
    ``lr-too-high`` read only from a loss that bounced and made no progress yet (no jump, no
    declared rate)."""
    return f.condition in NEEDS_FUTURE or (f.condition == "lr-too-high" and (f.evidence or {}).get("form") == "bouncing")


class Judge:
    """Which findings of a growing run to deliver now (see the module docstring).

    Args:
        confirm: steps a finding below critical must hold before it is delivered.
        warmup: steps the run must be long before a finding below critical is delivered, and
            before a NEEDS_FUTURE condition may be critical.
        total_steps: the run's planned length, when known.
        evidence: the fraction of ``total_steps`` a NEEDS_FUTURE condition waits for.
        confirm_growth: the run must also have grown by this factor while the finding held.
    """

    def __init__(self, confirm: int = 0, warmup: int = 0, total_steps: int | None = None, evidence: float = 0.25, early: int = 0, confirm_growth: float = 0.0) -> None:
        self.early = max(0, int(early))
        self.recheck = False
        self.confirm, self.warmup = max(0, int(confirm)), max(0, int(warmup))
        self.total_steps = int(total_steps) if total_steps else None
        self.evidence = float(evidence)
        self.confirm_growth = max(0.0, float(confirm_growth))
        self.seen: dict[str, Severity] = {}
        self._since: dict[str, int] = {}  # condition -> first step of its current streak
        self._evals_at: dict[str, int] = {}  # condition -> evaluations logged when its streak began
        self.evals = 0  # evaluations (validation points) logged so far

    def evidence_step(self) -> int:
        """The step from which a NEEDS_FUTURE condition may be reported at its full severity."""
        need = self.warmup
        if self.total_steps:
            need = max(need, int(self.evidence * self.total_steps))
        return need

    def weigh(self, f: Finding, step: int, final: bool = False) -> Finding:
        """The finding at the severity its evidence supports at ``step``."""
        if final or f.severity.rank <= CAP.rank:
            return f
        if needs_future(f) and step < self.evidence_step():
            return dataclasses.replace(f, severity=CAP)
        if f.condition not in IMMEDIATE and step < self.early:  # a shape read off a few noisy points
            self.recheck = True  # the next cadence point diagnoses whatever the time budget
            return dataclasses.replace(f, severity=CAP)
        return f

    def _ready(self, f: Finding, step: int, since: int) -> bool:
        if f.condition in END_OF_RUN:
            return False
        if f.condition in SELF_EVIDENT:
            return self.evals - self._evals_at.get(f.condition, self.evals) >= SELF_EVIDENT_HOLD
        if f.severity is Severity.CRITICAL:
            return True
        return step >= self.warmup and step - since >= self.confirm and step >= since * (1 + self.confirm_growth)

    def update(self, findings: Iterable[Finding], step: int = 0, final: bool = False, evals: int | None = None) -> list[Finding]:
        """The findings to deliver now, at the severity delivered; ``evals``: validation points
        logged so far."""
        if evals is not None:
            self.evals = int(evals)
        self.recheck = False
        new, present = [], set()
        for f in findings:
            present.add(f.condition)
            since = self._since.setdefault(f.condition, step)
            self._evals_at.setdefault(f.condition, self.evals)
            f = self.weigh(f, step, final)
            if not final and not self._ready(f, step, since):
                continue
            keep_stronger(self.seen, f, new)
        forget_absent(present, self._since, self._evals_at)
        return new

    def weigh_all(self, findings: Iterable[Finding], step: int, final: bool = False) -> tuple[Finding, ...]:
        """Every finding at the severity its evidence supports (what ``mon.findings`` shows)."""
        return tuple(self.weigh(f, step, final) for f in findings)
