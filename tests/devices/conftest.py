"""Fixtures for the device adapter tests: an embedded broker and topics of a test's own.

The run's Mosquitto (`mqtt_url`) is tests/conftest.py's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from threshold.devices.broker import EmbeddedBroker


@pytest.fixture
async def embedded_url() -> AsyncIterator[str]:
    """An amqtt broker in the test's own event loop (MQTT 3.1.1 only)."""
    broker = EmbeddedBroker()
    await broker.start()
    try:
        yield broker.url
    finally:
        await broker.stop()


@pytest.fixture(params=["mosquitto", "embedded"])
def any_broker(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(broker URL, MQTT version the adapter should settle on): Mosquitto speaks 5, amqtt only 3.1.1."""
    if request.param == "mosquitto":
        return request.getfixturevalue("mqtt_url"), "5"
    return request.getfixturevalue("embedded_url"), "3.1.1"


@dataclass(frozen=True, slots=True)
class Names:
    """Topics and client ids no other test uses, so retained messages never leak between tests."""

    tag: str
    base: str
    prefix: str

    def client(self, role: str) -> str:
        """A client id of this test's own."""
        return f"{role}-{self.tag}"


@pytest.fixture
def names() -> Names:
    """A fresh zigbee2mqtt base topic, discovery prefix and client-id tag for one test."""
    tag = uuid.uuid4().hex[:10]
    return Names(tag, f"z2m-{tag}", f"ha-{tag}")
