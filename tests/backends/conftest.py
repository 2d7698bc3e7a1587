"""The ``trainer`` fixture: each test that takes it runs once per backend."""

from __future__ import annotations

import importlib

import pytest
from trainer_helpers import BACKENDS


@pytest.fixture(params=list(BACKENDS))
def trainer(request):
    return importlib.import_module(BACKENDS[request.param])
