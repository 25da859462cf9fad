"""Lock now in the browser: the home's doors page and alert banner in the portal, and the console's securing
actions on an incident (lock the door, try the alarm's re-arm again). The rules are `access/doors.py`'s."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import alerts, doors
from threshold.access.models import Incident
from threshold.deps import RunnerDep, SessionDep
from threshold.errors import NotFound, ThresholdError
from threshold.homes import service as homes
from threshold.homes.models import Device
from threshold.web.deps import CheckedDep, OpsCheckedDep, PortalDep, templates

router = APIRouter(include_in_schema=False)
KIND_WORDS = {"unsecured": "did not lock again after an entry", "door_found_open": "was found unlocked and did "
              "not lock again", "door_reopened": "was opened while no entry was under way"}
STATE_WORDS = {"locked": "locked", "unlocked": "unlocked", "jammed": "jammed", "closed": "closed", "open": "open",
               "locking": "locking…", "unlocking": "unlocking…", "unknown": "not known yet"}


async def _doors_page(request: Request, session: Any, db: AsyncSession, home_id: uuid.UUID, status: int = 200,
                      **context: object) -> HTMLResponse:
    home = await homes.own_home(db, session.member_id, home_id)
    found = await doors.view(db, home.id)
    return templates.TemplateResponse(request, "doors.html", {
        "csrf": session.csrf, "home": home, "doors": found, "kind_words": KIND_WORDS, "state_words": STATE_WORDS,
        "schedule": alerts.SCHEDULE_WORDS, "tz": home.timezone, **context}, status_code=status)


@router.get("/portal/homes/{home_id}/doors", response_class=HTMLResponse)
async def doors_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                     locked: uuid.UUID | None = None, sent: uuid.UUID | None = None) -> HTMLResponse:
    """Every door of the home: its lock, who is in, its open problem and reminders, and a Lock now button."""
    return await _doors_page(request, session, db, home_id, locked=locked, sent=sent)


@router.post("/portal/homes/{home_id}/doors/{entry_point_id}/lock", response_class=HTMLResponse)
async def lock_door(request: Request, home_id: uuid.UUID, entry_point_id: uuid.UUID, session: CheckedDep,
                    db: SessionDep, runner: RunnerDep) -> Response:
    """Lock now; the page then says what the lock confirmed, or why it was refused."""
    home = await homes.own_home(db, session.member_id, home_id)
    await db.commit()
    actor, now = f"member:{session.member_id}", runner.clock()

    async def work(tx: AsyncSession) -> doors.Order:
        door = await doors.door_at(tx, home.id, entry_point_id)
        return await doors.order(tx, door, "lock" if door.kind == "lock" else "close", actor, "household asked",
                                 now, f"entry_point:{entry_point_id}")

    try:
        _, state = await runner.command(work)
    except ThresholdError as err:
        db.expire_all()
        return await _doors_page(request, session, db, home_id, err.status, error=err.detail, failed=entry_point_id)
    key = "locked" if state else "sent"
    return RedirectResponse(f"/portal/homes/{home_id}/doors?{key}={entry_point_id}#door-{entry_point_id}",
                            status_code=303)


@router.get("/portal/homes/{home_id}/alerts", response_class=HTMLResponse)
async def alerts_banner(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep) -> HTMLResponse:
    """The home page's banner: every door problem still going on, with its reminders and a way to lock now."""
    home = await homes.own_home(db, session.member_id, home_id)
    problems = [v for v in await doors.view(db, home.id) if v.incident and v.incident.resolved_at is None]
    return templates.TemplateResponse(request, "_alerts.html", {
        "csrf": session.csrf, "home": home, "problems": problems, "kind_words": KIND_WORDS, "tz": home.timezone})


async def _incident_door(db: AsyncSession, incident_id: uuid.UUID) -> tuple[Incident, Device]:
    inc = await db.get(Incident, incident_id)
    if inc is None:
        raise NotFound("No such incident.", code="incident_not_found")
    if inc.entry_point_id is not None:
        return inc, await doors.door_at(db, inc.home_id, inc.entry_point_id)
    door = await db.get(Device, inc.device_id) if inc.device_id else None
    if door is None or door.kind not in ("lock", "garage"):
        raise NotFound("This incident names no door to lock.", code="door_not_found")
    return inc, door


async def _ops_command(incident_id: uuid.UUID, session: Any, db: AsyncSession, runner: Any, reason: str,
                       what: str) -> Response:
    # The request's own transaction (the sign-in check) ends first: on SQLite it would hold the write lock.
    await db.commit()
    actor, now = f"operator:{session.principal_id}", runner.clock()

    async def work(tx: AsyncSession) -> doors.Order:
        why = doors.check_reason(reason, required=True)
        if what == "rearm":
            inc, alarm = await doors.alarm_of_incident(tx, incident_id)
            return await doors.order(tx, alarm, "arm", actor, why, now, f"incident:{inc.id}")
        inc, door = await _incident_door(tx, incident_id)
        return await doors.order(tx, door, "lock" if door.kind == "lock" else "close", actor, why, now,
                                 f"incident:{inc.id}")

    try:
        _, state = await runner.command(work)
    except ThresholdError as err:
        return RedirectResponse(f"/ops/incidents/{incident_id}?done={err.code}", status_code=303)
    return RedirectResponse(f"/ops/incidents/{incident_id}?done={what}_{'confirmed' if state else 'sent'}",
                            status_code=303)


@router.post("/ops/incidents/{incident_id}/lock", response_class=HTMLResponse)
async def ops_lock(incident_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep, runner: RunnerDep,
                   reason: Annotated[str, Form(max_length=10_000)] = "") -> Response:
    """An operator locks the incident's door now, with a reason (audited)."""
    return await _ops_command(incident_id, session, db, runner, reason, "lock")


@router.post("/ops/incidents/{incident_id}/rearm", response_class=HTMLResponse)
async def ops_rearm(incident_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep, runner: RunnerDep,
                    reason: Annotated[str, Form(max_length=10_000)] = "") -> Response:
    """An operator tries the alarm's re-arm again, with a reason (audited)."""
    return await _ops_command(incident_id, session, db, runner, reason, "rearm")
