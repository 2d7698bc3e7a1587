"""Names and numbers from users' files that used to reach the terminal raw or crash a renderer."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from advisor.cli import main
from advisor.io.writer import EventWriter
from advisor.terminal import terminal_safe

EVIL = "x\x1b[2J\x1b]0;pwned\x07\nFAKE critical line\u202e"


def test_terminal_safe_spells_out_every_control_character():
    out = terminal_safe(EVIL)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert "\\e[2J" in out and "\\x07" in out and "\\n" in out and "\\u202e" in out
    assert terminal_safe("plain ünïcode ✓") == "plain ünïcode ✓"


def _write(d, tags_steps):
    os.makedirs(d, exist_ok=True)
    with EventWriter(d) as w:
        for tag, steps in tags_steps:
            for i, s in enumerate(steps):
                w.add_scalar(tag, float(2.0 * np.exp(-i / 40) + 0.1), int(s))


def test_escape_codes_in_tag_and_run_names_never_reach_the_terminal(tmp_path, capsys):
    run = tmp_path / ("run" + "\x1b[31m" + "\x07")
    _write(str(run), [("train/loss" + EVIL, range(0, 300)), ("val/loss", range(0, 300, 30))])
    main(["analyze", str(tmp_path)])
    out, err = capsys.readouterr()
    for stream in (out, err):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert "FAKE critical line" not in out.splitlines()  # never a line of its own


def _extreme(tmp_path, name, steps):
    d = tmp_path / name
    _write(str(d), [("train/loss", steps), ("val/loss", steps[::30])])
    return d


@pytest.mark.parametrize(
    "steps",
    [
        [2**63 - 400 + i for i in range(300)],  # float64 cannot tell these steps apart
        [int(s) for s in np.linspace(-(2**63), 2**63 - 1, 300, dtype=np.float64).clip(-(2**63), 2**63 - 1024)],
        [-(2**63) + i for i in range(300)],
    ],
    ids=["near-2^63", "full-int64-span", "near-minus-2^63"],
)
@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_steps_at_the_ends_of_int64_render_without_error_or_warning(tmp_path, steps, fmt):
    d = _extreme(tmp_path, "big", steps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy overflow warnings are bugs too
        code = main(["analyze", str(d), "--format", fmt, "-o", str(tmp_path / f"out.{fmt}")])
    assert code in (0, 1)
    assert (tmp_path / f"out.{fmt}").stat().st_size > 0
