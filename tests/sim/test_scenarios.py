"""Every named scenario ends in its safe outcome, through the MQTT adapter on a real broker.

On PostgreSQL the devices speak zigbee2mqtt on the run's Mosquitto; on SQLite on the embedded broker the demo
uses. The broker-outage scenario, which needs a broker it can stop, is in test_outage.py.
"""

from __future__ import annotations

import pytest

from threshold.sim.harness import Harness
from threshold.sim.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_ends_in_its_safe_outcome(name: str, wired_harness: Harness) -> None:
    result = await SCENARIOS[name](wired_harness)
    assert result.ok, (result.failures, result.facts)
