"""HTTP: drivers and guests ask for entry and finish; households approve, grant guests, close incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from threshold import limits
from threshold.access import denials, machine, service
from threshold.access.models import EntrySession, Grant
from threshold.access.runner import unlocked_or_final
from threshold.access.schemas import EntryIn, GuestEntryIn, SessionOut
from threshold.deps import AddressDep, DriverDep, NowDep, RunnerDep, SessionDep, SettingsDep
from threshold.errors import EntryRefused, NotFound, ThresholdError
from threshold.security import hash_token

driver_router = APIRouter(prefix="/v1/driver", tags=["driver"])
guest_router = APIRouter(prefix="/v1/guest", tags=["guest"])

Prefer = Annotated[str | None, Header()]
# A session that ended before the door opened tells the driver why, as a refusal.
_ABORT_STATUS = {"camera_not_confirmed": 503, "alarm_not_disarmed": 503, "lock_jammed": 503,
                 "lock_not_confirmed": 503, "lock_offline": 503, "approval_declined": 403,
                 "approval_timeout": 403, "door_busy": 409}


_PENDING = frozenset({machine.State.AWAITING_APPROVAL.value, machine.State.CAMERA_STARTING.value,
                      machine.State.DISARMING.value, machine.State.UNLOCKING.value})


def session_out(row: EntrySession) -> SessionOut:
    """The API view of a session."""
    return SessionOut(id=row.id, home_id=row.home_id, entry_point_id=row.entry_point_id,
                      delivery_id=row.delivery_id, actor_kind=row.actor_kind, state=row.state, live=row.live,
                      reason=row.reason, camera_gap=row.camera_gap, requested_at=row.requested_at,
                      ended_at=row.ended_at)


async def _answer(runner: RunnerDep, outcome: service.Outcome, wait: float,
                  prefer: str | None) -> Any:
    if prefer and "respond-async" in prefer:
        wait = 0.0
    row = await runner.wait(outcome.session_id, unlocked_or_final(), wait)
    state = row.state
    never_opened = row.unlock_sent_at is None or (row.reason or "") in _ABORT_STATUS
    if state in (machine.State.ABORTED.value, machine.State.INTERRUPTED.value) and never_opened:
        reason = row.reason or "aborted"
        raise EntryRefused(f"The entry was stopped before the door opened: {reason}.", code=reason,
                           status=_ABORT_STATUS.get(reason, 409), extra={"session_id": str(row.id)})
    body = session_out(row).model_dump(mode="json")
    code = 202 if state in _PENDING else 200
    return JSONResponse(body, status_code=code, headers={"Location": f"/v1/driver/entries/{row.id}"})


@driver_router.post("/entries", response_model=SessionOut, status_code=200,
                    responses={202: {"description": "The door is not open yet; poll the Location"}})
async def ask_for_entry(body: EntryIn, driver: DriverDep, runner: RunnerDep,
                        settings: SettingsDep, prefer: Prefer = None) -> Any:
    """Ask for entry at the door; answers when the door is open (or why it will not open)."""
    req = service.EntryRequest(body.delivery_id, body.barcode, body.lat, body.lon)
    outcome = await runner.ask(service.Actor("driver", str(driver.id)), req)
    return await _answer(runner, outcome, settings.entry_wait_seconds, prefer)


async def _own_session(db: SessionDep, session_id: uuid.UUID, kind: str, actor_id: str, now: datetime,
                       what: str) -> EntrySession:
    row = await db.get(EntrySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    if row.actor_kind != kind or row.actor_id != actor_id:
        raise await denials.not_yours(db, row.home_id, f"{kind}:{actor_id}", f"session:{row.id}", what, now)
    return row


@driver_router.get("/entries/{session_id}", response_model=SessionOut)
async def read_entry(session_id: uuid.UUID, driver: DriverDep, db: SessionDep, now: NowDep) -> SessionOut:
    """The state of one of the driver's sessions."""
    return session_out(await _own_session(db, session_id, "driver", str(driver.id), now, "session"))


@driver_router.post("/entries/{session_id}/finish", response_model=SessionOut)
async def finish_entry(session_id: uuid.UUID, driver: DriverDep, runner: RunnerDep, db: SessionDep,
                       now: NowDep) -> SessionOut:
    """The driver placed the package and left: lock up and re-arm."""
    row = await _own_session(db, session_id, "driver", str(driver.id), now, "finish")
    if row.state != machine.State.OPEN.value:
        raise ThresholdError(f"The session is {row.state}, not open.", code="session_not_open", status=409)
    await db.commit()
    await runner.feed(session_id, machine.DriverFinished(), f"driver:{driver.id}")
    db.expire_all()
    return session_out(await service.get_session(db, session_id))


@guest_router.post("/entries", response_model=SessionOut,
                   responses={202: {"description": "The door is not open yet"}})
async def guest_entry(body: GuestEntryIn, runner: RunnerDep, settings: SettingsDep, address: AddressDep,
                      now: NowDep, prefer: Prefer = None) -> Any:
    """A guest asks for entry with their link token (unknown tokens are rate limited per address)."""
    lim = limits.Limits.of(settings)
    # Counted in transactions of their own: the runner's transaction must not wait behind this request's.
    await runner.transact(lambda db: limits.check(db, lim, None, address, now))
    try:
        outcome = await runner.ask_guest(body.token)
    except ThresholdError as err:
        if err.code == "grant_unknown":
            await runner.transact(lambda db: limits.failed(db, lim, None, address, now))
        raise
    return await _answer(runner, outcome, settings.entry_wait_seconds, prefer)


@guest_router.post("/entries/{session_id}/finish", response_model=SessionOut)
async def guest_finish(session_id: uuid.UUID, body: GuestEntryIn, runner: RunnerDep, db: SessionDep,
                       now: NowDep, settings: SettingsDep, address: AddressDep) -> SessionOut:
    """The guest is done: lock up and re-arm (a wrong link token is counted like any guessed token)."""
    lim = limits.Limits.of(settings)
    await limits.check(db, lim, None, address, now)
    row = await db.get(EntrySession, session_id)
    grant = await db.get(Grant, row.grant_id) if row else None
    if row is None or grant is None or grant.token_hash != hash_token(body.token):
        await limits.failed(db, lim, None, address, now)
        if row is None:
            raise NotFound("No such session.", keep_changes=True)
        raise await denials.not_yours(db, row.home_id, "guest:unknown", f"session:{row.id}", "finish", now)
    if row.state != machine.State.OPEN.value:
        raise ThresholdError(f"The session is {row.state}, not open.", code="session_not_open", status=409)
    await db.commit()
    await runner.feed(session_id, machine.DriverFinished(), f"guest:{grant.id}")
    db.expire_all()
    return session_out(await service.get_session(db, session_id))
