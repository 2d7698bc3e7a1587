"""Suite-wide isolation: tune's training cache (shared across tunings, ~/.cache by default) is a
fresh directory per test, so no test reads trainings an earlier run stored and none writes into
the user's home. A test that exercises the cache sets ADVISOR_CACHE itself."""

import pytest


@pytest.fixture(autouse=True)
def _private_training_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path_factory.mktemp("advisor-cache")))
