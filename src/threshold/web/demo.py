"""The demo's front page: one click to watch as the household, drive as a driver, or watch as the operator.

Only `threshold demo` sets `app.state.demo_world`; without it (any served deployment) these routes are 404, so
one-click sign-in can never exist outside the demo.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from threshold import signin
from threshold.deps import NowDep, SessionDep
from threshold.errors import NotFound
from threshold.homes.models import Home
from threshold.security import same
from threshold.sim.portal_seed import demo_stops
from threshold.web import auth
from threshold.web.deps import PRE_COOKIE, SURFACES, pre_token, secure, templates
from threshold.web.driver import window_text

router = APIRouter(prefix="/demo", include_in_schema=False)


def _world(request: Request) -> Any:
    world = getattr(request.app.state, "demo_world", None)
    if world is None:
        raise NotFound("There is no demo here.")
    return world


@router.get("", response_class=HTMLResponse)
async def demo_page(request: Request, db: SessionDep, now: NowDep) -> HTMLResponse:
    """Who to be in the demo, the visitor's stops with their barcodes, and every sign-in for the real forms."""
    world = _world(request)
    token = pre_token(request)
    stops = []
    for stop in await demo_stops(db, world, now):
        home = await db.get(Home, stop.delivery.home_id)
        zone = home.timezone if home else "UTC"
        stops.append((stop, window_text(stop.delivery.window_start, stop.delivery.window_end, zone)))
    response = templates.TemplateResponse(request, "demo.html", {"csrf": None, "pre": token, "world": world,
                                                                 "stops": stops})
    response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=secure(request))
    return response


@router.post("/as/{kind}")
async def demo_sign_in(request: Request, kind: str, db: SessionDep, now: NowDep,
                       pre: Annotated[str, Form()] = "") -> Response:
    """Sign in as the demo's first household, first driver or operator (demo only; the form's token is checked)."""
    world = _world(request)
    if kind not in SURFACES or not pre or not same(request.cookies.get(PRE_COOKIE) or "", pre):
        return RedirectResponse("/demo", status_code=303)
    table = signin.KINDS[kind]
    # The visitor drives their own account: the robots' stops would be taken from under them.
    driver_email = world.demo_driver[1] if world.demo_driver else world.drivers[0][1]
    email = {"member": world.homes[0].member_email, "driver": driver_email, "operator": world.operator_email}[kind]
    who = (await db.execute(select(table.id).where(table.email == email))).scalar_one()
    signed = await auth.open_session(db, who, now, kind)
    to = {"member": f"/portal/homes/{world.homes[0].id}"}.get(kind, SURFACES[kind].home)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(SURFACES[kind].cookie, signed.token, httponly=True, samesite="lax", secure=secure(request),
                        path="/")
    return response
