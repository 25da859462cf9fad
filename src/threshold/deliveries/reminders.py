"""The morning of a delivery: each household hears of the day's window once, at its local morning hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.deliveries.models import Delivery
from threshold.homes.models import Home
from threshold.notify.models import OutboxMessage
from threshold.notify.outbox import enqueue


def due(window_start: datetime, now: datetime, tz: str, morning_hour: int) -> bool:
    """True when it is the window's local day and past the morning hour, but before the window opens."""
    zone = ZoneInfo(tz)
    local_now, local_start = now.astimezone(zone), window_start.astimezone(zone)
    return local_now.date() == local_start.date() and local_now.hour >= morning_hour and now < window_start


async def window_today(db: AsyncSession, now: datetime, morning_hour: int) -> int:
    """Queue today's window message for every delivery that is due one and has not had it."""
    q = (select(Delivery, Home.timezone).join(Home, Home.id == Delivery.home_id)
         .where(Delivery.status.in_(("created", "assigned")), Delivery.window_start > now,
                Delivery.window_start <= now + timedelta(hours=24)))
    rows = [(d, tz) for d, tz in (await db.execute(q)).tuples() if due(d.window_start, now, tz, morning_hour)]
    if not rows:
        return 0
    keys = {f"delivery:{d.id}:window_today" for d, _ in rows}
    sent = set((await db.execute(select(OutboxMessage.idempotency_key)
                                 .where(OutboxMessage.idempotency_key.in_(keys)))).scalars())
    queued = 0
    for d, _ in rows:
        key = f"delivery:{d.id}:window_today"
        if key in sent:
            continue
        enqueue(db, "household", "window.today", d.home_id,
                {"delivery": str(d.id), "window_start": d.window_start.isoformat(),
                 "window_end": d.window_end.isoformat(), "in_home": d.mode == "in_home"}, key, now)
        queued += 1
    return queued
