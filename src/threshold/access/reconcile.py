"""Doors outside sessions: the reconciler relocks doors found open with no live session, and the door watch
turns a door opening that no session unlocked into an incident (rule in `access/watch.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import watch
from threshold.access.models import EntrySession, Incident
from threshold.audit import service as audit
from threshold.homes.models import Device
from threshold.notify.outbox import enqueue

# A door that reported itself stuck (a jammed bolt, a garage door stopped part-way) is not driven again: its
# session already retried and escalated, and forcing a motor against a jam or an obstruction only does harm.
OPEN_STATES = {"lock": ("unlocked", "open", "unlocking"), "garage": ("open", "opening")}


async def orphan_doors(db: AsyncSession, now: datetime, device_id: uuid.UUID | None = None,
                       reported: str | None = None) -> list[tuple[str, str]]:
    """Doors open with no live session: audit, tell the household, and return the relock commands.

    `reported`, with `device_id`, is the state that door just reported, fresher than its row (device rows are
    written behind).
    """
    q = select(Device).where(Device.kind.in_(("lock", "garage")))
    if device_id is not None:
        q = q.where(Device.id == device_id)
    found = {d: (reported if device_id is not None and reported else d.state) for d in (await db.execute(q)).scalars()}
    doors = [d for d, state in found.items() if state in OPEN_STATES[d.kind]]
    if not doors:
        return []
    busy = set((await db.execute(select(EntrySession.lock_device_id).where(
        EntrySession.holds_door.is_(True)))).scalars())
    commands = []
    for door in doors:
        # An offline door cannot hear a command; it is relocked when it comes back and reports itself open.
        if door.id in busy or not door.online:
            continue
        await audit.append(db, door.home_id, "reconciler", "door.relocked", f"device:{door.id}",
                           {"found": found[door]}, now)
        enqueue(db, "household", "door.found_open", door.home_id,
                {"device": str(door.id), "home": str(door.home_id), "found": found[door]},
                f"reconcile:{door.id}:{now.isoformat()}", now)
        commands.append((str(door.id), "lock"))
    return commands


async def door_changed(db: AsyncSession, device_id: uuid.UUID, state: str, now: datetime) -> watch.Verdict | None:
    """A door contact or garage door moved: record it where it belongs, or raise a door_reopened incident."""
    device = await db.get(Device, device_id)
    if device is None or watch.position(device.kind, state) is None:
        return None
    # Device rows are written behind; the row must agree with what was judged, in the same transaction, or a
    # person could close the incident against a row that still says the door is shut. The hub handles one
    # device's reports in order and waits for this, so a later report's write always lands after this one.
    device.state = state
    entry = device.entry_point_id
    live = covering = None
    if entry is not None:
        live = (await db.execute(select(EntrySession).where(
            EntrySession.entry_point_id == entry, EntrySession.holds_door.is_(True)))).scalar_one_or_none()
        covering = (await db.execute(select(Incident).where(
            Incident.entry_point_id == entry, Incident.status == "open", Incident.kind.in_(watch.DOOR_INCIDENTS))
            .order_by(Incident.opened_at.desc()).limit(1))).scalar_one_or_none()
    verdict = watch.judge(device.kind, state, live.state if live else None, covering is not None)
    action = "door.opened" if watch.position(device.kind, state) == "open" else "door.closed"
    data: dict[str, Any] = {"device": str(device.id), "state": state}
    if verdict is watch.Verdict.EXPECTED and live is not None and device.kind == "contact":
        # A garage door is the session's own lock: the machine already records what it reports.
        await audit.append(db, device.home_id, "watch", action, f"session:{live.id}", data, now)
    elif verdict is watch.Verdict.COVERED and covering is not None:
        await audit.append(db, device.home_id, "watch", action, f"incident:{covering.id}", data, now)
    elif verdict is watch.Verdict.ALERT:
        await _reopened(db, device, state, live, now)
    return verdict


async def _reopened(db: AsyncSession, device: Device, state: str, live: EntrySession | None,
                    now: datetime) -> None:
    session = live
    if session is None and device.entry_point_id is not None:
        session = (await db.execute(select(EntrySession).where(
            EntrySession.entry_point_id == device.entry_point_id, EntrySession.ended_at.is_not(None))
            .order_by(EntrySession.ended_at.desc()).limit(1))).scalar_one_or_none()
    incident = Incident(id=uuid.uuid4(), home_id=device.home_id, session_id=session.id if session else None,
                        entry_point_id=device.entry_point_id, kind="door_reopened", opened_at=now,
                        detail={"device": str(device.id), "state": state})
    db.add(incident)
    data = {"device": str(device.id), "state": state, "session": str(session.id) if session else None}
    await audit.append_many(db, device.home_id, [
        ("watch", "door.reopened", f"device:{device.id}", data),
        ("watch", "incident.opened", f"incident:{incident.id}", {"kind": "door_reopened"}),
    ], now)
    payload = {**data, "home": str(device.home_id), "incident": str(incident.id),
               "entry_point": str(device.entry_point_id) if device.entry_point_id else None}
    for audience in ("household", "operator"):
        enqueue(db, audience, "door.reopened", device.home_id, payload, f"watch:{incident.id}:{audience}", now)
