"""Fixtures for the io tests."""

from __future__ import annotations

import pytest

from advisor.io import _fast


@pytest.fixture
def eager_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the fast path batch even tiny files and short cycles, so small test files exercise it."""
    monkeypatch.setattr(_fast, "MIN_BYTES", 0)
    monkeypatch.setattr(_fast, "FIRST_WINDOW", 2)
    monkeypatch.setattr(_fast, "BATCH_BYTES", 512)  # several batches per stretch: the seams get tested
