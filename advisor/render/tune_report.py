"""Outputs of ``advisor tune``: a text table, report.json, report.html, curves.png, final config."""

from __future__ import annotations

import html
import json
import math
import os
from typing import Any, Mapping

from advisor.model import PlotCurve
from advisor.render.html import CSS
from advisor.render.png import line_chart
from advisor.render.svg import SMALL, svg_chart
from advisor.render.text import params_text
from advisor.tune import config_diff, verdict_text

# initial train, initial val, final train, final val: four hues a reader tells apart at a glance.
TUNE_COLORS = [(127, 127, 127), (255, 127, 14), (31, 119, 180), (44, 160, 44)]


def _num(x: Any) -> str:
    if isinstance(x, str):
        return x
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def rows(result: Any) -> list[list[str]]:
    out = []
    for a in result.attempts:
        if "before" not in a:
            out.append([str(a["round"]), a["condition"], f"{a['applied']['action']} {params_text(a['applied']['params'])}", "-", "-", "-", "error: " + a.get("error", "")])
            continue
        b, f = a["before"], a["after"]
        verdict = verdict_text(a)
        out.append(
            [
                str(a["round"]),
                a["condition"],
                f"{a['applied']['action']} {params_text(a['applied']['params'])}",
                f"{_num(b['mean'])} ± {_num(b['std'])}",
                f"{_num(f['mean'])} ± {_num(f['std'])}",
                f"{_num(a['effect_size'])}",
                verdict + (f" (gone in {a['gone_in_seeds']}/{len(f['per_seed'])})" if "gone_in_seeds" in a else ""),
            ]
        )
    return out


HEADER = ["round", "condition", "remedy", "before", "after", "effect", "verdict"]


def text(result: Any, paths: Mapping[str, str]) -> str:
    table = [HEADER] + rows(result)
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = [f"advisor tune ({result.backend}, {len(result.seeds)} seed(s), metric {result.metric})", ""]
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not result.attempts:
        lines.append("(nothing to try)")
    lines.append("")
    diff = config_diff(result.initial_config, result.final_config)
    if diff:
        lines.append("config changes:")
        lines.extend(f"  {k}: {_num(a)} -> {_num(b)}" for k, (a, b) in diff.items())
    else:
        lines.append("config unchanged")
    lines.append(f"stopped: {result.stop_reason}; verified: {'yes' if result.verified else 'no'}; {result.trainings} training(s) in {result.seconds:.0f}s")
    lines.append("outputs: " + ", ".join(paths.values()))
    return "\n".join(lines) + "\n"


def _curves_for(result: Any, h: str | None) -> Mapping[str, PlotCurve]:
    return result.curves.get(h) or {}


def chart_lines(result: Any, attempt: Mapping[str, Any]) -> list[tuple[str, list[float], list[float]]]:
    out = []
    for tag, h in (("before", attempt.get("config_hash_before")), ("after", attempt.get("config_hash_after"))):
        c = _curves_for(result, h)
        for role in ("train_loss", "val_loss"):
            if role in c:
                out.append((f"{tag} {role.replace('_loss', '')}", list(c[role].steps), list(c[role].values)))
    return out


def html_page(result: Any) -> str:
    e = html.escape
    body = [f"<h1>advisor tune — {e(result.backend)}</h1>"]
    body.append(
        f"<p>{len(result.seeds)} seed(s) · metric <code>{e(result.metric)}</code> · stopped: <b>{e(result.stop_reason)}</b> · "
        f"verified: <b>{'yes' if result.verified else 'no'}</b> · {result.trainings} training(s) in {result.seconds:.0f}s</p>"
    )
    body.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADER) + "</tr>")
    for r in rows(result):
        body.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    body.append("</table>")
    diff = config_diff(result.initial_config, result.final_config)
    body.append("<h2>Config changes</h2>")
    if diff:
        body.append("<table><tr><th>key</th><th>before</th><th>after</th></tr>" + "".join(f"<tr><td><code>{e(k)}</code></td><td>{e(_num(a))}</td><td>{e(_num(b))}</td></tr>" for k, (a, b) in diff.items()) + "</table>")
    else:
        body.append("<p>none</p>")
    body.append("<h2>Before and after (median over seeds)</h2>")
    for a in result.attempts:
        if "before" not in a:
            continue
        title = f"round {a['round']}: {a['condition']} → {a['applied']['action']} {params_text(a['applied']['params'])} ({verdict_text(a)})"
        before = _curves_for(result, a["config_hash_before"])
        after = _curves_for(result, a["config_hash_after"])
        span = [s for c in (*before.values(), *after.values()) for s in c.steps[:1] + c.steps[-1:]]
        charts = "".join(f"<figure>{svg_chart(label, c, frame=SMALL, span=span)}</figure>" for label, c in (("before", before), ("after", after)))
        body.append(f"<h3>{e(title)}</h3><div class='charts'>{charts}</div>")
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>advisor tune</title><style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n"


def write_outputs(result: Any, out: str) -> dict[str, str]:
    """Write report.json, report.html, curves.png and final_config.json under ``out``."""
    os.makedirs(out, exist_ok=True)
    paths = {k: os.path.join(out, n) for k, n in (("json", "report.json"), ("html", "report.html"), ("png", "curves.png"), ("config", "final_config.json"))}
    _atomic(paths["json"], json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    _atomic(paths["html"], html_page(result))
    _atomic(paths["config"], json.dumps(result.final_config, indent=2, sort_keys=True) + "\n")
    shown = [a for a in result.attempts if "before" in a]
    first = shown[0] if shown else None
    last = result.rounds[-1] if result.rounds else first
    if first is not None and last is not None:
        lines = []
        b = chart_lines(result, {"config_hash_before": first["config_hash_before"]})
        a = chart_lines(result, {"config_hash_after": last["config_hash_after"]})
        lines = [(f"initial {lbl.split()[-1]} loss", x, y) for lbl, x, y in b] + [(f"final {lbl.split()[-1]} loss", x, y) for lbl, x, y in a]
        title = "initial vs final config (median over seeds)"
    else:
        lines, title = [], "no change tried"
    png = line_chart(lines, title=title, colors=TUNE_COLORS, xlabel="step", ylabel="loss")
    with open(paths["png"] + ".tmp", "wb") as fh:
        fh.write(png)
    os.replace(paths["png"] + ".tmp", paths["png"])
    return paths


def live_text(res: Mapping[str, Any], out: str) -> str:
    """``advisor tune --live`` as text: per seed what was found and applied, then the comparison."""
    lines = [f"advisor tune --live ({res['backend']}, {len(res['per_seed'])} seed(s), metric {res['metric']})", ""]
    for p in res["per_seed"]:
        acts = "; ".join(f"step {a['step']}: {a['action']} {a['params']}" for a in p["applied"]) or "nothing applied"
        found = ", ".join(f"{f['condition']}@{f['step']}" for f in p["live_findings"]) or "no live finding"
        lines.append(f"seed {p['seed']}: {found} -> {acts}; steps {p['plain_steps']} -> {p['live_steps']}")
    b, a = res["before"], res["after"]
    lines.append("")
    lines.append(f"{res['metric']}: plain {b['mean']} ± {b['std']} -> live {a['mean']} ± {a['std']} (effect {res['effect_size']}, improved in {res['improved_seeds']}/{len(res['per_seed'])})")
    lines.append(f"verified: {'yes' if res['verified'] else 'no'}; journal and live.json under {out}")
    return "\n".join(lines) + "\n"


def _atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
