"""Which findings are new, stronger or withdrawn as a run grows: shared by ``watch`` and the live monitors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from advisor.model import Finding, Severity

#: Conditions that describe a finished run ("training stopped too early"): a run still being
#: written is trivially "still improving", so they wait for the final update.
END_OF_RUN = frozenset({"still-improving"})


@dataclass(frozen=True)
class Alert:
    """One delivery of a finding: at which step (and wall time) it was first reported."""

    step: int
    wall_time: float
    finding: Finding


class FindingTracker:
    """Which findings are new: keyed by condition, reported again when the severity rises.

    A critical finding is reported at once. One below critical is a judgment on the shape of a
    run that is not finished, and the first points of a run or a short bump often do not bear it
    out; it is reported only once the run is ``warmup`` steps long and the finding has been
    present in every diagnosis for ``confirm_steps`` steps and while the run grew by the factor
    ``1 + confirm_growth`` (scale-free: a judgment made at step 200 must hold to step 300 with
    0.5, one made at step 20000 to 30000). ``defer`` lists conditions that
    describe a finished run (``still-improving``: "training stopped too early"), reported only
    by the final update. The final update reports whatever it finds, as ``advisor analyze``
    would. With the defaults every finding is reported as soon as it is seen.
    """

    def __init__(self, confirm_steps: int = 0, warmup: int = 0, defer: Iterable[str] = (), confirm_growth: float = 0.0) -> None:
        self.seen: dict[str, Severity] = {}
        self.confirm_growth = max(0.0, float(confirm_growth))
        self.confirm_steps = max(0, int(confirm_steps))
        self.warmup = max(0, int(warmup))
        self.defer = frozenset(defer)
        self._since: dict[str, int] = {}  # condition -> first step of its current streak

    def update(self, findings: Iterable[Finding], step: int = 0, final: bool = False) -> list[Finding]:
        new = []
        present = set()
        for f in findings:
            present.add(f.condition)
            since = self._since.setdefault(f.condition, step)
            if not final:
                if f.condition in self.defer:
                    continue
                if f.severity is not Severity.CRITICAL and (
                    step < self.warmup or step - since < self.confirm_steps or step < since * (1 + self.confirm_growth)
                ):
                    continue
            keep_stronger(self.seen, f, new)
        forget_absent(present, self._since)
        return new


def keep_stronger(seen: dict[str, Severity], f: Finding, new: list[Finding]) -> None:
    """Append ``f`` to ``new`` when its condition is new or stronger than what ``seen`` holds."""
    prev = seen.get(f.condition)
    if prev is None or f.severity.rank > prev.rank:
        seen[f.condition] = f.severity
        new.append(f)


def forget_absent(present: set[str], *streaks: dict) -> None:
    """A condition missing from this update ends its streak (in every ``streaks`` table)."""
    for table in streaks:
        for c in [c for c in table if c not in present]:
            del table[c]


def describe(f: Finding, run: str | None = None) -> str:
    """One line for a finding: severity, condition, summary and the first remedy."""
    rem = ""
    if f.remedies:
        r = f.remedies[0]
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
        rem = f" -> {r.action}{(' ' + params) if params else ''}"
    where = f"{run}: " if run else ""
    return f"{where}{f.severity.value} {f.condition}: {f.summary}{rem}"
