"""What a simulated run left behind per delivery: its clip file and the notifications sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession
from threshold.notify.models import Notification, OutboxMessage
from threshold.sim.harness import Harness
from threshold.video.models import Clip

EMPTY: dict[str, Any] = {"clip": None, "notifications": []}
# Sessions that ended while waiting for the household, before any camera was asked to record.
NEVER_RECORDED = ("approval_declined", "approval_timeout")


async def settled(h: Harness, timeout: float = 60.0) -> bool:
    """Wait until every clip is sealed and every notification has left (or is dead-lettered)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        async with h.app.state.sessions() as db:
            recording = (await db.execute(select(func.count()).select_from(Clip)
                                          .where(Clip.status == "recording"))).scalar_one()
            events = (await db.execute(select(func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.sent_at.is_(None)))).scalar_one()
            pending = (await db.execute(select(func.count()).select_from(Notification)
                                        .where(Notification.status == "pending"))).scalar_one()
            live = (await db.execute(select(func.count()).select_from(EntrySession)
                                     .where(EntrySession.live.is_(True)))).scalar_one()
            # A session that passed the household's approval is recorded, even one that ended at once.
            unrecorded = (await db.execute(select(func.count()).select_from(EntrySession).where(
                ~exists().where(Clip.session_id == EntrySession.id),
                EntrySession.reason.is_(None) | EntrySession.reason.not_in(NEVER_RECORDED)))).scalar_one()
        if recording == events == pending == live == unrecorded == 0:
            return True
        await asyncio.sleep(0.2)
    return False


async def per_delivery(db: AsyncSession, delivery_ids: list[str]) -> dict[str, dict[str, Any]]:
    """For each delivery: the clip of its (last) session and the notifications sent about it."""
    found: dict[str, dict[str, Any]] = {d: {"clip": None, "notifications": []} for d in delivery_ids}
    ids = [uuid.UUID(d) for d in delivery_ids]
    q = (select(EntrySession.delivery_id, Clip).join(Clip, Clip.session_id == EntrySession.id)
         .where(EntrySession.delivery_id.in_(ids)).order_by(EntrySession.requested_at))
    for delivery_id, clip in (await db.execute(q)).tuples():
        found[str(delivery_id)]["clip"] = {"file": clip.path, "status": clip.status, "failure": clip.failure,
                                           "seconds": clip.duration, "sha256": clip.sha256}
    rows = (await db.execute(select(Notification).where(Notification.status == "sent")
                             .order_by(Notification.sent_at))).scalars()
    for n in rows:
        key = str(n.data.get("delivery") or "")
        if key in found:
            found[key]["notifications"].append({"channel": n.channel, "moment": n.moment, "to": n.recipient})
    return found
