"""The outbox dispatcher: claims committed messages and hands them to a channel, at least once."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.notify.outbox import Channel, backoff, claim

log = structlog.get_logger("threshold.notify")


async def dispatch_once(sessions: async_sessionmaker[AsyncSession], channel: Channel, now: datetime,
                        limit: int = 50) -> int:
    """Deliver one batch of due messages; a failure is retried later with backoff. Returns how many left."""
    sent = 0
    async with sessions() as db, db.begin():
        for msg in await claim(db, now, limit):
            try:
                await channel.deliver(msg)
            except Exception as exc:
                msg.attempts += 1
                msg.last_error = f"{type(exc).__name__}: {exc}"[:500]
                msg.available_at = now + backoff(msg.attempts)
                log.warning("outbox.retry", topic=msg.topic, attempts=msg.attempts)
                continue
            msg.sent_at = now
            msg.attempts += 1
            sent += 1
    return sent
