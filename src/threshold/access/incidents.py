"""Incidents as problems people are told about (rules in `access/alerts.py`): opened with one alarm, reminded on a
schedule, resolved with an all-clear when the devices say the problem is over. Never commits.

Whoever sees a device change (the runner, in the transaction that handles the report) resolves what it cleared; the
alerts loop (`sweep`) does the same from stored states, so an all-clear cannot be lost with a process.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import alerts
from threshold.access.models import EntrySession, Incident
from threshold.audit import service as audit
from threshold.homes import entry_devices
from threshold.homes.models import Device, EntryPoint
from threshold.notify.outbox import enqueue

AUDIENCES = ("household", "operator")


def new(home_id: uuid.UUID, kind: str, now: datetime, *, session_id: uuid.UUID | None = None,
        entry_point_id: uuid.UUID | None = None, device_id: uuid.UUID | None = None,
        detail: dict[str, Any] | None = None) -> Incident:
    """A new open incident with its first reminder scheduled when its kind alarms people."""
    return Incident(id=uuid.uuid4(), home_id=home_id, session_id=session_id, entry_point_id=entry_point_id,
                    device_id=device_id, kind=kind, status="open", opened_at=now, detail=detail or {},
                    reminders_sent=0,
                    next_reminder_at=alerts.next_reminder(now, 0) if kind in alerts.ALARMED else None)


def for_session(row: EntrySession, kind: str, reason: str | None, now: datetime) -> Incident:
    """The incident a session's machine opened (the door left unsecured, the alarm not re-armed)."""
    device = row.alarm_device_id if kind in alerts.ALARM_KINDS else row.lock_device_id
    return new(row.home_id, kind, now, session_id=row.id, entry_point_id=row.entry_point_id, device_id=device,
               detail={"reason": reason})


def payload(inc: Incident, **extra: Any) -> dict[str, Any]:
    """What an incident's messages carry (the fan-out adds names and links)."""
    return {"incident": str(inc.id), "kind": inc.kind, "home": str(inc.home_id),
            "session": str(inc.session_id) if inc.session_id else None,
            "device": str(inc.device_id) if inc.device_id else None,
            "entry_point_id": str(inc.entry_point_id) if inc.entry_point_id else None,
            "opened_at": inc.opened_at.isoformat(), "schedule": alerts.SCHEDULE_WORDS, **extra}


async def describe(db: AsyncSession, inc: Incident, **extra: Any) -> dict[str, Any]:
    """`payload` with the door's name, for the words."""
    entry = await db.get(EntryPoint, inc.entry_point_id) if inc.entry_point_id else None
    return payload(inc, entry_point=entry.label if entry else None, **extra)


async def resolve(db: AsyncSession, inc: Incident, how: str, now: datetime, actor: str = "watch") -> bool:
    """The problem is over: stamp it, stop the reminders, audit it and send the all-clear (once, whoever asks)."""
    # A compare-and-set: two processes seeing the same lock report send one all-clear between them.
    done = (await db.execute(update(Incident).where(Incident.id == inc.id, Incident.resolved_at.is_(None))
                             .values(resolved_at=now, resolved_how=how, next_reminder_at=None)
                             .returning(Incident.id))).first()
    if done is None:
        return False
    inc.resolved_at, inc.resolved_how, inc.next_reminder_at = now, how, None
    await audit.append(db, inc.home_id, actor, "incident.resolved", f"incident:{inc.id}",
                       {"kind": inc.kind, "how": how}, now)
    data = await describe(db, inc, resolved_at=now.isoformat(), how=how)
    for audience in AUDIENCES:
        enqueue(db, audience, "incident.resolved", inc.home_id, data, f"resolved:{inc.id}:{audience}", now)
    return True


async def _unresolved(db: AsyncSession, *where: Any, limit: int | None = None) -> list[Incident]:
    # Alarmed incidents carry a reminder time until they are resolved; one opened before alerts existed has none
    # and is left to the person who closes it (an all-clear years late would only confuse).
    q = select(Incident).where(Incident.status == "open", Incident.resolved_at.is_(None),
                               Incident.next_reminder_at.is_not(None), Incident.kind.in_(alerts.ALARMED), *where)
    return list((await db.execute(q.order_by(Incident.next_reminder_at).limit(limit))).scalars())


async def _states(db: AsyncSession, home_id: uuid.UUID,
                  fresh: dict[uuid.UUID, str]) -> tuple[list[Device], dict[uuid.UUID, str]]:
    rows = list((await db.execute(select(Device).where(Device.home_id == home_id))).scalars())
    # A report being handled is fresher than its row (rows are written behind).
    return rows, {d.id: fresh.get(d.id, d.state) for d in rows}


def _cleared(inc: Incident, found: tuple[list[Device], dict[uuid.UUID, str]]) -> str | None:
    """How the incident's problem cleared, or None while it lasts."""
    devices, states = found
    kinds = {d.id: d.kind for d in devices}
    if inc.kind in alerts.ALARM_KINDS:
        armed = inc.device_id is not None and alerts.alarm_armed(states.get(inc.device_id))
        return "armed" if armed else None
    entry = inc.entry_point_id
    ids: tuple[uuid.UUID, ...] = (inc.device_id,) if inc.device_id in kinds else ()
    if entry is not None:
        ids = entry_devices.securing(entry, [entry_devices.placed(d) for d in devices])
    if not ids:
        # The door's devices were removed from the home: nothing is left to report on, so nothing to remind of.
        return "devices_removed"
    return "locked" if alerts.door_secured((kinds[i], states[i]) for i in ids) else None


async def resolve_for_device(db: AsyncSession, device_id: uuid.UUID, state: str, now: datetime) -> int:
    """A device reported `state`: resolve every incident of its home that this report cleared."""
    device = await db.get(Device, device_id)
    if device is None:
        return 0
    if device.kind == "alarm" and not alerts.alarm_armed(state):
        return 0
    if device.kind in alerts.SECURED and state != alerts.SECURED[device.kind]:
        return 0
    about = [Incident.device_id == device.id]
    if device.entry_point_id is not None:
        about.append(Incident.entry_point_id == device.entry_point_id)
    found = await _unresolved(db, Incident.home_id == device.home_id, or_(*about))
    if not found:
        return 0
    devices = await _states(db, device.home_id, {device.id: state})
    resolved = 0
    for inc in found:
        how = _cleared(inc, devices)
        if how is not None and await resolve(db, inc, how, now):
            resolved += 1
    return resolved


async def sweep(db: AsyncSession, now: datetime, limit: int = 200) -> tuple[int, int]:
    """From stored states: resolve what cleared, then send every reminder that is due. Returns (resolved, sent)."""
    resolved = 0
    homes: dict[uuid.UUID, tuple[list[Device], dict[uuid.UUID, str]]] = {}
    for inc in await _unresolved(db, limit=limit):
        if inc.home_id not in homes:
            homes[inc.home_id] = await _states(db, inc.home_id, {})
        how = _cleared(inc, homes[inc.home_id])
        if how is not None and await resolve(db, inc, how, now):
            resolved += 1
    due = list((await db.execute(select(Incident).where(
        Incident.status == "open", Incident.resolved_at.is_(None), Incident.next_reminder_at <= now)
        .order_by(Incident.next_reminder_at).limit(limit))).scalars())
    sent = 0
    for inc in due:
        number = inc.reminders_sent + 1
        following = alerts.next_reminder(inc.opened_at, number)
        taken = (await db.execute(update(Incident).where(
            Incident.id == inc.id, Incident.reminders_sent == inc.reminders_sent, Incident.resolved_at.is_(None))
            .values(reminders_sent=number, next_reminder_at=following).returning(Incident.id))).first()
        if taken is None:
            continue
        data = await describe(db, inc, reminder=number, next_at=following.isoformat())
        enqueue(db, "household", "incident.reminder", inc.home_id, data, f"reminder:{inc.id}:{number}", now)
        await audit.append(db, inc.home_id, "watch", "incident.reminded", f"incident:{inc.id}",
                           {"kind": inc.kind, "reminder": number}, now)
        sent += 1
    return resolved, sent


async def closing(db: AsyncSession, inc: Incident, actor: str, now: datetime) -> None:
    """A person closes an incident whose problem had not cleared by itself: the reminders end with an all-clear."""
    if inc.resolved_at is None and inc.kind in alerts.ALARMED:
        await resolve(db, inc, "closed", now, actor)


async def device_notices(db: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Tell households once that a device went offline (or came back) or runs low on battery."""
    told = 0
    # Only devices with something to tell or to forget: the few that changed, not every device of every home.
    rows = (await db.execute(select(Device, EntryPoint.label).outerjoin(
        EntryPoint, EntryPoint.id == Device.entry_point_id).where(or_(
            and_(Device.online.is_(False), Device.offline_told_at.is_(None)),
            and_(Device.online.is_(True), Device.offline_told_at.is_not(None)),
            and_(Device.battery < alerts.LOW_BATTERY, Device.battery_told_at.is_(None)),
            and_(Device.battery >= alerts.BATTERY_OK, Device.battery_told_at.is_not(None)))).limit(limit))).tuples()
    for device, where in rows:
        base = {"device": str(device.id), "home": str(device.home_id), "device_kind": device.kind,
                "entry_point": where}
        if not device.online and device.offline_told_at is None:
            since = device.last_seen or now
            # A device never heard from is told at once: there is no blip to wait out.
            waited = device.last_seen is None or now - since >= alerts.OFFLINE_GRACE
            if waited and await _mark(db, device, "offline_told_at", now):
                enqueue(db, "household", "device.offline", device.home_id,
                        {**base, "since": since.isoformat(), "meaning": alerts.offline_meaning(device.kind)},
                        f"offline:{device.id}:{since.isoformat()}", now)
                told += 1
        elif device.online and device.offline_told_at is not None:
            told_at = device.offline_told_at
            if await _mark(db, device, "offline_told_at", None):
                enqueue(db, "household", "device.online", device.home_id, {**base, "back_at": now.isoformat()},
                        f"online:{device.id}:{told_at.isoformat()}", now)
                told += 1
        verdict = alerts.battery_low(device.battery, device.battery_told_at is not None)
        if verdict is True and await _mark(db, device, "battery_told_at", now):
            enqueue(db, "household", "device.battery_low", device.home_id,
                    {**base, "battery": device.battery, "meaning": alerts.BATTERY_MEANING},
                    f"battery:{device.id}:{now.isoformat()}", now)
            told += 1
        elif verdict is False:
            await _mark(db, device, "battery_told_at", None)
    return told


async def _mark(db: AsyncSession, device: Device, column: str, value: datetime | None) -> bool:
    """Set a told-at column if nobody else changed it first (several workers run this loop)."""
    current = getattr(device, column)
    cond = getattr(Device, column).is_(None) if current is None else getattr(Device, column) == current
    done = (await db.execute(update(Device).where(Device.id == device.id, cond).values({column: value})
                             .returning(Device.id))).first()
    if done is not None:
        setattr(device, column, value)
    return done is not None
