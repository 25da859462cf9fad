"""Operators' use cases across every home: live sessions, incidents to acknowledge and close, device health,
dead letters. Never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.audit import service as audit
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes import service as homes
from threshold.homes.models import Device, EntryPoint, Home, Member
from threshold.inputs import is_note
from threshold.notify.models import Notification
from threshold.ops.models import Operator

# Below this a battery is worth a visit before it fails mid-entry.
LOW_BATTERY = 20
# Devices report on change (and zigbee2mqtt on link-quality updates); a day of silence is worth a look.
STALE_AFTER = timedelta(hours=24)
PROBLEMS = ("offline", "low_battery", "stale")
STATUSES = ("open", "closed", "all")
NOTE_MAX = 1000

KIND_WORDS = {
    "unsecured": "Door left unsecured", "door_reopened": "Door opened with nobody expected",
    "alarm_not_rearmed": "Alarm not re-armed", "camera_stalled": "Camera stopped sending pictures",
    "lock_jammed": "Lock jammed",
}


def kind_words(kind: str) -> str:
    """An incident's kind in words (an unknown kind is spelled out rather than hidden)."""
    return KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())


def age_words(since: datetime, now: datetime) -> str:
    """How long ago, shortly: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


@dataclass(frozen=True, slots=True)
class Counts:
    """The console's headline numbers."""

    live_sessions: int
    open_incidents: int
    unacknowledged: int
    devices_offline: int
    dead_letters: int


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident with the home it is at and who acknowledged it, in words."""

    incident: Incident
    home: Home
    acknowledged_by: str | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class LiveRow:
    """A live entry session and its home."""

    session: EntrySession
    home: Home


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device, its home and entry point, and what is wrong with it."""

    device: Device
    home: Home
    entry_point: str | None
    problems: tuple[str, ...]


async def counts(db: AsyncSession) -> Counts:
    """Live sessions, open and unacknowledged incidents, devices offline, dead letters."""

    async def count(table: type, *where: ColumnElement[bool]) -> int:
        return int((await db.execute(select(func.count()).select_from(table).where(*where))).scalar_one())

    return Counts(
        live_sessions=await count(EntrySession, EntrySession.live.is_(True)),
        open_incidents=await count(Incident, Incident.status == "open"),
        unacknowledged=await count(Incident, Incident.status == "open", Incident.acknowledged_at.is_(None)),
        devices_offline=await count(Device, Device.online.is_(False)),
        dead_letters=await count(Notification, Notification.status == "dead"),
    )


async def actor_names(db: AsyncSession, actors: set[str]) -> dict[str, str]:
    """"operator:<id>" or "member:<id>" -> the person's name (with the role); others as they are."""
    names = {a: a for a in actors}
    for kind, table in (("operator", Operator), ("member", Member)):
        ids = []
        for a in actors:
            prefix, _, raw = a.partition(":")
            try:
                if prefix == kind:
                    ids.append(uuid.UUID(raw))
            except ValueError:
                continue
        if ids:
            rows = await db.execute(select(table.id, table.name).where(table.id.in_(ids)))
            for pid, name in rows.tuples():
                names[f"{kind}:{pid}"] = f"{name} ({kind})"
    return names


async def _rows(db: AsyncSession, found: list[tuple[Incident, Home]]) -> list[IncidentRow]:
    actors = {a for i, _ in found for a in (i.acknowledged_by, i.closed_by) if a}
    names = await actor_names(db, actors)
    return [IncidentRow(i, h, names.get(i.acknowledged_by or "") or None, names.get(i.closed_by or "") or None)
            for i, h in found]


async def incidents(db: AsyncSession, status: str = "open", limit: int = 200) -> list[IncidentRow]:
    """Incidents across every home: open ones first (unacknowledged before acknowledged), oldest first."""
    if status not in STATUSES:
        raise ThresholdError(f"status must be one of {', '.join(STATUSES)}.", code="status_unknown", status=422)
    q = select(Incident, Home).join(Home, Home.id == Incident.home_id)
    if status != "all":
        q = q.where(Incident.status == status)
    # Open before closed ("open" > "closed"); among open ones, nobody-on-it first, then the longest waiting.
    q = q.order_by(Incident.status.desc(), Incident.acknowledged_at.is_not(None), Incident.opened_at)
    return await _rows(db, list((await db.execute(q.limit(limit))).tuples()))


async def incident(db: AsyncSession, incident_id: uuid.UUID) -> IncidentRow:
    """One incident with its home."""
    found = (await db.execute(select(Incident, Home).join(Home, Home.id == Incident.home_id)
                              .where(Incident.id == incident_id))).tuples().first()
    if found is None:
        raise NotFound("No such incident.", code="incident_not_found")
    return (await _rows(db, [found]))[0]


async def acknowledge(db: AsyncSession, incident_id: uuid.UUID, actor: str, now: datetime) -> IncidentRow:
    """An operator is on it: recorded once on the incident and the home's chain; closing stays a separate step."""
    row = await incident(db, incident_id)
    inc = row.incident
    if inc.status != "open":
        raise Conflict("The incident is closed already.", code="incident_closed")
    if inc.acknowledged_at is None:
        inc.acknowledged_at, inc.acknowledged_by = now, actor
        await audit.append(db, inc.home_id, actor, "incident.acknowledged", f"incident:{inc.id}",
                           {"kind": inc.kind}, now)
        await db.flush()
        row = await incident(db, incident_id)
    return row


def check_note(note: str) -> str:
    """The closing note, trimmed; a blank or overlong note is refused before anything is looked at."""
    note = note.strip()
    if not note:
        raise ThresholdError("Say what was done (a note is required to close an incident).", code="note_required",
                             status=422, title="A note is required")
    if len(note) > NOTE_MAX:
        raise ThresholdError(f"Keep the note to {NOTE_MAX} characters.", code="note_too_long", status=422,
                             title="The note is too long")
    if not is_note(note):
        raise ThresholdError("Use letters, digits, punctuation and line breaks only.", code="note_invalid",
                             status=422, title="The note holds control characters")
    return note


async def close(db: AsyncSession, incident_id: uuid.UUID, actor: str, note: str, now: datetime) -> IncidentRow:
    """Close an incident with a note, under the household's rule (an unsecured door must be secured first)."""
    note = check_note(note)
    row = await incident(db, incident_id)
    if row.incident.status != "open":
        raise Conflict("The incident is closed already.", code="incident_closed")
    # The rule (door confirmed locked, the close audited) lives with the household's own close; it is shared.
    await homes.close_incident(db, row.home, incident_id, actor, note, now)
    await db.flush()
    return await incident(db, incident_id)


async def live_sessions(db: AsyncSession, limit: int = 200) -> list[LiveRow]:
    """Entry sessions in progress across every home, oldest first."""
    q = (select(EntrySession, Home).join(Home, Home.id == EntrySession.home_id)
         .where(EntrySession.live.is_(True)).order_by(EntrySession.requested_at).limit(limit))
    return [LiveRow(s, h) for s, h in (await db.execute(q)).tuples()]


async def entry(db: AsyncSession, session_id: uuid.UUID) -> LiveRow:
    """One entry session (live or not) with its home."""
    found = (await db.execute(select(EntrySession, Home).join(Home, Home.id == EntrySession.home_id)
                              .where(EntrySession.id == session_id))).tuples().first()
    if found is None:
        raise NotFound("No such session.")
    return LiveRow(*found)


def problems_of(d: Device, now: datetime) -> tuple[str, ...]:
    """What is wrong with a device: offline, low battery, not seen for a while."""
    found = []
    if not d.online:
        found.append("offline")
    if d.battery is not None and d.battery < LOW_BATTERY:
        found.append("low_battery")
    if d.last_seen is not None and now - d.last_seen > STALE_AFTER:
        found.append("stale")
    return tuple(found)


def _rank(row: DeviceRow) -> tuple[int, int, str, str]:
    worst = min((PROBLEMS.index(p) for p in row.problems), default=len(PROBLEMS))
    return worst, row.device.battery if row.device.battery is not None else 101, row.home.label, row.device.kind


async def devices(db: AsyncSession, now: datetime, problem: str | None = None,
                  home_id: uuid.UUID | None = None) -> list[DeviceRow]:
    """Device health across homes: offline first, then low battery, then not seen for a while, then the rest."""
    if problem is not None and problem not in PROBLEMS:
        raise ThresholdError(f"problem must be one of {', '.join(PROBLEMS)}.", code="problem_unknown", status=422)
    q = (select(Device, Home, EntryPoint.label).join(Home, Home.id == Device.home_id)
         .outerjoin(EntryPoint, EntryPoint.id == Device.entry_point_id))
    if home_id is not None:
        q = q.where(Device.home_id == home_id)
    rows = [DeviceRow(d, h, label, problems_of(d, now)) for d, h, label in (await db.execute(q)).tuples()]
    if problem is not None:
        rows = [r for r in rows if problem in r.problems]
    return sorted(rows, key=_rank)


@dataclass(frozen=True, slots=True)
class DeadRow:
    """A dead-lettered notification and the home it was about (None for a partner's webhook without one)."""

    notification: Notification
    home: Home | None


async def dead_letters(db: AsyncSession, limit: int = 200) -> list[DeadRow]:
    """Notifications that will not be retried again, newest first, with their homes."""
    q = (select(Notification, Home).outerjoin(Home, Home.id == Notification.home_id)
         .where(Notification.status == "dead").order_by(Notification.dead_at.desc()).limit(limit))
    return [DeadRow(n, h) for n, h in (await db.execute(q)).tuples()]
