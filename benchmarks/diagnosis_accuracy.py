"""How well the analyzer diagnoses runs it was not fitted to: the population and real readings.

Two tables:

* the evaluation population (``python -m benchmarks.population --out DIR``; each run labelled with
  the cause injected and checked by an independent symptom test): per condition the recall (an
  expected id reported at any severity), top-1 (ranked first), precision at warning and above;
  the false-alarm rate of healthy runs at warning+ with its Wilson 95% interval; and harmful
  advice — a first remedy that moves a knob against the run's known cause (raising the learning
  rate of a run whose rate is too high, say). Thresholds are chosen on ``--split dev``; report on
  ``--split test``.
* real runs read by a person before the analyzer ran (``benchmarks/readings/*.json``; the event
  files live outside the repository): a reading agrees when every condition it names is
  reported, nothing it forbids (``must_not``) is at warning or above, and no other warning+
  finding appears that the reading does not list; a healthy reading agrees when nothing is at
  warning or above. ``unclear`` readings are not scored.

    python benchmarks/diagnosis_accuracy.py --population /tmp/pop --split test
    python benchmarks/diagnosis_accuracy.py --readings-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from advisor.analyze import analyze  # noqa: E402
from advisor.io.discover import split_kind  # noqa: E402
from advisor.model import Finding, Remedy, RunReport, Severity  # noqa: E402

READINGS = os.path.join(HERE, "readings")
# Where each readings file's event files are: shared/ beside the checkout; for extraN.json an env
# override ($ADVISOR_REALRUNS_EXTRAN), shared/realruns-extraN beside the checkout, or /work/realruns-extraN.
_EXTRA = re.compile(r"extra(\d*)\.json")


def data_roots(name: str) -> list[str]:
    """The places a readings file's event files may be, in order ([] for a file that is no readings set)."""
    if name == "shared.json":
        return [os.path.join(ROOT, "..", "shared", "realruns")]
    m = _EXTRA.fullmatch(name)
    if m is None:
        return []
    folder = f"realruns-extra{m.group(1)}"
    return [os.environ.get(f"ADVISOR_REALRUNS_EXTRA{m.group(1)}", ""), os.path.join(ROOT, "..", "shared", folder), f"/work/{folder}"]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def loud(fs: Iterable[Finding]) -> list[Finding]:
    return [f for f in fs if f.severity.rank >= Severity.WARNING.rank]


# -- harmful advice -------------------------------------------------------------------------------


def knob_moves(r: Remedy, knobs: Mapping[str, Any]) -> dict[str, str]:
    """Which knobs a remedy moves, and which way ('up' / 'down')."""
    p = dict(r.params)
    out: dict[str, str] = {}
    if r.action == "scale_lr" and isinstance(p.get("factor"), (int, float)):
        out["lr"] = "up" if p["factor"] > 1 else "down"
    elif r.action == "optimizer" and isinstance(p.get("lr"), (int, float)) and isinstance(knobs.get("lr"), (int, float)):
        out["lr"] = "up" if p["lr"] > knobs["lr"] else "down"
    elif r.action == "capacity":
        w, d = p.get("width_factor"), p.get("depth_delta")
        if (isinstance(w, (int, float)) and w > 1) or (isinstance(d, (int, float)) and d > 0):
            out["capacity"] = "up"
        elif (isinstance(w, (int, float)) and w < 1) or (isinstance(d, (int, float)) and d < 0):
            out["capacity"] = "down"
    elif r.action in ("dropout", "weight_decay"):
        out["capacity"] = "down"  # regularisation removes effective capacity
    elif r.action == "batch_size" and isinstance(p.get("value"), (int, float)) and isinstance(knobs.get("batch_size"), (int, float)):
        out["batch_size"] = "up" if p["value"] > knobs["batch_size"] else "down"
    elif r.action == "train_longer":
        out["steps"] = "up"
    return out


def harmful(first: Finding | None, direction: Mapping[str, str], knobs: Mapping[str, Any]) -> bool:
    """The first remedy moves a knob opposite to the direction the known cause implies."""
    if first is None or not first.remedies or not direction:
        return False
    moves = knob_moves(first.remedies[0], knobs)
    return any(k in direction and moves[k] != direction[k] for k in moves)


# -- the population ---------------------------------------------------------------------------------


@dataclass
class PopScore:
    n_runs: int = 0
    unverified: int = 0
    per_cond: dict[str, dict[str, int]] = field(default_factory=dict)  # cond -> runs, found, top1
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)  # cond -> loud, correct
    healthy: int = 0
    healthy_alarms: int = 0
    harmful: int = 0
    harmful_runs: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    def totals(self) -> tuple[float, float]:
        runs = sum(c["runs"] for c in self.per_cond.values())
        found = sum(c["found"] for c in self.per_cond.values())
        top1 = sum(c["top1"] for c in self.per_cond.values())
        return (found / runs if runs else math.nan, top1 / runs if runs else math.nan)


def score_population(root: str, split: str = "test", workers: int | None = None) -> PopScore:
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    labels = [m for m in manifest if split == "all" or m.get("split") == split]
    reports = _reports(root, workers)
    sc = PopScore()
    for m in labels:
        sc.n_runs += 1
        if not m.get("verified", True):
            sc.unverified += 1
            continue
        rep = reports.get(m["run"])
        findings = list(rep.findings) if rep is not None else []
        _score_one(sc, m, findings)
    return sc


def _score_one(sc: PopScore, m: Mapping[str, Any], findings: list[Finding]) -> None:
    cond = m["condition"]
    expected = set(m.get("expected") or [cond])
    injected = m.get("injected")
    if cond == "non-finite" and injected and injected != cond:
        # a recipe that overshot into NaN: its injected cause, ranked first *and* linked by the
        # analysis to the non-finite values it explains, is the right first finding
        expected |= {f.condition for f in findings if f.condition == injected and "non-finite" in (f.evidence.get("explains") or ())}
    # a cause the label accepts (also_ok), ranked first because the analysis linked it to the
    # labelled symptom it explains (e.g. lr-too-high explaining a divergence under a rising rate)
    expected |= {f.condition for f in findings if f.condition in (m.get("also_ok") or ()) and cond in (f.evidence.get("explains") or ())}
    ok_extra = expected | set(m.get("also_ok") or [])
    first = findings[0] if findings else None
    if harmful(first, m.get("direction") or {}, m.get("knobs") or {}):
        sc.harmful += 1
        sc.harmful_runs.append(f"{m['run']}: {first.condition} -> {first.remedies[0].action} {dict(first.remedies[0].params)}")
    for f in loud(findings):
        fl = sc.flagged.setdefault(f.condition, {"loud": 0, "correct": 0})
        fl["loud"] += 1
        fl["correct"] += f.condition in ok_extra
    if cond == "healthy":
        sc.healthy += 1
        bad = [f for f in loud(findings) if f.condition not in ok_extra]
        if bad:
            sc.healthy_alarms += 1
            sc.alarms.append(f"{m['run']}: " + ", ".join(f"{f.severity.value} {f.condition}" for f in bad))
        return
    pc = sc.per_cond.setdefault(cond, {"runs": 0, "found": 0, "top1": 0})
    pc["runs"] += 1
    names = [f.condition for f in findings]
    if expected & set(names):
        pc["found"] += 1
    else:
        sc.misses.append(f"{m['run']} ({cond}): got {', '.join(f'{f.severity.value} {f.condition}' for f in findings) or 'nothing'}")
    if first is not None and first.condition in expected:
        pc["top1"] += 1


def _reports(root: str, workers: int | None) -> dict[str, RunReport]:
    result = analyze([root], workers=workers)
    return {r.run: r for r in result.report.runs}


def print_population(sc: PopScore, split: str, out=sys.stdout) -> None:
    rec, top1 = sc.totals()
    lo, hi = wilson(sc.healthy_alarms, sc.healthy)
    print(f"population ({split} split): {sc.n_runs} runs, {sc.unverified} unverified (left out)", file=out)
    print(f"{'condition':<24} {'runs':>5} {'recall':>7} {'top-1':>7} {'prec@warn+':>11}", file=out)
    for cond in sorted(set(sc.per_cond) | set(sc.flagged)):
        pc = sc.per_cond.get(cond, {"runs": 0, "found": 0, "top1": 0})
        fl = sc.flagged.get(cond, {"loud": 0, "correct": 0})
        r = f"{pc['found'] / pc['runs']:.2f}" if pc["runs"] else "-"
        t = f"{pc['top1'] / pc['runs']:.2f}" if pc["runs"] else "-"
        pr = f"{fl['correct'] / fl['loud']:.2f} ({fl['loud']})" if fl["loud"] else "-"
        print(f"{cond:<24} {pc['runs']:>5} {r:>7} {t:>7} {pr:>11}", file=out)
    print(f"overall recall {rec:.3f}, top-1 {top1:.3f}", file=out)
    print(f"healthy false alarms at warning+: {sc.healthy_alarms}/{sc.healthy} = {sc.healthy_alarms / max(sc.healthy, 1):.3%} (95% CI {lo:.3%}-{hi:.3%})", file=out)
    print(f"harmful advice (first remedy against the known cause): {sc.harmful}", file=out)
    for title, rows in (("misses", sc.misses), ("healthy alarms", sc.alarms), ("harmful", sc.harmful_runs)):
        if rows:
            print(f"-- {title} ({len(rows)}):", file=out)
            for row in rows:
                print(f"   {row}", file=out)


# -- real readings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    run: str
    workload: str
    expected: tuple[str, ...]
    agrees: bool
    why: str


def judge(reading: Mapping[str, Any], rep: RunReport | None) -> Verdict | None:
    """Whether the analysis agrees with a person's reading (None: unclear, not scored)."""
    verdict = list(reading.get("verdict") or [])
    if not verdict or verdict == ["unclear"]:
        return None
    run, wl = reading["run"], reading.get("workload", "?")
    if rep is None:
        return Verdict(run, wl, tuple(verdict), False, "run not found by discovery")
    got = {f.condition: f for f in rep.findings}
    louds = {f.condition for f in loud(rep.findings)}
    allowed = set(verdict) | set(reading.get("also") or [])
    problems = []
    if verdict != ["healthy"]:
        problems += [f"missed {c}" for c in verdict if c not in got]
    problems += [f"forbidden {c}" for c in reading.get("must_not") or [] if c in louds]
    problems += [f"extra {got[c].severity.value} {c}" for c in sorted(louds - allowed - set(reading.get("must_not") or []))]
    return Verdict(run, wl, tuple(verdict), not problems, "; ".join(problems) or "agrees")


def score_readings(path: str, data_root: str) -> list[Verdict]:
    with open(path, encoding="utf-8") as fh:
        readings = json.load(fh)
    reports = {r.run: r for r in analyze([data_root]).report.runs}
    out = []
    for rd in readings:
        v = judge(rd, _report_for(rd["run"], reports))
        if v is not None:
            out.append(v)
    return out


def _report_for(run: str, reports: Mapping[str, RunReport]) -> RunReport | None:
    """The report of the run a reading names: its own path, else the one run discovery found below
    it (a reader may name the folder an agent's or a split's event files sit in: ML-Agents'
    ``results/ppo`` holding ``ReachTarget/``). Only the identifier is resolved; the verdict is the
    reading's."""
    if run in reports:
        return reports[run]
    below = [r for name, r in reports.items() if name.startswith(run.rstrip("/") + "/")]
    if len(below) == 1:
        return below[0]
    # or the run above a split folder the reader named (a Keras run that logged only train/, read
    # as the run its split belongs to)
    parent, _, leaf = run.rstrip("/").rpartition("/")
    return reports.get(parent) if parent and not below and split_kind(leaf) is not None else None


def readings_sets() -> list[tuple[str, str]]:
    """(readings file, data root) for every readings file whose event files are here."""
    found = []
    for name in sorted(os.listdir(READINGS)) if os.path.isdir(READINGS) else []:
        for root in data_roots(name):
            if root and os.path.isdir(root):
                found.append((os.path.join(READINGS, name), root))
                break
    return found


def print_readings(verdicts: Sequence[Verdict], title: str, out=sys.stdout) -> None:
    n = len(verdicts)
    k = sum(v.agrees for v in verdicts)
    print(f"real readings, {title}: {k}/{n} agree", file=out)
    by_wl: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_wl.setdefault(v.workload, []).append(v)
    for wl, vs in sorted(by_wl.items()):
        print(f"  {wl:<11} {sum(v.agrees for v in vs)}/{len(vs)}", file=out)
    for v in verdicts:
        if not v.agrees:
            print(f"   DISAGREE {v.run} [{', '.join(v.expected)}]: {v.why}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--population", metavar="DIR", help="a population generated by python -m benchmarks.population")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--readings-only", action="store_true")
    args = ap.parse_args(argv)
    if args.population and not args.readings_only:
        print_population(score_population(args.population, args.split, args.workers), args.split)
        print()
    sets = readings_sets()
    if not sets:
        print("real readings: no event files found for benchmarks/readings/*.json (see their README)")
    for path, root in sets:
        print_readings(score_readings(path, root), os.path.basename(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
