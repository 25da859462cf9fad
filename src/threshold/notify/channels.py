"""Channel adapters. The log channel writes each message as a structured log line."""

from __future__ import annotations

import structlog

from threshold.notify.models import OutboxMessage

log = structlog.get_logger("threshold.notify")


class LogChannel:
    """Delivers by logging (the embedded default until email, SMS and webhooks are configured)."""

    def __init__(self) -> None:
        self.delivered: list[OutboxMessage] = []

    async def deliver(self, message: OutboxMessage) -> None:
        """Log the message; never logs secrets because messages never carry them."""
        self.delivered.append(message)
        log.info("notify", audience=message.audience, topic=message.topic, home=str(message.home_id),
                 key=message.idempotency_key)
