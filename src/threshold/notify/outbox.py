"""Queueing messages in the outbox inside the caller's transaction, and claiming them for dispatch."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.notify.models import OutboxMessage


def enqueue(db: AsyncSession, audience: str, topic: str, home_id: uuid.UUID | None, payload: dict[str, Any],
            key: str, now: datetime) -> OutboxMessage:
    """Add a message to the outbox; it leaves only if the surrounding transaction commits."""
    msg = OutboxMessage(idempotency_key=key, audience=audience, topic=topic, home_id=home_id, payload=payload,
                        created_at=now, available_at=now)
    db.add(msg)
    return msg


async def claim(db: AsyncSession, now: datetime, limit: int = 50) -> list[OutboxMessage]:
    """Pending messages, locked so that concurrent workers never take the same one (SKIP LOCKED)."""
    q = (
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now)
        .order_by(OutboxMessage.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await db.execute(q)).scalars())


def backoff(attempts: int) -> timedelta:
    """Retry delay after `attempts` failures: exponential, capped at ten minutes."""
    return timedelta(seconds=min(600, 2 ** min(attempts, 10)))


class Channel(Protocol):
    """Delivers one outbox message (email, SMS, push, webhook); raises to ask for a retry."""

    async def deliver(self, message: OutboxMessage) -> None:
        """Deliver, idempotently by `message.idempotency_key`."""
