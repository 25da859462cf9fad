"""The operator console's people page: drivers in and out, partners' API keys issued, rotated and revoked."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threshold.access import machine
from threshold.access import service as access
from threshold.deps import NowDep, RunnerDep, SessionDep, forget_keys
from threshold.errors import ThresholdError
from threshold.ops import people
from threshold.web.deps import OpsCheckedDep, OpsWebDep, templates
from threshold.web.models import WebSession

router = APIRouter(prefix="/ops/people", include_in_schema=False)
DONE = {"deactivated": "Driver deactivated: signed out everywhere from their next request.",
        "reactivated": "Driver reactivated.", "revoked": "Key revoked.", "driver": "Driver added."}
Grace = Annotated[int, Form(ge=0, le=7 * 24 * 60)]
Field = Annotated[str, Form(max_length=400)]


async def _page(request: Request, session: WebSession, db: SessionDep, status: int = 200, done: str | None = None,
                error: str | None = None, new_key: people.KeyView | None = None,
                values: dict[str, str] | None = None) -> HTMLResponse:
    headers = {"cache-control": "no-store"} if new_key else None
    return templates.TemplateResponse(request, "ops_people.html", {
        "csrf": session.csrf, "drivers": await people.drivers(db), "partners": await people.partners(db),
        "done": DONE.get(done or ""), "error": error, "new_key": new_key, "values": values or {}},
        status_code=status, headers=headers)


def _actor(session: WebSession) -> str:
    return f"operator:{session.principal_id}"


@router.get("", response_class=HTMLResponse)
async def people_page(request: Request, session: OpsWebDep, db: SessionDep, done: str | None = None) -> HTMLResponse:
    """Every driver (deactivate, reactivate) and every partner with its keys (rotate, revoke)."""
    return await _page(request, session, db, done=done)


@router.post("/drivers/{driver_id}/{action}", response_class=HTMLResponse)
async def driver_active(request: Request, driver_id: uuid.UUID, action: str, session: OpsCheckedDep,
                        db: SessionDep, now: NowDep, runner: RunnerDep) -> Response:
    """Deactivate (an entry of theirs under way ends with the door locked) or reactivate a driver; audited."""
    if action not in ("deactivate", "reactivate"):
        return await _page(request, session, db, 404, error="No such action.")
    try:
        await people.set_driver_active(db, str(driver_id), action == "reactivate", _actor(session), now)
    except ThresholdError as err:
        return await _page(request, session, db, err.status, error=err.detail)
    live = await access.live_sessions_of(db, "driver", str(driver_id)) if action == "deactivate" else []
    await db.commit()
    for session_id in live:
        await runner.feed(session_id, machine.Abort("driver_deactivated"), _actor(session))
    return RedirectResponse(f"/ops/people?done={action}d", status_code=303)


@router.post("/partners/{partner_id}/rotate", response_class=HTMLResponse)
async def rotate(request: Request, partner_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep, now: NowDep,
                 grace: Grace = 0) -> Response:
    """Issue a new key; the page shows it this once (no redirect, which would need the key again)."""
    try:
        key = await people.rotate_key(db, partner_id, timedelta(minutes=grace), _actor(session), now)
    except ThresholdError as err:
        return await _page(request, session, db, err.status, error=err.detail)
    forget_keys()
    return await _page(request, session, db, 201, new_key=key)


@router.post("/keys/{prefix}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, prefix: str, session: OpsCheckedDep, db: SessionDep, now: NowDep) -> Response:
    """Revoke one key at once (other API processes within 10 seconds)."""
    try:
        await people.revoke_key(db, prefix[:40], _actor(session), now)
    except ThresholdError as err:
        return await _page(request, session, db, err.status, error=err.detail)
    forget_keys()
    return RedirectResponse("/ops/people?done=revoked", status_code=303)


@router.post("/drivers", response_class=HTMLResponse)
async def add_driver(request: Request, session: OpsCheckedDep, db: SessionDep, now: NowDep, email: Field = "",
                     name: Field = "", carrier: Field = "", partner: Field = "", password: Field = "") -> Response:
    """Add a driver (for a partner's carrier when one is chosen); errors keep what was typed, never the password."""
    values = {"email": email, "name": name, "carrier": carrier, "partner": partner}
    try:
        partner_id = uuid.UUID(partner) if partner else None
    except ValueError:
        return await _page(request, session, db, 422, error="Choose a partner from the list.", values=values)
    try:
        await people.add_driver(db, email, name, carrier, password, _actor(session), now, partner_id)
    except ThresholdError as err:
        return await _page(request, session, db, err.status, error=err.detail, values=values)
    return RedirectResponse("/ops/people?done=driver", status_code=303)


@router.post("/partners", response_class=HTMLResponse)
async def add_partner(request: Request, session: OpsCheckedDep, db: SessionDep, now: NowDep,
                      name: Field = "") -> Response:
    """Add a partner; the page shows its first API key this once."""
    try:
        _, key = await people.add_partner(db, name, _actor(session), now)
    except ThresholdError as err:
        return await _page(request, session, db, err.status, error=err.detail, values={"partner_name": name})
    return await _page(request, session, db, 201, new_key=key)
