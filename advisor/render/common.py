"""Format-neutral helpers shared by the Markdown and HTML reports.

Which curve is a run's key curve, which evidence to show first, how numbers, step ranges and
remedies read — decided once here so every format tells the same story.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from advisor.model import Finding, PlotCurve, RunReport, Severity, jsonable

# The one severity icon table: text, Markdown and HTML mark a severity with the same symbol.
ICON = {Severity.CRITICAL: "✖", Severity.WARNING: "▲", Severity.INFO: "●"}
ROLE_LABEL = {
    "reward": "reward",  # first: an RL run's story is its reward (supervised runs have none)
    "train_loss": "train loss",
    "val_loss": "val loss",
    "train_acc": "train accuracy",
    "val_acc": "val accuracy",
    "lr": "learning rate",
    "grad_norm": "grad norm",
    "disc_loss": "discriminator loss",
    "gen_loss": "generator loss",
    "entropy": "policy entropy",
    "episode_length": "episode length",
    "value_loss": "value loss",
    "policy_loss": "policy loss",
    "approx_kl": "approx KL",
}
# Evidence keys drawn or linked elsewhere; highlights list them first, in this order.
_EVIDENCE_FIRST = ("step_range", "best_step", "first_nonfinite_step", "signal")
_EVIDENCE_SKIP = {"explained_by", "explains", "comparison"}
MAX_EVIDENCE = 10


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by priority (1 first; an unranked 0 last), then severity, then confidence."""
    return sorted(findings, key=lambda f: (f.priority if f.priority > 0 else math.inf, -f.severity.rank, -f.confidence))


def worst(findings: Iterable[Finding]) -> Severity | None:
    sev = [f.severity for f in findings]
    return max(sev, key=lambda s: s.rank) if sev else None


def alarming(r: RunReport) -> bool:
    """True when the run has a finding of severity warning or above (SPEC: healthy runs have none)."""
    return any(f.severity.rank >= Severity.WARNING.rank for f in r.findings)


def key_role(r: RunReport, curves: Mapping[str, Any] | None) -> str | None:
    """The curve that tells the run's story: the top finding's signal, else the training loss."""
    curves = curves or {}
    top = ordered(r.findings)
    sig = top[0].evidence.get("signal") if top else None
    if isinstance(sig, str) and _has_points(curves.get(sig)):
        return sig
    for role in ROLE_LABEL:
        if _has_points(curves.get(role)):
            return role
    return None


def role_label(role: str) -> str:
    """A role or evidence key as words: ``val_loss`` -> ``val loss``."""
    return ROLE_LABEL.get(role) or role.replace("_", " ")


def _has_points(c: Any) -> bool:
    return isinstance(c, PlotCurve) and bool(c.values)


def fmt_value(v: Any, limit: int = 80) -> str:
    """One evidence or parameter value as short text (non-finite floats read nan / inf)."""
    v = jsonable(v)
    if isinstance(v, bool):
        out = str(v).lower()
    elif isinstance(v, float):
        out = f"{v:.4g}"
    elif isinstance(v, Mapping):
        out = ", ".join(f"{k}={fmt_value(x, limit)}" for k, x in v.items())
    elif isinstance(v, list):
        out = ", ".join(fmt_value(x, limit) for x in v[:12]) + (f", … (+{len(v) - 12})" if len(v) > 12 else "")
    elif v is None:
        out = "—"
    else:
        out = str(v)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def fmt_steps(steps: Sequence[Any] | None) -> str:
    """A run's span or an onset range: ``100–1200``; an open end reads ``start``/``end``."""
    if not steps:
        return "no scalar data"
    a, b = (list(steps) + [None, None])[:2]
    a_txt = "start" if a is None else fmt_value(a)
    b_txt = "end" if b is None else fmt_value(b)
    return a_txt if a == b and a is not None else f"{a_txt}–{b_txt}"


def step_range(f: Finding) -> tuple[Any, Any] | None:
    """The finding's onset range ``(start, end)`` (either may be None), or None when it has none."""
    sr = f.evidence.get("step_range")
    if isinstance(sr, (list, tuple)) and len(sr) == 2 and not (sr[0] is None and sr[1] is None):
        return sr[0], sr[1]
    return None


def evidence_items(evidence: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The evidence worth showing, as (key, label, text): drawn keys first, then the rest as written."""
    keys = [k for k in _EVIDENCE_FIRST if k in evidence]
    keys += [k for k in evidence if k not in _EVIDENCE_FIRST and k not in _EVIDENCE_SKIP]
    out = []
    for k in keys[:MAX_EVIDENCE]:
        v = evidence[k]
        out.append(
            (
                str(k),
                role_label(str(k)),
                fmt_steps(v) if k == "step_range" and isinstance(v, (list, tuple)) else fmt_value(v),
            )
        )
    return out


def causal_links(f: Finding) -> list[tuple[str, list[str]]]:
    """[("likely caused by", [ids]), ("explains", [ids])] for the links the engine found."""
    out = []
    for key, label in (("explained_by", "likely caused by"), ("explains", "explains")):
        v = f.evidence.get(key)
        ids = [v] if isinstance(v, str) else [str(x) for x in v] if isinstance(v, (list, tuple)) else []
        if ids:
            out.append((label, ids))
    return out


def comparison(evidence: Mapping[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """A sweep finding's hyperparameter comparison as (header, rows), when it has one."""
    comp = evidence.get("comparison")
    if not isinstance(comp, Mapping) or not isinstance(comp.get("rows"), (list, tuple)):
        return None
    header = [str(comp.get("hparam", "value")), "run", "best val", "seconds to best"]
    rows = [
        [fmt_value(row.get(k)) for k in ("value", "run", "best_val", "seconds_to_best")]
        for row in comp["rows"]
        if isinstance(row, Mapping)
    ]
    return header, rows


def params_text(params: dict[str, Any]) -> str:
    """Remedy parameters as ``k=v`` pairs (floats to 4 significant digits, booleans lower case)."""
    parts = []
    for k, v in params.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, bool):
            v = str(v).lower()
        parts.append(f"{k}={v}")
    return " ".join(parts)


def remedy_cells(rem: Any) -> tuple[str, str, str, str, str]:
    """(action, params, kind, live, rationale) of one remedy."""
    params = params_text(
        {k: fmt_value(v) if isinstance(v, (list, tuple, Mapping)) else v for k, v in dict(rem.params).items()}
    )
    return rem.action, params, rem.kind, "live" if rem.live else "restart", rem.rationale


def curve_endpoints(c: PlotCurve) -> str:
    vals = list(c.values)
    return f"{fmt_value(float(vals[0]))} → {fmt_value(float(vals[-1]))}" if vals else ""


def anchor(i: int) -> str:
    """The id of the i-th run's section (never derived from the run name, so always safe)."""
    return f"run-{i + 1}"


def workload_line(r: RunReport) -> str:
    """The run's workload and what it was read from, in one line (``rl: reward ..., entropy ...``)."""
    return f"{r.workload}: {r.workload_evidence}" if r.workload_evidence else r.workload


def by_severity(runs: Iterable[RunReport]) -> list[RunReport]:
    """Runs as a triage list: the worst finding first (critical, warning, info, none), then by name."""
    return sorted(runs, key=lambda r: (-(worst(r.findings).rank if r.findings else 0), r.run))
