"""The small typed data model every part of advisor speaks: Series, Run, Finding, Report, PlotCurve, SweepEntry.

Frozen dataclasses and enums; numpy arrays inside a Series are treated as read-only (they are
flagged non-writeable), so a rule can never mutate a run it was handed.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


class Severity(str, enum.Enum):
    """How loudly a finding speaks. ``critical`` > ``warning`` > ``info``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or critical)") from None

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


_SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class Role(str, enum.Enum):
    """What a scalar stream means to the analysis."""

    TRAIN_LOSS = "train_loss"
    VAL_LOSS = "val_loss"
    TEST_LOSS = "test_loss"  # a held-out test loss beside the validation loss
    TRAIN_ACC = "train_acc"
    VAL_ACC = "val_acc"
    TRAIN_METRIC = "train_metric"
    VAL_METRIC = "val_metric"
    LR = "lr"
    GRAD_NORM = "grad_norm"
    UPDATE_RATIO = "update_ratio"
    EPOCH = "epoch"
    # Reinforcement learning (resolved only for a run whose workload is rl).
    REWARD = "reward"
    EPISODE_LENGTH = "episode_length"
    ENTROPY = "entropy"
    VALUE_LOSS = "value_loss"
    POLICY_LOSS = "policy_loss"
    APPROX_KL = "approx_kl"
    # GANs (resolved only for a run whose workload is gan).
    GEN_LOSS = "gen_loss"
    DISC_LOSS = "disc_loss"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Series:
    """One scalar stream: steps ascending and unique, values as float64 (NaN/Inf kept)."""

    tag: str
    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    split: str | None = None
    # The median number of points written at each kept step (1: one point a step). Many points a
    # step (a running mean logged every batch at the epoch's step) reduce to the last of each.
    per_step: int = 1

    @classmethod
    def from_points(
        cls,
        tag: str,
        steps: Any,
        values: Any,
        wall_times: Any = None,
        split: str | None = None,
    ) -> "Series":
        """Build a normalised series from points in write order.

        Steps are sorted (stably); where a step repeats, the point written last wins, the way a
        restarted or re-evaluated run supersedes what it wrote before.
        """
        s = np.asarray(steps, dtype=np.int64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        w = np.zeros(len(s)) if wall_times is None else np.asarray(wall_times, dtype=np.float64).reshape(-1)
        if not (len(s) == len(v) == len(w)):
            raise ValueError(f"series {tag!r}: steps, values and wall times differ in length")
        if len(s) > 1 and not (np.all(s[1:] > s[:-1])):
            # Stable sort, then keep the last written point of each step.
            order = np.argsort(s, kind="stable")
            s, v, w = s[order], v[order], w[order]
            keep = np.ones(len(s), dtype=bool)
            keep[:-1] = s[1:] != s[:-1]
            per_step = int(np.median(np.diff(np.concatenate(([-1], np.flatnonzero(keep))))))
            s, v, w = s[keep], v[keep], w[keep]
        else:
            s, v, w, per_step = s.copy(), v.copy(), w.copy(), 1
        return cls(tag, _readonly(s), _readonly(v), _readonly(w), split, per_step)

    @property
    def key(self) -> str:
        """The name a user sees: the tag, prefixed by its split directory when it has one."""
        return f"{self.split}/{self.tag}" if self.split else self.tag

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def span(self) -> tuple[int, int] | None:
        return (int(self.steps[0]), int(self.steps[-1])) if len(self.steps) else None


@dataclass(frozen=True)
class Remedy:
    """One machine-applicable change (SPEC §3): ``{"action": ID, "params": {...}}``."""

    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "auto"  # "auto": a reference trainer can apply it; "manual": a person must
    live: bool = False  # can be applied to a running trainer
    safe: bool = True  # bounded, does not change the objective or the data
    rationale: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "params": dict(self.params),
            "kind": self.kind,
            "live": self.live,
            "safe": self.safe,
            "rationale": self.rationale,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Remedy":
        return cls(
            action=str(d["action"]),
            params=dict(d.get("params") or {}),
            kind=str(d.get("kind", "auto")),
            live=bool(d.get("live", False)),
            safe=bool(d.get("safe", True)),
            rationale=str(d.get("rationale", "")),
        )


@dataclass(frozen=True)
class Finding:
    """One diagnosed condition in one run, with the evidence that supports it."""

    condition: str
    severity: Severity
    confidence: float
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remedies: tuple[Remedy, ...] = ()
    onset: int | None = None  # first step at which the condition shows
    priority: int = 0  # assigned by the engine; 1 = act on this first

    def __post_init__(self) -> None:
        c = float(self.confidence)
        if not math.isfinite(c):
            c = 0.0
        object.__setattr__(self, "confidence", min(1.0, max(0.0, c)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "severity": self.severity.value,
            "confidence": round(self.confidence, 3),
            "priority": self.priority,
            "summary": self.summary,
            "evidence": jsonable(dict(self.evidence)),
            "remedies": [r.to_dict() for r in self.remedies],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Finding":
        evidence = dict(d.get("evidence") or {})
        return cls(
            condition=str(d["condition"]),
            severity=Severity.parse(str(d["severity"])),
            confidence=float(d.get("confidence", 0.0)),
            summary=str(d.get("summary", "")),
            evidence=evidence,
            remedies=tuple(Remedy.from_dict(r) for r in d.get("remedies") or ()),
            onset=(evidence.get("step_range") or [None])[0] if isinstance(evidence.get("step_range"), list) else None,
            priority=int(d.get("priority", 0)),
        )


@dataclass(eq=False)
class Run:
    """A training run: every scalar stream found under one run directory, plus its metadata."""

    name: str  # path relative to what the user analysed (its directory name when that path is the run)
    path: str  # absolute directory
    series: dict[str, Series] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # config.json beside the event files
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # reader messages (truncated tail, bad CRCs, ...)
    non_scalar: int = 0  # summaries that are not scalars (histograms, images, text, ...)
    records: int = 0  # records with valid framing across its event files (0: nothing could be read)

    @property
    def steps(self) -> tuple[int, int] | None:
        spans = [s.span for s in self.series.values() if len(s)]
        if not spans:
            return None
        return (min(a for a, _ in spans), max(b for _, b in spans))

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.series.values())


@dataclass(frozen=True)
class RunReport:
    """The analysis of one run: SPEC §4's run entry."""

    run: str
    steps: tuple[int, int] | None
    signals: Mapping[str, str]
    findings: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    n_points: int = 0
    n_series: int = 0
    notes: tuple[str, ...] = ()  # how signals were resolved (e.g. a summed loss)
    counts: Mapping[str, int] = field(default_factory=dict)  # points per resolved tag
    workload: str = "supervised"  # supervised | rl | gan | unknown (SPEC §2)
    workload_evidence: str = ""  # what the workload was read from, in a few words

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "steps": list(self.steps) if self.steps else None,
            "signals": dict(self.signals),
            "workload": self.workload,
            "findings": [f.to_dict() for f in self.findings],
            "problems": list(self.problems),
            "unresolved": list(self.unresolved),
            "notes": list(self.notes),
            "points": self.n_points,
            "series": self.n_series,
        }


@dataclass(frozen=True)
class Report:
    """Everything one ``advisor analyze`` produced."""

    runs: tuple[RunReport, ...]
    sweep: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()  # problems not tied to one run (unreadable paths, ...)

    def to_dict(self) -> dict[str, Any]:
        from advisor import __version__

        return {
            "schema": 1,
            "advisor_version": __version__,
            "runs": [r.to_dict() for r in self.runs],
            "sweep": {"findings": [f.to_dict() for f in self.sweep]},
            "problems": list(self.problems),
        }

    def worst(self) -> Severity | None:
        sev = [f.severity for r in self.runs for f in r.findings] + [f.severity for f in self.sweep]
        return max(sev, key=lambda s: s.rank) if sev else None


@dataclass(frozen=True)
class PlotCurve:
    """A curve as the reports draw it: one role's tag, a downsampled step grid and its values.

    ``values`` holds NaN where a point is missing (a median over seeds with no run there, say);
    ``nonfinite_step`` is where the raw stream first went NaN/Inf (the curve stops before it, or
    skips its few non-finite points when the stream recovered: ``advisor.signals.finite_part``).
    """

    tag: str
    steps: tuple[float, ...]
    values: tuple[float, ...]
    nonfinite_step: int | None = None
    # Each bin's min and max when a bin holds several points (empty when every point is drawn):
    # a chart shades them so a spike the median smooths away still shows.
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: missing values become null."""
        out = {
            "tag": self.tag,
            "steps": list(self.steps),
            "values": [v if math.isfinite(v) else None for v in self.values],
            "nonfinite_step": self.nonfinite_step,
        }
        if self.lo and self.hi:
            out["lo"] = [v if math.isfinite(v) else None for v in self.lo]
            out["hi"] = [v if math.isfinite(v) else None for v in self.hi]
        return out


# role value ('train_loss', ...) -> its curve
Curves = Mapping[str, PlotCurve]


@dataclass(frozen=True)
class SweepEntry:
    """What the sweep rules need from one analysed run."""

    run: str
    hparams: dict[str, Any] = field(default_factory=dict)
    best_val: float | None = None  # best val loss (or -best val accuracy)
    best_val_metric: str | None = None
    best_step: int | None = None
    time_to_best: float | None = None  # seconds from the first point to the best evaluation
    has_test: bool = False


def jsonable(obj: Any) -> Any:
    """Make evidence JSON-safe: numpy scalars to Python, non-finite floats to strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return round(f, 6) if abs(f) >= 1e-4 or f == 0 else float(f"{f:.6g}")
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj
