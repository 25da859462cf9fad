"""The reconciler's rule: a door found open with no live session is relocked and reported."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession
from threshold.audit import service as audit
from threshold.homes.models import Device
from threshold.notify.outbox import enqueue

OPEN_STATES = {"lock": ("unlocked", "open", "unlocking"), "garage": ("open", "opening", "stopped")}


async def orphan_doors(db: AsyncSession, now: datetime, device_id: uuid.UUID | None = None,
                       reported: str | None = None) -> list[tuple[str, str]]:
    """Doors open with no live session: audit, tell the household, and return the relock commands.

    `reported` is the state a door just reported, fresher than its row (device rows are written behind).
    """
    q = select(Device).where(Device.kind.in_(("lock", "garage")))
    if device_id is not None:
        q = q.where(Device.id == device_id)
    doors = [d for d in (await db.execute(q)).scalars()
             if (reported if device_id is not None and reported else d.state) in OPEN_STATES[d.kind]]
    if not doors:
        return []
    busy = set((await db.execute(select(EntrySession.lock_device_id).where(
        EntrySession.live.is_(True)))).scalars())
    commands = []
    for door in doors:
        if door.id in busy:
            continue
        found = reported if device_id is not None and reported else door.state
        await audit.append(db, door.home_id, "reconciler", "door.relocked", f"device:{door.id}",
                           {"found": found}, now)
        enqueue(db, "household", "door.found_open", door.home_id,
                {"device": str(door.id), "home": str(door.home_id), "found": found},
                f"reconcile:{door.id}:{now.isoformat()}", now)
        commands.append((str(door.id), "lock"))
    return commands
