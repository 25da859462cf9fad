"""Commands people send outside an entry: a household or an operator locks a door now, an operator tries the
alarm's re-arm again or re-sends a safe command. Never commits; the runner sends after commit and waits for the
device's own confirmation.

Only securing commands exist here (lock, close, arm, stop recording): nobody opens a door or disarms an alarm
outside an entry session, whose rules (camera recording, alarm, grant) cannot be skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import times
from threshold.access import approvals, machine
from threshold.access.models import EntrySession, Incident
from threshold.audit import service as audit
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes import entry_devices
from threshold.homes.models import Device, EntryPoint, Home
from threshold.inputs import is_note

# Device kind -> the commands anyone may send it from here, and the states that confirm each.
# (Not a camera's stop: it could cut the post-roll of an entry that just ended; recordings stop by themselves.)
SAFE = {"lock": {"lock": frozenset({"locked"})}, "garage": {"close": frozenset({"closed"})},
        "alarm": {"arm": machine.ARMED_STATES}}
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class Order:
    """A command accepted and audited, for the runner to send and confirm."""

    device_id: uuid.UUID
    home_id: uuid.UUID
    action: str
    confirms: frozenset[str]
    actor: str


def check_reason(reason: str, required: bool) -> str:
    """The reason, trimmed; operators must give one (it is their record of why)."""
    reason = reason.strip()
    if required and not reason:
        raise ThresholdError("Say why (a reason is required).", code="reason_required", status=422,
                             title="A reason is required")
    if len(reason) > REASON_MAX or not is_note(reason or "-"):
        raise ThresholdError(f"Keep the reason to {REASON_MAX} characters of text.", code="reason_invalid",
                             status=422, title="The reason is not valid")
    return reason


async def door_at(db: AsyncSession, home_id: uuid.UUID, entry_point_id: uuid.UUID) -> Device:
    """The lock (or garage door) of one of the home's entry points."""
    entry = await db.get(EntryPoint, entry_point_id)
    if entry is None or entry.home_id != home_id:
        raise NotFound("No such door.", code="door_not_found")
    rows = list((await db.execute(select(Device).where(Device.home_id == home_id))).scalars())
    found = entry_devices.serving(entry.id, entry.kind, [entry_devices.placed(d) for d in rows]).door
    door = next((d for d in rows if d.id == found), None)
    if door is None:
        raise NotFound("This door has no lock threshold can reach.", code="door_has_no_lock")
    return door


async def holder(db: AsyncSession, device: Device) -> EntrySession | None:
    """The live session that is using this device now (one waiting for approval uses nothing yet)."""
    q = select(EntrySession).where(
        EntrySession.live.is_(True), EntrySession.state != machine.State.AWAITING_APPROVAL.value,
        or_(EntrySession.lock_device_id == device.id, EntrySession.alarm_device_id == device.id,
            EntrySession.camera_device_id == device.id))
    return (await db.execute(q.limit(1))).scalar_one_or_none()


async def who_is_in(db: AsyncSession, session: EntrySession) -> str:
    """Who a session is, in words: "Driver Ana from Parcelco" or "Guest Sam" (the approval banner's words)."""
    who = (await approvals.describe(db, session)).who
    if who.startswith("A "):
        return who
    return f"{'Driver' if session.delivery_id is not None else 'Guest'} {who}"


async def order(db: AsyncSession, device: Device, action: str, actor: str, reason: str, now: datetime,
                subject: str | None = None) -> Order:
    """Accept a securing command for a device, or refuse it (refusals that touch a door are audited)."""
    confirms = SAFE.get(device.kind, {}).get(action)
    about = subject or f"device:{device.id}"
    if confirms is None:
        # An attempt to open or disarm from here is worth a record, whoever made it.
        await audit.append(db, device.home_id, actor, "device.command_refused", about,
                           {"action": action[:20], "reason": "action_not_allowed"}, now)
        allowed = ", ".join(SAFE.get(device.kind, {})) or "none"
        raise ThresholdError(f"A {device.kind} takes only: {allowed} (nothing here opens or disarms).",
                             code="action_not_allowed", status=422, title="That command is not allowed",
                             keep_changes=True)
    session = await holder(db, device)
    if session is not None:
        who = await who_is_in(db, session)
        home = await db.get(Home, device.home_id)
        until = f" at {times.clock(session.deadline, home.timezone if home else None)} at the latest" \
            if session.deadline else ""
        await audit.append(db, device.home_id, actor, "device.command_refused", about,
                           {"action": action, "reason": "entry_in_progress", "session": str(session.id)}, now)
        raise Conflict(f"{who} is inside now: the door locks when they finish{until}. Try again after.",
                       code="entry_in_progress", keep_changes=True, extra={"session_id": str(session.id)})
    if not device.online:
        await audit.append(db, device.home_id, actor, "device.command_refused", about,
                           {"action": action, "reason": "device_offline"}, now)
        raise Conflict("The device is offline: a command cannot reach it. Check it in person.",
                       code="device_offline", keep_changes=True)
    if device.kind == "lock" and await _leaf_open(db, device):
        # A bolt thrown into an open door secures nothing and can jam against the frame.
        await audit.append(db, device.home_id, actor, "device.command_refused", about,
                           {"action": action, "reason": "door_open"}, now)
        raise Conflict("The door itself is open: close it first, then lock it.", code="door_open",
                       keep_changes=True)
    await audit.append(db, device.home_id, actor, "device.command_sent", about,
                       {"action": action, "reason": reason, "device": str(device.id), "was": device.state}, now)
    return Order(device.id, device.home_id, action, confirms, actor)


async def _leaf_open(db: AsyncSession, lock: Device) -> bool:
    """True when a contact at the lock's way in says the door leaf is open."""
    if lock.entry_point_id is None:
        return False
    q = select(Device.state).where(Device.entry_point_id == lock.entry_point_id, Device.kind == "contact")
    return "open" in set((await db.execute(q)).scalars())


async def confirmed(db: AsyncSession, done: Order, state: str, now: datetime) -> None:
    """The device confirmed the command: on the record."""
    await audit.append(db, done.home_id, done.actor, "device.command_confirmed", f"device:{done.device_id}",
                       {"action": done.action, "state": state}, now)


async def alarm_of_incident(db: AsyncSession, incident_id: uuid.UUID) -> tuple[Incident, Device]:
    """The alarm panel an `alarm_not_rearmed` incident is about."""
    inc = await db.get(Incident, incident_id)
    if inc is None:
        raise NotFound("No such incident.", code="incident_not_found")
    if inc.kind != "alarm_not_rearmed":
        raise Conflict("Only an alarm that was not re-armed can be re-armed from its incident.",
                       code="not_an_alarm_incident")
    device = await db.get(Device, inc.device_id) if inc.device_id else None
    if device is None:
        rows = (await db.execute(select(Device).where(Device.home_id == inc.home_id, Device.kind == "alarm")))
        device = rows.scalars().first()
    if device is None:
        raise NotFound("This home has no alarm panel.", code="alarm_not_found")
    return inc, device


@dataclass(frozen=True, slots=True)
class DoorView:
    """One way into a home as its household sees it: the lock, who is using it, and any problem with it."""

    entry_point: EntryPoint
    door: Device | None
    inside: str | None  # who is in by this door now, in words
    session_id: uuid.UUID | None
    incident: Incident | None  # the open door problem here, resolved or not


async def view(db: AsyncSession, home_id: uuid.UUID) -> list[DoorView]:
    """Every entry point of a home with its lock, the entry under way there and its open door incident."""
    entries = list((await db.execute(select(EntryPoint).where(EntryPoint.home_id == home_id)
                                     .order_by(EntryPoint.label))).scalars())
    rows = list((await db.execute(select(Device).where(Device.home_id == home_id))).scalars())
    placed = [entry_devices.placed(d) for d in rows]
    open_incidents = list((await db.execute(select(Incident).where(
        Incident.home_id == home_id, Incident.status == "open").order_by(Incident.opened_at.desc()))).scalars())
    found = []
    for entry in entries:
        door_id = entry_devices.serving(entry.id, entry.kind, placed).door
        door = next((d for d in rows if d.id == door_id), None)
        session = await holder(db, door) if door is not None else None
        here = [i for i in open_incidents if i.entry_point_id == entry.id and i.kind != "alarm_not_rearmed"]
        # A problem still going on comes before one already over.
        incident = next((i for i in here if i.resolved_at is None), here[0] if here else None)
        found.append(DoorView(entry, door, await who_is_in(db, session) if session else None,
                              session.id if session else None, incident))
    return found
