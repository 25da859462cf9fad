"""Doors outside sessions: the reconciler relocks doors found open that no session owns (an alarm only if the
relock does not land), and the door watch turns a door opening that no session unlocked into an incident (rule in
`access/watch.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import alerts, incidents, watch
from threshold.access.models import EntrySession, Incident
from threshold.audit import service as audit
from threshold.homes.models import Device, EntryPoint
from threshold.notify.outbox import enqueue

# A door that reported itself stuck (a jammed bolt, a garage door stopped part-way) is not driven again: its
# session already retried and escalated, and forcing a motor against a jam or an obstruction only does harm.
OPEN_STATES = {"lock": ("unlocked", "open", "unlocking"), "garage": ("open", "opening")}


def relock_window(settings: Any) -> timedelta:
    """How long a relock may take before a door found open is an alarm: the session's own lock wait and retries."""
    return timedelta(seconds=float(getattr(settings, "lock_timeout", 5.0)) * 3 + 2)


async def orphan_doors(db: AsyncSession, now: datetime, window: timedelta, device_id: uuid.UUID | None = None,
                       reported: str | None = None, pending: bool = False) -> list[tuple[str, str]]:
    """Doors open that no session owns: relock them, and alarm only for one still open past the relock deadline.

    A door is a session's while the session is live and for `alerts.OWNER_GRACE` after it ends (its relock may be
    confirmed in a device row not yet written). First sight of an unowned open door sends a relock and audits it;
    the household hears of it as a notice if the relock lands (`settled`), as an alarm (an incident with reminders
    and an all-clear) if the door is still open at the deadline. `reported`, with `device_id`, is the state that
    door just reported, fresher than its row (device rows are written behind); `pending` looks only at doors
    awaiting a relock (the frequent check of deadlines). Returns the relock commands.
    """
    q = select(Device).where(Device.kind.in_(("lock", "garage")))
    if device_id is not None:
        q = q.where(Device.id == device_id)
    if pending:
        q = q.where(Device.relock_due_at.is_not(None))
    found = {d: (reported if device_id is not None and reported else d.state) for d in (await db.execute(q)).scalars()}
    # Awaiting a relock, a door is done when it says it is secured; one that jammed instead is still open.
    doors = [d for d, state in found.items()
             if state in OPEN_STATES[d.kind] or (d.relock_due_at is not None and state != alerts.SECURED[d.kind])]
    # A row may lag the report that was judged at first sight (rows are written behind): a row saying "locked"
    # settles a relock only once the deadline passed; before that only a fresh report does (`settle`).
    settled = [d for d, state in found.items() if d.relock_due_at is not None and state == alerts.SECURED[d.kind]
               and (now >= d.relock_due_at or (device_id is not None and reported))]
    for door in settled:
        await _settled(db, door, found[door], now)
    if not doors:
        return []
    ids = [d.id for d in doors]
    # A fresh report is the door as it is now: only a live session owns it. A row may be older than the end of
    # the session that just relocked the door, so judged from rows the door stays the session's a little longer.
    fresh = device_id is not None and reported is not None
    held = EntrySession.holds_door.is_(True) if fresh else or_(EntrySession.holds_door.is_(True),
                                                                 EntrySession.ended_at >= now - alerts.OWNER_GRACE)
    owned = set((await db.execute(select(EntrySession.lock_device_id).where(
        EntrySession.lock_device_id.in_(ids), held))).scalars())
    # A person is already on a door when an unresolved door incident names it or its way in (a door_reopened
    # incident names the door's contact, not its lock).
    entries = [d.entry_point_id for d in doors if d.entry_point_id is not None]
    on_it = (await db.execute(select(Incident.device_id, Incident.entry_point_id).where(
        or_(Incident.device_id.in_(ids), Incident.entry_point_id.in_(entries)), Incident.status == "open",
        Incident.resolved_at.is_(None), Incident.kind.in_(alerts.DOOR_KINDS)))).tuples().all()
    covered = {i for i, _ in on_it} | {e for _, e in on_it}
    commands = []
    for door in doors:
        if door.id in owned:
            continue
        # An offline door cannot hear a command (it is relocked when it comes back and reports itself open), but a
        # door last seen open that then went silent is still an open door: its deadline runs all the same.
        drivable = found[door] in OPEN_STATES[door.kind] and door.online
        if door.id in covered or door.entry_point_id in covered:
            # A person is already told and reminded: try the lock again, quietly.
            if drivable:
                commands.append((str(door.id), "lock"))
        elif door.relock_due_at is None:
            if await _due(db, door, None, now + window):
                await audit.append(db, door.home_id, "reconciler", "door.found_open", f"device:{door.id}",
                                   {"found": found[door], "online": door.online,
                                    "relock_due_at": (now + window).isoformat()}, now)
                if drivable:
                    commands.append((str(door.id), "lock"))
        elif now >= door.relock_due_at and await _due(db, door, door.relock_due_at, None):
            await _still_open(db, door, found[door], now)
            if drivable:
                commands.append((str(door.id), "lock"))
    return commands


async def _due(db: AsyncSession, door: Device, was: datetime | None, to: datetime | None) -> bool:
    """Move a door's relock deadline from `was` to `to` unless another process moved it first."""
    cond = Device.relock_due_at.is_(None) if was is None else Device.relock_due_at == was
    done = (await db.execute(update(Device).where(Device.id == door.id, cond).values(relock_due_at=to)
                             .returning(Device.id))).first()
    if done is not None:
        door.relock_due_at = to
    return done is not None


async def _settled(db: AsyncSession, door: Device, state: str, now: datetime) -> None:
    """The relock of a door found open landed: audited, and the household is told (a notice, not an alarm)."""
    due = door.relock_due_at
    if due is None or not await _due(db, door, due, None):
        return
    await audit.append(db, door.home_id, "reconciler", "door.relocked", f"device:{door.id}", {"state": state}, now)
    entry = await db.get(EntryPoint, door.entry_point_id) if door.entry_point_id else None
    enqueue(db, "household", "door.relocked", door.home_id,
            {"device": str(door.id), "home": str(door.home_id), "entry_point": entry.label if entry else None,
             "locked_at": now.isoformat()}, f"relocked:{door.id}:{due.isoformat()}", now)


async def settle(db: AsyncSession, device_id: uuid.UUID, state: str, now: datetime) -> None:
    """A door reported itself shut: if the watch was waiting on its relock, that relock landed."""
    door = await db.get(Device, device_id)
    if door is not None and door.relock_due_at is not None and state == alerts.SECURED.get(door.kind):
        await _settled(db, door, state, now)


async def _still_open(db: AsyncSession, door: Device, state: str, now: datetime) -> None:
    """Past the relock deadline and still open: one incident, one alarm, reminders until it is locked."""
    inc = incidents.new(door.home_id, "door_found_open", now, entry_point_id=door.entry_point_id,
                        device_id=door.id, detail={"device": str(door.id), "state": state, "online": door.online})
    db.add(inc)
    await audit.append_many(db, door.home_id, [
        ("reconciler", "door.not_relocked", f"device:{door.id}", {"state": state}),
        ("reconciler", "incident.opened", f"incident:{inc.id}", {"kind": inc.kind}),
    ], now)
    data = await incidents.describe(db, inc, found=state, reason=None if door.online else "lock_offline")
    for audience in incidents.AUDIENCES:
        enqueue(db, audience, "door.found_open", door.home_id, data, f"found_open:{inc.id}:{audience}", now)


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
            Incident.entry_point_id == entry, Incident.status == "open", Incident.resolved_at.is_(None),
            Incident.kind.in_(watch.DOOR_INCIDENTS))
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
    incident = incidents.new(device.home_id, "door_reopened", now, session_id=session.id if session else None,
                             entry_point_id=device.entry_point_id, device_id=device.id,
                             detail={"device": str(device.id), "state": state})
    db.add(incident)
    data = {"device": str(device.id), "state": state, "session": str(session.id) if session else None}
    await audit.append_many(db, device.home_id, [
        ("watch", "door.reopened", f"device:{device.id}", data),
        ("watch", "incident.opened", f"incident:{incident.id}", {"kind": "door_reopened"}),
    ], now)
    payload = await incidents.describe(db, incident, state=state)
    for audience in ("household", "operator"):
        enqueue(db, audience, "door.reopened", device.home_id, payload, f"watch:{incident.id}:{audience}", now)
