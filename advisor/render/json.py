"""SPEC §4 JSON: one object, keys never change meaning."""

from __future__ import annotations

import json

from advisor.model import Report


def render(report: Report, curves: dict | None = None) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
