"""Renderers: text (terminal), json (SPEC §4), markdown and html (self-contained, with plots)."""

from __future__ import annotations

from typing import Any, Callable

FORMATS = ("text", "json", "markdown", "html")


def get(fmt: str) -> Callable[..., str]:
    """The render function for ``fmt``: render(report, curves=None, **kw) -> str."""
    if fmt == "text":
        from advisor.render.text import render
    elif fmt == "json":
        from advisor.render.json import render
    elif fmt == "markdown":
        from advisor.render.markdown import render
    elif fmt == "html":
        from advisor.render.html import render
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return render


def render(fmt: str, report: Any, curves: Any = None, **kw: Any) -> str:
    return get(fmt)(report, curves, **kw)
