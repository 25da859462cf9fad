"""Lock now, for households (`/v1/homes/{id}/doors`) and operators (`/v1/ops/...`): securing commands only,
refused while an entry uses the device, audited, and answered with the device's own confirmation."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import doors
from threshold.deps import MemberDep, OperatorDep, RunnerDep, SessionDep
from threshold.errors import NotFound
from threshold.homes import service as homes
from threshold.homes.models import Device

router = APIRouter(prefix="/v1", tags=["doors"])


class ReasonIn(BaseModel):
    """Why the command is sent (required of operators)."""

    model_config = ConfigDict(extra="forbid")
    # Its length is checked with its characters (`doors.check_reason`: reason_invalid), one rule and one code.
    reason: str = ""


class CommandIn(ReasonIn):
    """A securing command for one device."""

    action: str = Field(max_length=20, description="lock (lock), close (garage), arm (alarm)")


class CommandOut(BaseModel):
    """What was sent and what the device confirmed."""

    device_id: uuid.UUID
    action: str
    confirmed: bool
    state: str | None = Field(description="The device's confirming state; null while not yet confirmed")


class IncidentRef(BaseModel):
    """A door's open problem."""

    id: uuid.UUID
    kind: str
    opened_at: datetime
    resolved_at: datetime | None
    next_reminder_at: datetime | None
    reminders_sent: int


class DoorOut(BaseModel):
    """One way in: its lock's state, who is using it, its open problem."""

    entry_point_id: uuid.UUID
    label: str
    device_id: uuid.UUID | None
    state: str | None
    online: bool | None
    battery: int | None
    inside: str | None
    session_id: uuid.UUID | None
    incident: IncidentRef | None


def _out(v: doors.DoorView) -> DoorOut:
    inc = v.incident
    return DoorOut(entry_point_id=v.entry_point.id, label=v.entry_point.label,
                   device_id=v.door.id if v.door else None, state=v.door.state if v.door else None,
                   online=v.door.online if v.door else None, battery=v.door.battery if v.door else None,
                   inside=v.inside, session_id=v.session_id,
                   incident=IncidentRef(id=inc.id, kind=inc.kind, opened_at=inc.opened_at,
                                        resolved_at=inc.resolved_at, next_reminder_at=inc.next_reminder_at,
                                        reminders_sent=inc.reminders_sent) if inc else None)


def _answer(done: doors.Order, state: str | None) -> JSONResponse:
    body = CommandOut(device_id=done.device_id, action=done.action, confirmed=state is not None, state=state)
    # 202: sent, not yet confirmed by the device; the door's state (GET .../doors) says when it is.
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if state is not None else 202)


@router.get("/homes/{home_id}/doors", response_model=list[DoorOut])
async def home_doors(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[DoorOut]:
    """The home's doors: lock state, the entry under way, the open problem and its reminder schedule."""
    home = await homes.own_home(db, member.id, home_id)
    return [_out(v) for v in await doors.view(db, home.id)]


@router.post("/homes/{home_id}/doors/{entry_point_id}/lock", response_model=CommandOut,
             responses={202: {"model": CommandOut, "description": "Sent, not yet confirmed by the lock"}})
async def lock_door(home_id: uuid.UUID, entry_point_id: uuid.UUID, member: MemberDep, db: SessionDep,
                    runner: RunnerDep, body: ReasonIn | None = None) -> JSONResponse:
    """Lock this door now (refused while an entry uses it); answered when the lock confirms, else 202."""
    home = await homes.own_home(db, member.id, home_id)
    await db.commit()
    actor, reason = f"member:{member.id}", doors.check_reason(body.reason if body else "", required=False)
    now = runner.clock()

    async def work(tx: AsyncSession) -> doors.Order:
        door = await doors.door_at(tx, home.id, entry_point_id)
        return await doors.order(tx, door, "lock" if door.kind == "lock" else "close", actor,
                                 reason or "household asked", now, f"entry_point:{entry_point_id}")

    return _answer(*await runner.command(work))


async def _device(tx: AsyncSession, device_id: uuid.UUID) -> Device:
    device = await tx.get(Device, device_id)
    if device is None:
        raise NotFound("No such device.", code="device_not_found")
    return device


@router.post("/ops/devices/{device_id}/commands", response_model=CommandOut, tags=["ops"],
             responses={202: {"model": CommandOut, "description": "Sent, not yet confirmed by the device"}})
async def send_command(device_id: uuid.UUID, body: CommandIn, operator: OperatorDep, runner: RunnerDep) -> \
        JSONResponse:
    """Send (or send again) a securing command to a device, with a reason; never one that opens or disarms."""
    reason, now = doors.check_reason(body.reason, required=True), runner.clock()

    async def work(tx: AsyncSession) -> doors.Order:
        return await doors.order(tx, await _device(tx, device_id), body.action, f"operator:{operator.id}",
                                 reason, now)

    return _answer(*await runner.command(work))


@router.post("/ops/incidents/{incident_id}/rearm", response_model=CommandOut, tags=["ops"],
             responses={202: {"model": CommandOut, "description": "Sent, not yet confirmed by the alarm"}})
async def rearm(incident_id: uuid.UUID, body: ReasonIn, operator: OperatorDep, runner: RunnerDep) -> JSONResponse:
    """Try the re-arm of an `alarm_not_rearmed` incident's alarm again, with a reason."""
    reason, now = doors.check_reason(body.reason, required=True), runner.clock()

    async def work(tx: AsyncSession) -> doors.Order:
        inc, alarm = await doors.alarm_of_incident(tx, incident_id)
        return await doors.order(tx, alarm, "arm", f"operator:{operator.id}", reason, now, f"incident:{inc.id}")

    return _answer(*await runner.command(work, timeout=float(runner.settings.arm_timeout) + 1.0))
