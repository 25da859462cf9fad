"""The broker goes away mid-session and comes back: a real Mosquitto of the test's own, then amqtt."""

from __future__ import annotations

import pytest

from threshold.sim.harness import running
from threshold.sim.outage import broker_outage


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
async def test_broker_outage_ends_safely(broker: str, database_url: str) -> None:
    async with running(database_url, mqtt=broker) as h:
        result = await broker_outage(h)
    assert result.ok, (result.failures, result.facts)


async def test_broker_outage_needs_a_broker_it_controls() -> None:
    async with running() as h:
        result = await broker_outage(h)
    assert not result.ok and "needs devices on a broker" in result.failures[0]
