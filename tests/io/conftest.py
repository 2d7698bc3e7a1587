"""Fixtures for the io tests."""

from __future__ import annotations

import pytest

from advisor.io import _fast, _fast_file, _fast_shape


@pytest.fixture
def eager_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the fast path batch even tiny files and short cycles, so small test files exercise it."""
    monkeypatch.setattr(_fast, "MIN_BYTES", 0)
    monkeypatch.setattr(_fast, "FIRST_WINDOW", 2)
    monkeypatch.setattr(_fast, "BATCH_BYTES", 512)  # several batches per stretch: the seams get tested


@pytest.fixture(autouse=True)
def fresh_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """No whole-file plan from another test: tests that watch which path read a file see the
    same paths whatever ran before them (tests/io/test_io_plans.py builds its own)."""
    monkeypatch.setattr(_fast_file, "_PLANS", {})
    monkeypatch.setattr(_fast_file, "_SEEN", {})
    monkeypatch.setattr(_fast_file, "_held", 0)
    monkeypatch.setattr(_fast_file, "_stats", [0, 0])
    monkeypatch.setattr(_fast_shape, "_SHAPES", {})
    monkeypatch.setattr(_fast_shape, "_KEYS", {})
    monkeypatch.setattr(_fast_shape, "_count", [0])
    monkeypatch.setattr(_fast_shape, "_framing_bytes", [0])
