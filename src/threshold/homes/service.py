"""Household use cases: homes, rules, and what happened at a home. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import denials
from threshold.access import incidents as problems
from threshold.access.models import EntrySession, Incident
from threshold.access.schemas import IncidentOut
from threshold.audit import service as audit
from threshold.db import utcnow
from threshold.deliveries.models import Delivery
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes import entry_devices
from threshold.homes.models import Device, EntryPoint, Home, HomeRules, Member
from threshold.homes.schemas import DeviceOut, EntryPointOut, HomeOut, RulesBody

# A door is secured when its lock is locked, its garage door closed and its contact closed.
SECURED = {"lock": "locked", "garage": "closed", "contact": "closed"}


def incident_out(i: Incident) -> IncidentOut:
    """The API view of an incident."""
    return IncidentOut(id=i.id, home_id=i.home_id, session_id=i.session_id, entry_point_id=i.entry_point_id,
                       kind=i.kind, status=i.status, opened_at=i.opened_at, closed_at=i.closed_at)


async def household_of(db: AsyncSession, member_id: uuid.UUID) -> uuid.UUID:
    """The household a member belongs to."""
    member = await db.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    return member.household_id


async def own_home(db: AsyncSession, member_id: uuid.UUID, home_id: uuid.UUID) -> Home:
    """A home of the member's household; another household's home is 'not found', and that reach is audited."""
    home = await db.get(Home, home_id)
    if home is None:
        raise NotFound("No such home.")
    if home.household_id != await household_of(db, member_id):
        # Its rules, guests and video decide who enters: a reach for them is on that home's record.
        await audit.append(db, home.id, f"member:{member_id}", "access.refused", f"home:{home.id}",
                           {"what": "home", "reason": "not_yours"}, utcnow())
        raise NotFound("No such home.", keep_changes=True)
    return home


def rules_body(rules: HomeRules | None) -> RulesBody:
    """The API view of a home's rules."""
    if rules is None:
        return RulesBody()
    return RulesBody(in_home_enabled=rules.in_home_enabled,
                     allowed_entry_points=[uuid.UUID(x) for x in rules.allowed_entry_points],
                     blackout_dates=[datetime.fromisoformat(x).date() for x in rules.blackout_dates],
                     ask_first=rules.ask_first, driver_note=rules.driver_note,
                     fallback=rules.fallback)


async def home_out(db: AsyncSession, home: Home) -> HomeOut:
    """The API view of a home."""
    entries = (await db.execute(select(EntryPoint).where(EntryPoint.home_id == home.id))).scalars()
    devices = (await db.execute(select(Device).where(Device.home_id == home.id))).scalars()
    return HomeOut(
        id=home.id, label=home.label, address=home.address, timezone=home.timezone, lat=home.lat, lon=home.lon,
        entry_points=[EntryPointOut(id=e.id, kind=e.kind, label=e.label, max_package_size=e.max_package_size)
                      for e in entries],
        devices=[DeviceOut(id=d.id, kind=d.kind, entry_point_id=d.entry_point_id, adapter=d.adapter,
                           state=d.state, online=d.online, battery=d.battery, last_seen=d.last_seen)
                 for d in devices],
        rules=rules_body(await db.get(HomeRules, home.id)),
    )


async def homes(db: AsyncSession, member_id: uuid.UUID) -> list[Home]:
    """The member's household's homes."""
    household = await household_of(db, member_id)
    return list((await db.execute(select(Home).where(Home.household_id == household))).scalars())


async def set_rules(db: AsyncSession, home: Home, body: RulesBody, actor: str, now: datetime) -> RulesBody:
    """Replace a home's rules (audited)."""
    entries = set((await db.execute(select(EntryPoint.id).where(EntryPoint.home_id == home.id))).scalars())
    unknown = [str(e) for e in body.allowed_entry_points if e not in entries]
    if unknown:
        raise ThresholdError("An allowed entry point is not at this home.", code="entry_point_unknown",
                             status=422, extra={"unknown": unknown})
    rules = await db.get(HomeRules, home.id)
    if rules is None:
        rules = HomeRules(home_id=home.id)
        db.add(rules)
    rules.in_home_enabled, rules.ask_first = body.in_home_enabled, body.ask_first
    rules.allowed_entry_points = [str(e) for e in body.allowed_entry_points]
    rules.blackout_dates = sorted({d.isoformat() for d in body.blackout_dates})
    rules.driver_note, rules.fallback = body.driver_note, body.fallback
    await audit.append(db, home.id, actor, "rules.changed", f"home:{home.id}", body.model_dump(mode="json"), now)
    return rules_body(rules)


async def deliveries(db: AsyncSession, home: Home, limit: int = 100) -> list[Delivery]:
    """A home's deliveries, newest window first."""
    q = select(Delivery).where(Delivery.home_id == home.id).order_by(Delivery.window_start.desc()).limit(limit)
    return list((await db.execute(q)).scalars())


async def approve_delivery(db: AsyncSession, home: Home, delivery_id: uuid.UUID, actor: str,
                           now: datetime) -> Delivery:
    """Approve a delivery ahead of time ("ask me first" homes)."""
    d = await db.get(Delivery, delivery_id)
    if d is None:
        raise NotFound("No such delivery.")
    if d.home_id != home.id:
        raise await denials.not_yours(db, d.home_id, actor, f"delivery:{d.id}", "approve", now, "No such delivery.")
    if d.status in ("delivered", "failed", "cancelled"):
        raise Conflict(f"A {d.status} delivery cannot be approved.", code="delivery_not_active")
    d.approved = True
    await audit.append(db, home.id, actor, "delivery.approved", f"delivery:{d.id}", {}, now)
    return d


async def sessions(db: AsyncSession, home: Home, limit: int = 100) -> list[EntrySession]:
    """A home's entry sessions, newest first."""
    q = select(EntrySession).where(EntrySession.home_id == home.id)
    return list((await db.execute(q.order_by(EntrySession.requested_at.desc()).limit(limit))).scalars())


async def waiting_session(db: AsyncSession, home: Home, session_id: uuid.UUID, actor: str,
                          now: datetime) -> EntrySession:
    """A session of this home that waits for the household's approval ("ask me first")."""
    row = await db.get(EntrySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    if row.home_id != home.id:
        raise await denials.not_yours(db, row.home_id, actor, f"session:{row.id}", "approval", now)
    if row.state != "awaiting_approval":
        raise Conflict("The session is not waiting for approval.", code="session_not_awaiting_approval")
    return row


async def incidents(db: AsyncSession, home: Home) -> list[Incident]:
    """A home's incidents, open first."""
    q = select(Incident).where(Incident.home_id == home.id).order_by(Incident.status.desc(),
                                                                        Incident.opened_at.desc())
    return list((await db.execute(q)).scalars())


async def close_incident(db: AsyncSession, home: Home, incident_id: uuid.UUID, actor: str, note: str,
                         now: datetime) -> Incident:
    """A person closes an incident after looking at it (audited)."""
    inc = await db.get(Incident, incident_id)
    if inc is None:
        raise NotFound("No such incident.")
    if inc.home_id != home.id:
        raise await denials.not_yours(db, inc.home_id, actor, f"incident:{inc.id}", "incident", now,
                                      "No such incident.")
    if inc.kind == "unsecured":
        door = (await db.execute(select(Device).join(EntrySession, EntrySession.lock_device_id == Device.id)
                                 .where(EntrySession.id == inc.session_id))).scalar_one_or_none()
        if door is not None and door.state not in ("locked", "closed"):
            raise Conflict("The door is not confirmed locked yet.", code="door_not_secured")
    if inc.kind in ("door_reopened", "door_found_open") and inc.entry_point_id is not None:
        q = select(Device).where(Device.entry_point_id == inc.entry_point_id)
        rows = {d.id: d for d in (await db.execute(q)).scalars()}
        doors = entry_devices.securing(inc.entry_point_id, [entry_devices.placed(d) for d in rows.values()])
        if any(rows[i].state != SECURED[rows[i].kind] for i in doors):
            raise Conflict("The door is not confirmed closed and locked yet.", code="door_not_secured")
    if inc.status == "open":
        await problems.closing(db, inc, actor, now)
        inc.status, inc.closed_at, inc.closed_by, inc.close_note = "closed", now, actor, note
        await audit.append(db, home.id, actor, "incident.closed", f"incident:{inc.id}", {"note": note}, now)
    return inc


# The ways in a household can declare when it enrols a home: kind -> (label, largest package it takes).
ENTRY_KINDS = {"front_door": ("Front door", "L"), "back_door": ("Back door", "L"), "garage": ("Garage", "XL")}


async def create_home(db: AsyncSession, member_id: uuid.UUID, label: str, address: str, timezone: str, lat: float,
                      lon: float, entry_kinds: list[str], now: datetime) -> Home:
    """Enrol a new home of the member's household with its entry points, rules and audit chain (the caller has
    validated the fields)."""
    household = await household_of(db, member_id)
    home = Home(id=uuid.uuid4(), household_id=household, label=label, address=address, timezone=timezone,
                lat=lat, lon=lon, created_at=now)
    db.add(home)
    await db.flush()
    await audit.start_chain(db, home.id)
    for kind in entry_kinds:
        name, size = ENTRY_KINDS[kind]
        db.add(EntryPoint(id=uuid.uuid4(), home_id=home.id, kind=kind, label=name, max_package_size=size))
    # New homes start with in-home delivery off: the household turns it on once the devices are in.
    db.add(HomeRules(home_id=home.id, in_home_enabled=False, allowed_entry_points=[], blackout_dates=[]))
    await db.flush()
    await audit.append(db, home.id, f"member:{member_id}", "home.enrolled", f"home:{home.id}",
                       {"label": label, "timezone": timezone, "entry_points": entry_kinds}, now)
    return home
