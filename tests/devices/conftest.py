"""Fixtures for the device adapter tests: a real Mosquitto for the run, an embedded broker, topics of a test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from threshold.devices.broker import EmbeddedBroker, MosquittoProcess


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def mqtt_url() -> AsyncIterator[str]:
    """A Mosquitto for the whole run: THRESHOLD_TEST_MQTT_URL when set, else one of our own on a free port."""
    url = os.environ.get("THRESHOLD_TEST_MQTT_URL")
    if url:
        yield url
        return
    broker = MosquittoProcess()
    await broker.start()
    try:
        yield broker.url
    finally:
        await broker.stop()


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
