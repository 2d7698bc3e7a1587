"""Analysis settings from ``advisor.toml`` or ``[tool.advisor]`` in ``pyproject.toml``.

::

    fail_on = "warning"                 # critical | warning | info | never
    select = ["overfitting", "divergence"]
    ignore = ["noisy-validation"]

    [signals]                           # role = tag name or glob, per run
    train_loss = "loss/train"
    val_loss = "loss/val*"

    [rules.overfitting]                 # any parameter of a rule (`advisor explain ID` lists them)
    patience = 5

    num_classes = 10                    # class count for runs that do not declare one
    workload = "rl"                     # every run is this workload: supervised | rl | gan | unknown
    [workloads]                         # or per run: a glob on the run's name, first match wins
    "runs/ppo*" = "rl"
    "gan/**" = "gan"

Without a workload setting, each run's workload is read from its tags (``advisor.workload``):
reward, entropy and value/policy losses make ``rl``, a generator and a discriminator loss make
``gan``. The supervised loss-shape rules do not judge ``rl`` or ``gan`` runs. (``workload`` is a
top-level key, so in an ``advisor.toml`` it goes above the first table.)

Without ``--config``, ``advisor.toml`` and then ``pyproject.toml`` are looked up in the current
directory. A bad file is one clear error line (exit code 2), never a traceback.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

from advisor.errors import UsageError
from advisor.model import Role, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FAIL_ON = ("critical", "warning", "info", "never")
WORKLOADS = ("supervised", "rl", "gan", "unknown")


@dataclass(frozen=True)
class AnalyzeConfig:
    """Everything that shapes one analysis."""

    signals: Mapping[str, str] = field(default_factory=dict)  # role -> tag or glob
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # rule id -> param overrides
    select: tuple[str, ...] = ()  # only these condition ids (empty: all)
    ignore: tuple[str, ...] = ()
    fail_on: str = "critical"
    source: str | None = None  # the file it came from
    workload: str | None = None  # every run's workload, overriding what its tags say
    workloads: Mapping[str, str] = field(default_factory=dict)  # run-name glob -> workload (first match)
    num_classes: int | None = None  # class count for runs that do not declare one (chance level ln C)

    def fail_severity(self) -> Severity | None:
        return None if self.fail_on == "never" else Severity.parse(self.fail_on)

    def with_cli(self, select: tuple[str, ...] | None = None, ignore: tuple[str, ...] | None = None, fail_on: str | None = None) -> "AnalyzeConfig":
        return AnalyzeConfig(
            signals=self.signals,
            rules=self.rules,
            select=select if select else self.select,
            ignore=tuple(self.ignore) + tuple(ignore or ()),
            fail_on=fail_on or self.fail_on,
            source=self.source,
            workload=self.workload,
            workloads=self.workloads,
            num_classes=self.num_classes,
        )

    def workload_for(self, run: str) -> str | None:
        """The workload the config sets for the run named ``run`` (None: read it from the tags)."""
        for pattern, kind in self.workloads.items():
            if fnmatch.fnmatchcase(run, pattern):
                return kind
        return self.workload


def _parse_ids(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{what} must be a list of condition ids")
    return tuple(value)


def from_mapping(data: Mapping[str, Any], source: str | None = None) -> AnalyzeConfig:
    """Validate a parsed ``[tool.advisor]`` table."""
    where = f"{source}: " if source else ""
    known = {"signals", "rules", "select", "ignore", "fail_on", "fail-on", "workload", "workloads", "num_classes"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{where}unknown setting(s) {', '.join(sorted(unknown))} (known: fail_on, select, ignore, signals, rules, workload, workloads, num_classes)")
    num_classes = data.get("num_classes")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2):
        raise UsageError(f"{where}num_classes must be a whole number of classes, 2 or more, not {num_classes!r}")
    signals = data.get("signals", {})
    if not isinstance(signals, Mapping):
        raise UsageError(f"{where}[signals] must be a table of role = \"tag\"")
    roles = {r.value for r in Role}
    for k, v in signals.items():
        if k not in roles:
            raise UsageError(f"{where}[signals] has unknown role {k!r} (known: {', '.join(sorted(roles))})")
        if not isinstance(v, str) or not v:
            raise UsageError(f"{where}[signals] {k} must be a tag name or glob")
    rules = data.get("rules", {})
    if not isinstance(rules, Mapping) or not all(isinstance(v, Mapping) for v in rules.values()):
        raise UsageError(f"{where}[rules] must hold one table per condition id, e.g. [rules.overfitting]")
    fail_on = str(data.get("fail_on", data.get("fail-on", "critical"))).lower()
    if fail_on not in FAIL_ON:
        raise UsageError(f"{where}fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    workload, workloads = _parse_workloads(data, where)
    return AnalyzeConfig(
        signals=dict(signals),
        rules={k: dict(v) for k, v in rules.items()},
        select=_parse_ids(data.get("select", ()), f"{where}select"),
        ignore=_parse_ids(data.get("ignore", ()), f"{where}ignore"),
        fail_on=fail_on,
        source=source,
        workload=workload,
        workloads=workloads,
        num_classes=num_classes,
    )


def _parse_workloads(data: Mapping[str, Any], where: str) -> tuple[str | None, dict[str, str]]:
    """``workload = "rl"`` and ``[workloads] "glob" = "gan"``, checked against WORKLOADS."""
    kinds = ", ".join(WORKLOADS)
    workload = data.get("workload")
    if workload is not None and workload not in WORKLOADS:
        raise UsageError(f"{where}workload must be one of {kinds}, not {workload!r}")
    table = data.get("workloads", {})
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}[workloads] must be a table of \"run glob\" = \"workload\"")
    for pattern, kind in table.items():
        if kind not in WORKLOADS:
            raise UsageError(f"{where}[workloads] {pattern!r} must be one of {kinds}, not {kind!r}")
    return workload, dict(table)


def load(path: str | None = None, cwd: str | None = None) -> AnalyzeConfig:
    """Load the analysis config from ``path``, or find one in ``cwd``; defaults when none."""
    if path is not None:
        return _load_file(path, explicit=True)
    cwd = cwd or os.getcwd()
    for name in ("advisor.toml", "pyproject.toml"):
        p = os.path.join(cwd, name)
        if os.path.isfile(p):
            cfg = _load_file(p, explicit=False)
            if cfg is not None:
                return cfg
    return AnalyzeConfig()


def read_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML file (or JSON, by its ``.json`` ending) as a dict; ValueError with one line."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise ValueError(f"cannot read config {p}: {e.strerror or e}") from None
    try:
        data = json.loads(raw.decode("utf-8")) if p.endswith(".json") else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"cannot parse config {p}: {first}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config {p} must hold a table/object, not {type(data).__name__}")
    return data


def _load_file(path: str, explicit: bool) -> AnalyzeConfig:
    try:
        data = read_table(path)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if os.path.basename(path) == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, Mapping):
            raise UsageError(f"{path}: [tool] must be a table, not {type(tool).__name__}")
        table = tool.get("advisor")
        if table is None:
            if explicit:
                raise UsageError(f"{path}: no [tool.advisor] table")
            return AnalyzeConfig()
        if not isinstance(table, Mapping):
            raise UsageError(f"{path}: [tool.advisor] must be a table, not {type(table).__name__}")
        data = table
    return from_mapping(data, source=path)
