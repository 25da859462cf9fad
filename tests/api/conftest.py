"""Fixtures for the HTTP tests."""

from __future__ import annotations

import pytest
from api_helpers import Api

from threshold.sim.harness import Harness


@pytest.fixture
def api(harness: Harness) -> Api:
    """HTTP helpers bound to the test's running threshold."""
    return Api(harness)
