"""Fixtures for the notification channels: a started mail catcher, a fake SMS gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_twilio import FakeTwilio

from threshold.notify.mailcatcher import MailCatcher


@pytest.fixture
async def mail_catcher() -> AsyncIterator[MailCatcher]:
    """A mail catcher on loopback that refuses refused.example (550) and defers deferred.example (451)."""
    catcher = MailCatcher(refuse_domains=["refused.example"], defer_domains=["deferred.example"])
    await catcher.start()
    yield catcher
    await catcher.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """A Twilio-compatible SMS gateway on loopback."""
    async with FakeTwilio.running() as fake:
        yield fake
