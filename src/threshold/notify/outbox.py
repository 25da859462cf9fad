"""Queueing events in the outbox inside the caller's transaction (invariant 3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from threshold.notify.models import OutboxMessage


def enqueue(db: AsyncSession, audience: str, topic: str, home_id: uuid.UUID | None, payload: dict[str, Any],
            key: str, now: datetime) -> OutboxMessage:
    """Add an event to the outbox; it leaves only if the surrounding transaction commits."""
    msg = OutboxMessage(idempotency_key=key, audience=audience, topic=topic, home_id=home_id, payload=payload,
                        created_at=now, available_at=now)
    db.add(msg)
    return msg
