"""Every named scenario ends in its safe outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from threshold.sim.harness import Harness
from threshold.sim.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_ends_in_its_safe_outcome(name: str, harness: Harness) -> None:
    result = await SCENARIOS[name](harness)
    assert result.ok, (result.failures, result.facts)
