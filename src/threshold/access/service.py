"""Entry use cases: ask for entry, advance a session, recover after a restart. Never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import alerts, approvals, denials, incidents, machine, policy
from threshold.access.models import EntrySession, Grant, Incident
from threshold.audit import service as audit
from threshold.deliveries import service as deliveries
from threshold.deliveries.models import Delivery, Package
from threshold.errors import Conflict, EntryRefused, NotFound
from threshold.homes import entry_devices, partners
from threshold.homes.models import Device, EntryPoint, Home, HomeRules
from threshold.notify.outbox import enqueue


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for entry: a driver (by id) or a guest (by grant)."""

    kind: str
    id: str

    @property
    def label(self) -> str:
        """The actor as written in the audit log."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """A driver at a door: which delivery, which package was scanned, where they stand."""

    delivery_id: uuid.UUID
    barcode: str
    lat: float
    lon: float


@dataclass(slots=True)
class Outcome:
    """A session after a use case, with the device commands to send once the transaction commits."""

    session_id: uuid.UUID
    state: str
    reason: str | None
    commands: list[tuple[str, str]] = field(default_factory=list)


def _timing(settings: Any) -> machine.Timing:
    return machine.Timing(
        approval=settings.approval_timeout, camera=settings.camera_timeout, alarm=settings.alarm_timeout,
        unlock=settings.unlock_timeout, dwell=settings.dwell_limit, lock=settings.lock_timeout,
        arm=settings.arm_timeout, lock_retries=settings.lock_retries,
    )


async def refuse(db: AsyncSession, home_id: uuid.UUID, actor: Actor, subject: str, codes: list[str],
                  now: datetime, fallback: str | None = None) -> EntryRefused:
    """Audit a refusal and build the problem the caller gets (with the household's fallback, if one applies)."""
    code = codes[0]
    await audit.append(db, home_id, actor.label, "entry.refused", subject,
                       {"codes": codes, **({"fallback": fallback} if fallback else {})}, now)
    status, title = policy.REFUSALS.get(code, (403, "Entry refused"))
    extra: dict[str, Any] = {"reasons": codes, **({"fallback": fallback} if fallback else {})}
    return EntryRefused(title, code=code, status=status, title=title, keep_changes=True, extra=extra)


async def devices_for(db: AsyncSession, home_id: uuid.UUID, entry: EntryPoint) -> dict[str, Device]:
    """The lock (or garage door), camera and alarm panel that an entry at this entry point uses."""
    rows = {d.id: d for d in (await db.execute(select(Device).where(Device.home_id == home_id))).scalars()}
    serving = entry_devices.serving(entry.id, entry.kind, [entry_devices.placed(d) for d in rows.values()])
    chosen = {"lock": serving.door, "camera": serving.camera, "alarm": serving.alarm}
    return {role: rows[device_id] for role, device_id in chosen.items() if device_id is not None}


async def ask_for_entry(db: AsyncSession, actor: Actor, req: EntryRequest, now: datetime,
                        settings: Any) -> Outcome:
    """Judge a driver's ask for entry; refuse (audited) or open a session that starts the camera."""
    delivery = await db.get(Delivery, req.delivery_id)
    if delivery is None:
        raise await denials.unknown(db, actor.label, f"delivery:{req.delivery_id}", "delivery_unknown", now,
                                    NotFound("No such delivery."))
    grant = (await db.execute(select(Grant).where(Grant.delivery_id == delivery.id))).scalar_one_or_none()
    subject = f"delivery:{delivery.id}"
    if grant is None:
        raise await refuse(db, delivery.home_id, actor, subject, ["wrong_driver"], now)
    return await judge(db, actor, grant, subject, now, settings, delivery, req)


async def judge(db: AsyncSession, actor: Actor, grant: Grant, subject: str, now: datetime, settings: Any,
                delivery: Delivery | None = None, req: EntryRequest | None = None) -> Outcome:
    """Apply the rules to an ask for entry under `grant`: refuse (audited) or open the session.

    A driver's ask brings its delivery and what the driver scanned and where; a guest's brings neither.
    """
    home = await db.get(Home, grant.home_id)
    entry = await db.get(EntryPoint, grant.entry_point_id)
    rules = await db.get(HomeRules, grant.home_id)
    assert home is not None and entry is not None and rules is not None
    devices = await devices_for(db, home.id, entry)
    needed = [devices.get("lock"), devices.get("camera")] + ([devices["alarm"]] if "alarm" in devices else [])
    delivery_facts: dict[str, Any] = {}
    if delivery is not None and req is not None:
        packages = list((await db.execute(select(Package).where(Package.delivery_id == delivery.id))).scalars())
        delivery_facts = dict(
            driver_id=actor.id if actor.kind == "driver" else None, scanned_barcode=req.barcode,
            package_barcodes=tuple(p.barcode for p in packages), package_sizes=tuple(p.size for p in packages),
            entry_point_max_size=entry.max_package_size, delivery_status=delivery.status,
            partner_authorized=await partners.may_enter(db, home.id, delivery.partner_id),
            distance_m=policy.distance_m(home.lat, home.lon, req.lat, req.lon),
            geofence_m=settings.geofence_metres)
    ask = policy.EntryAsk(
        grant=grant_view(grant),
        rules=policy.RulesView(rules.in_home_enabled, tuple(rules.allowed_entry_points),
                               tuple(rules.blackout_dates), home.timezone),
        now=now, devices_online=all(d is not None and d.online for d in needed), **delivery_facts)
    codes = policy.refusals(ask)
    if codes:
        fallback = None
        if delivery is not None:
            fallback = policy.fallback_for(codes, rules.fallback)
            if fallback is not None and delivery.fallback is None:
                await deliveries.apply_fallback(db, delivery, fallback, codes[0], actor.label, now)
            # A driver asking again is told the same thing to do with the package.
            fallback = delivery.fallback
        raise await refuse(db, home.id, actor, subject, codes, now, fallback)
    ask_first = rules.ask_first and delivery is not None and not delivery.approved
    return await open_session(db, actor, grant, devices, delivery, ask_first, now, settings)


def grant_view(g: Grant) -> policy.GrantView:
    """The rules' view of a stored grant."""
    return policy.GrantView(
        kind=g.kind, entry_point_id=str(g.entry_point_id), driver_id=str(g.driver_id) if g.driver_id else None,
        starts_at=g.starts_at, ends_at=g.ends_at, single_use=g.single_use, used=g.used_at is not None,
        revoked=g.revoked_at is not None, rrule=g.rrule, duration_minutes=g.duration_minutes, timezone=g.timezone,
    )


async def open_session(db: AsyncSession, actor: Actor, grant: Grant, devices: dict[str, Device],
                        delivery: Delivery | None, ask_first: bool, now: datetime, settings: Any) -> Outcome:
    """Open a session for an allowed ask (one door-holding session per entry point; a pending approval holds none)."""
    if await door_holder(db, grant.entry_point_id) is not None:
        await audit.append(db, grant.home_id, actor.label, "entry.refused", f"grant:{grant.id}",
                           {"codes": ["entry_in_progress"]}, now)
        raise Conflict("Another entry is in progress at this door.", code="entry_in_progress", keep_changes=True)
    has_alarm = "alarm" in devices
    decision = machine.start(has_alarm, ask_first, now, _timing(settings))
    row = EntrySession(
        id=uuid.uuid4(), home_id=grant.home_id, entry_point_id=grant.entry_point_id, grant_id=grant.id,
        delivery_id=delivery.id if delivery else None, actor_kind=actor.kind, actor_id=actor.id,
        state=decision.session.state.value, live=True, holds_door=_holds_door(True, decision.session.state),
        lock_device_id=devices["lock"].id,
        camera_device_id=devices["camera"].id, alarm_device_id=devices["alarm"].id if has_alarm else None,
        has_alarm=has_alarm, deadline=decision.session.deadline, requested_at=now, state_since=now,
        device_wait=0.0, attempts=0, alarm_disarmed=False, camera_gap=False,
    )
    if grant.single_use:
        grant.used_at = now
    if delivery is not None:
        delivery.status = "in_progress"
    db.add(row)
    granted = (actor.label, "entry.granted", f"session:{row.id}",
               {"grant": str(grant.id), "entry_point": str(grant.entry_point_id)})
    return await _store(db, row, decision, now, actor.label, lead=[granted])


async def door_holder(db: AsyncSession, entry_point_id: uuid.UUID) -> uuid.UUID | None:
    """The session that holds this door now, if any; the entry point's row stays locked for the transaction.

    Asks and approvals at one door queue on that row (PostgreSQL; SQLite takes its write lock at BEGIN), so the
    one that finds the door free takes it before the next one looks. The unique index is the last word either way.
    """
    await db.execute(select(EntryPoint.id).where(EntryPoint.id == entry_point_id).with_for_update())
    return (await db.execute(select(EntrySession.id).where(
        EntrySession.entry_point_id == entry_point_id, EntrySession.holds_door.is_(True)))).scalar_one_or_none()


def _holds_door(live: bool, state: machine.State) -> bool:
    # Waiting for the household's yes commands nothing, so it must not keep anyone else from the door.
    return live and state is not machine.State.AWAITING_APPROVAL


# Sessions that ended before any unlock for one of these reasons give their single-use grant back: the person did
# nothing wrong and may ask again (a declined or revoked entry, or one stopped by someone, stays spent).
RETRY_REASONS = frozenset({"approval_timeout", "door_busy", "camera_not_confirmed", "camera_stalled",
                           "alarm_not_disarmed", "lock_offline", "interrupted"})
# Of those, the ones about waiting rather than the home's devices also leave the delivery open for that ask
# (a device failure fails the delivery, and the household's fallback says what happens to the package).
WAIT_REASONS = frozenset({"approval_timeout", "door_busy"})


def to_machine(row: EntrySession) -> machine.Session:
    """The machine's view of a stored session."""
    return machine.Session(
        state=machine.State(row.state), has_alarm=row.has_alarm, deadline=row.deadline, attempts=row.attempts,
        alarm_disarmed=row.alarm_disarmed, outcome=machine.State(row.outcome) if row.outcome else None,
        reason=row.reason, camera_gap=row.camera_gap,
    )


async def _store(db: AsyncSession, row: EntrySession, d: machine.Decision, now: datetime,
                 actor: str = "system", lead: list[tuple[str, str, str, dict[str, Any]]] | None = None) -> Outcome:
    s = d.session
    before = machine.State(row.state)
    if s.state is not before:
        if before in (machine.State.CAMERA_STARTING, machine.State.DISARMING):
            row.device_wait += max(0.0, (now - row.state_since).total_seconds())
        if s.state is machine.State.UNLOCKING:
            row.unlock_sent_at = now
        row.state_since = now
    row.state, row.deadline, row.attempts = s.state.value, s.deadline, s.attempts
    row.alarm_disarmed, row.reason, row.camera_gap = s.alarm_disarmed, s.reason, s.camera_gap
    row.outcome = s.outcome.value if s.outcome else None
    row.holds_door = _holds_door(s.state not in machine.TERMINAL, s.state)
    if s.state in machine.TERMINAL and row.live:
        row.live, row.ended_at = False, now
        if row.unlock_sent_at is None and s.reason in RETRY_REASONS:
            grant = await db.get(Grant, row.grant_id)
            if grant is not None and grant.single_use:
                grant.used_at = None
        if row.delivery_id is not None:
            delivery = await db.get(Delivery, row.delivery_id)
            if delivery is not None and delivery.status == "in_progress":
                retry = row.unlock_sent_at is None and s.reason in WAIT_REASONS
                delivery.status = ("delivered" if s.state is machine.State.DONE else
                                   "assigned" if retry else "failed")
    subject = f"session:{row.id}"
    facts = list(lead or []) + [(actor, action, subject, data) for action, data in d.facts]
    if d.incident:
        facts.append(("system", "incident.opened", subject, {"kind": d.incident}))
    await audit.append_many(db, row.home_id, facts, now)
    base = {"session": str(row.id), "home": str(row.home_id), "state": s.state.value,
            "delivery": str(row.delivery_id) if row.delivery_id else None, "actor": row.actor_kind}
    if d.incident:
        # Made before its messages so that they name it (the lock-now link, the all-clear that follows).
        opened = incidents.for_session(row, d.incident, s.reason, now)
        db.add(opened)
        base.update(incident=str(opened.id), kind=opened.kind, opened_at=now.isoformat(),
                    device=str(opened.device_id) if opened.device_id else None, schedule=alerts.SCHEDULE_WORDS,
                    entry_point_id=str(row.entry_point_id))
    messages = list(d.messages)
    if any(topic == "approval.requested" for _, topic, _ in messages):
        # The household decides on these words: who, with what, and how long they wait.
        asked = {"deadline": s.deadline.isoformat() if s.deadline else None,
                 "package": await approvals.package_of(db, row.delivery_id)}
        messages = [(a, t, {**asked, **m}) if t == "approval.requested" else (a, t, m) for a, t, m in messages]
    if row.actor_kind == "guest" and s.state is machine.State.OPEN and before is not machine.State.OPEN:
        messages.append(("household", "guest.entered", {}))
    for i, (audience, topic, data) in enumerate(messages):
        key = f"{row.id}:{row.version}:{i}"
        enqueue(db, audience, topic, row.home_id, {**base, **data}, key, now)
    devices = {"lock": row.lock_device_id, "camera": row.camera_device_id, "alarm": row.alarm_device_id}
    commands = [(str(devices[c.device]), c.action) for c in d.commands if devices.get(c.device)]
    return Outcome(row.id, s.state.value, s.reason, commands)


async def apply(db: AsyncSession, session_id: uuid.UUID, event: machine.Event, now: datetime,
                settings: Any, actor: str = "system", row: EntrySession | None = None) -> Outcome | None:
    """Feed one event to a session (locked for the transaction); None when nothing changed."""
    if row is None:
        row = (await db.execute(
            select(EntrySession).where(EntrySession.id == session_id).with_for_update())).scalar_one_or_none()
    if row is None:
        raise NotFound("No such session.")
    if isinstance(event, machine.Approved) and row.state == machine.State.AWAITING_APPROVAL.value:
        event = await _approval(db, row)
    decision = machine.decide(to_machine(row), event, now, _timing(settings))
    if not decision.changed and decision.session == to_machine(row):
        return None
    return await _store(db, row, decision, now, actor)


async def _approval(db: AsyncSession, row: EntrySession) -> machine.Approved:
    """The household's yes, told whether the door is free to take now; the delivery keeps the yes either way."""
    if row.delivery_id is not None:
        delivery = await db.get(Delivery, row.delivery_id)
        if delivery is not None:
            delivery.approved = True
    holder = await door_holder(db, row.entry_point_id)
    return machine.Approved(door_busy=holder is not None and holder != row.id)


async def due_sessions(db: AsyncSession, now: datetime, limit: int = 200) -> list[uuid.UUID]:
    """Live sessions whose current wait has passed its deadline."""
    q = select(EntrySession.id).where(EntrySession.live.is_(True), EntrySession.deadline <= now).limit(limit)
    return list((await db.execute(q)).scalars())


async def live_sessions(db: AsyncSession) -> list[uuid.UUID]:
    """Every live session."""
    return list((await db.execute(select(EntrySession.id).where(EntrySession.live.is_(True)))).scalars())


async def sessions_for_device(db: AsyncSession, device_id: uuid.UUID) -> list[tuple[EntrySession, str]]:
    """Live sessions that use this device (locked for the transaction), with the device's role in each."""
    q = select(EntrySession).where(EntrySession.live.is_(True), or_(
        EntrySession.lock_device_id == device_id, EntrySession.camera_device_id == device_id,
        EntrySession.alarm_device_id == device_id)).with_for_update()
    found = []
    for row in (await db.execute(q)).scalars():
        role = ("lock" if row.lock_device_id == device_id else
                "camera" if row.camera_device_id == device_id else "alarm")
        found.append((row, role))
    return found


async def unsecured_sessions_for_door(db: AsyncSession, device_id: uuid.UUID) -> list[EntrySession]:
    """Ended-unsecured sessions on this door whose incident is still open (locked for the transaction)."""
    q = (select(EntrySession).join(Incident, Incident.session_id == EntrySession.id)
         .where(EntrySession.lock_device_id == device_id, EntrySession.state == machine.State.UNSECURED.value,
                Incident.kind == "unsecured", Incident.status == "open").with_for_update(of=EntrySession))
    return list((await db.execute(q)).scalars().unique())


async def get_session(db: AsyncSession, session_id: uuid.UUID) -> EntrySession:
    """A session by id."""
    row = await db.get(EntrySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    return row


async def live_sessions_of(db: AsyncSession, actor_kind: str, actor_id: str) -> list[uuid.UUID]:
    """The live sessions one driver (or guest grant) has under way."""
    q = select(EntrySession.id).where(EntrySession.actor_kind == actor_kind, EntrySession.actor_id == actor_id,
                                      EntrySession.live.is_(True))
    return list((await db.execute(q)).scalars())
