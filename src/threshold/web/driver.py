"""The driver app: today's stops in order, one stop with its barcode form, ask for entry, the entry's steps live,
finish; every refusal in the driver's words with what to do instead."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import times
from threshold.access import denials, machine
from threshold.access import service as access
from threshold.access.models import EntrySession
from threshold.db import utcnow
from threshold.deliveries import service as deliveries
from threshold.deliveries.models import Delivery
from threshold.deliveries.schemas import StopOut
from threshold.deps import NowDep, RunnerDep, SessionDep
from threshold.errors import NotFound, ThresholdError
from threshold.homes.models import EntryPoint, Home, HomeRules
from threshold.planning import replan
from threshold.web import refusals, steps
from threshold.web.deps import DriverCheckedDep, DriverWebDep, templates
from threshold.web.models import WebSession

router = APIRouter(prefix="/driver", include_in_schema=False)

# The same shape partners may give a barcode (deliveries.schemas.PackageIn).
BARCODE = re.compile(r"^[A-Za-z0-9\-_.]{1,100}$")
ETAS = (5, 10, 15, 20, 30, 45, 60)
# Form fields arrive as text and are checked here, so a bad value shows next to its field, not as JSON.
Text = Annotated[str, Form()]


@dataclass(frozen=True, slots=True)
class StopView:
    """A stop as the driver app shows it: the stop, and its window in the home's time."""

    stop: StopOut
    window: str
    # From the day's route plan, when there is one: the expected arrival in the home's time.
    expected: str | None = None


def window_text(start: datetime, end: datetime, tz: str) -> str:
    """A window as the household's local clock reads it, such as 10:00 to 12:00 CET (an en dash between)."""
    return times.span(start, end, tz)


def _page(request: Request, name: str, csrf: str, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"csrf": csrf, **context}, status_code=status)


def _missing(request: Request, csrf: str) -> HTMLResponse:
    # The same page whether the thing does not exist or is another driver's: nothing tells them apart.
    return _page(request, "driver_missing.html", csrf, 404)


async def _zone(db: AsyncSession, home_id: uuid.UUID) -> str:
    home = await db.get(Home, home_id)
    return home.timezone if home else "UTC"


async def _own_delivery(db: AsyncSession, driver_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery | None:
    d = await db.get(Delivery, delivery_id, populate_existing=True)
    if d is not None and d.driver_id != driver_id:
        # Another driver's stop: shown as missing, and on its home's record.
        await denials.refused(db, d.home_id, f"driver:{driver_id}", f"delivery:{d.id}", "stop", "not_yours", utcnow())
        return None
    return d


async def _stop(db: AsyncSession, d: Delivery) -> StopView:
    home = await db.get(Home, d.home_id)
    rules = await db.get(HomeRules, d.home_id)
    entry = await db.get(EntryPoint, d.entry_point_id) if d.entry_point_id else None
    assert home is not None
    stop = StopOut(delivery=await deliveries.to_out(db, d), address=home.address, lat=home.lat, lon=home.lon,
                   entry_point=entry.label if entry and d.mode == "in_home" else None,
                   driver_note=rules.driver_note if rules else "")
    return StopView(stop, window_text(d.window_start, d.window_end, home.timezone))


async def _last_entry(db: AsyncSession, driver_id: uuid.UUID, delivery_id: uuid.UUID) -> EntrySession | None:
    q = (select(EntrySession).where(EntrySession.delivery_id == delivery_id, EntrySession.actor_kind == "driver",
                                    EntrySession.actor_id == str(driver_id))
         .order_by(EntrySession.requested_at.desc()).limit(1))
    return (await db.execute(q)).scalars().first()


async def _own_entry(db: AsyncSession, driver_id: uuid.UUID, session_id: uuid.UUID) -> EntrySession | None:
    row = await db.get(EntrySession, session_id, populate_existing=True)
    if row is None:
        return None
    if row.actor_kind != "driver" or row.actor_id != str(driver_id):
        await denials.refused(db, row.home_id, f"driver:{driver_id}", f"session:{row.id}", "session", "not_yours",
                              utcnow())
        return None
    return row


def _me(session: WebSession) -> tuple[uuid.UUID, str]:
    # Read once: a later expire of the request's objects must not make a template reload them.
    return session.principal_id, session.csrf


@router.get("", response_class=HTMLResponse)
async def stops_page(request: Request, session: DriverWebDep, db: SessionDep, now: NowDep,
                     told: str | None = None, left: str | None = None) -> HTMLResponse:
    """Today's stops in window order, each with its window, entry point, note and status."""
    me, csrf = _me(session)
    return await _stops(request, db, now, me, csrf, told=told, left=bool(left))


async def _stops(request: Request, db: AsyncSession, now: datetime, me: uuid.UUID, csrf: str, status: int = 200,
                 **context: object) -> HTMLResponse:
    found = await deliveries.stops(db, me, now)
    # The planner's order when the day has a route plan; stops it does not know keep their window order, after.
    route = await replan.driver_route(db, me, None, now)
    planned = {r.delivery_id: (i, r.expected_arrival) for i, r in enumerate(route) if r.delivery_id is not None}
    views = []
    for s in found:
        zone = await _zone(db, s.delivery.home_id)
        at = planned.get(s.delivery.id)
        expected = times.clock(at[1], zone) if at else None
        views.append(StopView(s, window_text(s.delivery.window_start, s.delivery.window_end, zone), expected))
    views.sort(key=lambda v: planned.get(v.stop.delivery.id, (len(planned), None))[0])
    return _page(request, "driver_stops.html", csrf, status, stops=views, etas=ETAS,
                 **{"told": None, "left": False, "errors": {}, **context})


@router.post("/stops/{delivery_id}/on-the-way", response_class=HTMLResponse)
async def on_the_way(request: Request, delivery_id: uuid.UUID, session: DriverCheckedDep, db: SessionDep,
                     now: NowDep, eta: Text = "") -> Response:
    """Tell the household the driver is heading there (once per delivery), with the minutes to go."""
    me, csrf = _me(session)
    # isdigit() alone takes "²", which int() refuses.
    minutes = int(eta) if eta.isascii() and eta.isdigit() and len(eta) <= 4 else -1
    if minutes not in ETAS:
        return await _stops(request, db, now, me, csrf, 422,
                            errors={str(delivery_id): "Choose how many minutes away you are."})
    try:
        await deliveries.on_the_way(db, me, delivery_id, minutes, now)
    except NotFound:
        return _missing(request, csrf)
    except ThresholdError as err:
        return await _stops(request, db, now, me, csrf, err.status, errors={str(delivery_id): err.detail})
    return RedirectResponse(f"/driver?told={delivery_id}", status_code=303)


@router.get("/stops/{delivery_id}", response_class=HTMLResponse)
async def stop_page(request: Request, delivery_id: uuid.UUID, session: DriverWebDep, db: SessionDep) -> Response:
    """One stop: where, when, the household's note, and the form to scan the package and ask for entry."""
    me, csrf = _me(session)
    d = await _own_delivery(db, me, delivery_id)
    if d is None:
        return _missing(request, csrf)
    return await _stop_page(request, db, me, csrf, d)


async def _stop_page(request: Request, db: AsyncSession, me: uuid.UUID, csrf: str, d: Delivery, status: int = 200,
                     **context: Any) -> HTMLResponse:
    view = await _stop(db, d)
    last = await _last_entry(db, me, d.id)
    can_ask = d.status in ("assigned", "approved") and d.mode == "in_home" and d.fallback is None
    fallback = refusals.FALLBACK_WORDS.get(d.fallback or "") if d.mode == "in_home" else \
        refusals.FALLBACK_WORDS["doorstep"]
    leave = next((w for w in deliveries.OUTSIDE if deliveries.may_leave_outside(d, w)), None)
    # Only the demo offers a made-up location: a desktop browser has none, and the door checks where you are.
    demo_at = (view.stop.lat, view.stop.lon) if demo_mode(request) else None
    return _page(request, "driver_stop.html", csrf, status, view=view, last=last, can_ask=can_ask,
                 fallback=fallback, states=refusals.STATES, leave=leave, demo_at=demo_at,
                 **{"errors": {}, "values": {}, "refusal": None, "others": [], **context})


def demo_mode(request: Request) -> bool:
    """True only in `threshold demo`, which sets the app's demo world."""
    # Not THRESHOLD_MODE: its default is "demo", and a deployment that forgot to set it must not offer this.
    return getattr(request.app.state, "demo_world", None) is not None


def check_ask(barcode: str, lat: str, lon: str) -> tuple[str, tuple[float, float] | None, dict[str, str]]:
    """The barcode and position from the form, and what is wrong with them (field -> message)."""
    code, errors = barcode.strip(), {}
    if not code:
        errors["barcode"] = "Type or scan the package's barcode."
    elif not BARCODE.match(code):
        errors["barcode"] = "A barcode has only letters, digits, - _ and . (up to 100)."
    try:
        where: tuple[float, float] | None = (float(lat), float(lon))
    except ValueError:
        where = None
    # NaN would compare as "near" to every home: only finite, real coordinates count.
    if where is None or not all(math.isfinite(v) for v in where) or not (-90 <= where[0] <= 90) \
            or not (-180 <= where[1] <= 180):
        where = None
        errors["location"] = refusals.REFUSALS["location_missing"].what
    return code, where, errors


@router.post("/stops/{delivery_id}/left", response_class=HTMLResponse)
async def left_outside(request: Request, delivery_id: uuid.UUID, session: DriverCheckedDep, db: SessionDep,
                       now: NowDep, where: Annotated[str, Form(max_length=20)] = "") -> Response:
    """The package is at the door (or in the locker): the stop is done and the household told."""
    me, csrf = _me(session)
    d = await _own_delivery(db, me, delivery_id)
    if d is None:
        return _missing(request, csrf)
    if not deliveries.may_leave_outside(d, where):
        return await _stop_page(request, db, me, csrf, d, 409,
                                errors={"form": "This stop cannot be finished that way; follow what the page says."})
    await deliveries.left_outside(db, me, d.id, where, now)
    return RedirectResponse(f"/driver?left={d.id}", status_code=303)


@router.post("/stops/{delivery_id}/entry", response_class=HTMLResponse)
async def ask_for_entry(request: Request, delivery_id: uuid.UUID, session: DriverCheckedDep, db: SessionDep,
                        now: NowDep, runner: RunnerDep, barcode: Text = "", lat: Text = "",
                        lon: Text = "") -> Response:
    """Ask for entry with the scanned barcode and where the phone is; on to the entry's page, or why not."""
    me, csrf = _me(session)
    d = await db.get(Delivery, delivery_id)
    if d is None or d.driver_id != me:
        if d is not None:  # a try at another driver's door is an access refusal, audited on that home's chain
            await access.refuse(db, d.home_id, access.Actor("driver", str(me)), f"delivery:{d.id}",
                                ["wrong_driver"], now)
        return _missing(request, csrf)
    code, where, errors = check_ask(barcode, lat, lon)
    values = {"barcode": barcode.strip()[:100]}
    if where is None or errors:
        refusal = refusals.REFUSALS["location_missing"] if "location" in errors else None
        return await _stop_page(request, db, me, csrf, d, 422, errors=errors, values=values, refusal=refusal)
    # The runner works in its own transaction: this request must not hold the database meanwhile.
    await db.commit()
    try:
        outcome = await runner.ask(access.Actor("driver", str(me)), access.EntryRequest(d.id, code, *where))
    except NotFound:
        return _missing(request, csrf)
    except ThresholdError as err:
        return await _refused(request, db, me, csrf, d.id, err, values)
    return RedirectResponse(f"/driver/entries/{outcome.session_id}", status_code=303)


async def _refused(request: Request, db: AsyncSession, me: uuid.UUID, csrf: str, delivery_id: uuid.UUID,
                   err: ThresholdError, values: dict[str, str]) -> Response:
    d = await _own_delivery(db, me, delivery_id)  # re-read: a refusal may have applied the fallback
    if d is None:
        return _missing(request, csrf)
    reasons = [str(r) for r in err.extra.get("reasons", [err.code])]
    window = window_text(d.window_start, d.window_end, await _zone(db, d.home_id))
    rules = await db.get(HomeRules, d.home_id)
    # The household's fallback is what the driver does instead, whichever rule of theirs kept the door shut.
    fallback = err.extra.get("fallback") or refusals.fallback_for_refusal(
        reasons, d.fallback, rules.fallback if rules else None)
    refusal = refusals.advice(reasons[0], fallback, window)
    others = [refusals.advice(r, window=window).what for r in reasons[1:]]
    errors = {}
    if "wrong_package" in reasons:
        wrong = refusals.REFUSALS["wrong_package"]
        errors["barcode"] = f"{wrong.what} {wrong.instead}"
    if "not_at_home" in reasons:
        errors["location"] = refusals.REFUSALS["not_at_home"].what
    return await _stop_page(request, db, me, csrf, d, err.status, errors=errors, values=values, refusal=refusal,
                            others=others)


async def _entry_context(db: AsyncSession, entry: EntrySession) -> dict[str, Any]:
    home = await db.get(Home, entry.home_id)
    rules = await db.get(HomeRules, entry.home_id)
    delivery = await db.get(Delivery, entry.delivery_id, populate_existing=True) if entry.delivery_id else None
    assert home is not None
    opened = entry.unlock_sent_at is not None
    fallback = refusals.fallback_for(entry.reason, delivery.fallback if delivery else None,
                                     rules.fallback if rules else None)
    return {"entry": entry, "home": home, "delivery": delivery, "note": rules.driver_note if rules else "",
            "words": refusals.state_words(entry.state, entry.has_alarm, opened),
            "ended": None if entry.live else refusals.ended(entry.state, entry.reason, opened, fallback),
            "error": None}


@router.get("/entries/{session_id}", response_class=HTMLResponse)
async def entry_page(request: Request, session_id: uuid.UUID, session: DriverWebDep, db: SessionDep) -> Response:
    """One entry: what is happening now, every step so far (then live), and the button to lock up."""
    me, csrf = _me(session)
    entry = await _own_entry(db, me, session_id)
    if entry is None:
        return _missing(request, csrf)
    return _page(request, "driver_entry.html", csrf, steps=await steps.steps_of(db, entry),
                 **await _entry_context(db, entry))


@router.get("/entries/{session_id}/panel", response_class=HTMLResponse)
async def entry_panel(request: Request, session_id: uuid.UUID, session: DriverWebDep, db: SessionDep) -> Response:
    """The entry's state and what to do now, for the page to swap in when the state changes."""
    me, csrf = _me(session)
    entry = await _own_entry(db, me, session_id)
    if entry is None:
        return _missing(request, csrf)
    return _page(request, "driver_panel.html", csrf, **await _entry_context(db, entry))


@router.get("/entries/{session_id}/steps")
async def entry_steps(request: Request, session_id: uuid.UUID, session: DriverWebDep, db: SessionDep,
                      after: int = 0) -> Response:
    """Server-sent events: the entry's new steps and its state, until it has ended and gone quiet."""
    me, csrf = _me(session)
    entry = await _own_entry(db, me, session_id)
    if entry is None:
        return _missing(request, csrf)
    return await steps.step_events(request, db, entry, after)


@router.post("/entries/{session_id}/finish", response_class=HTMLResponse)
async def finish(request: Request, session_id: uuid.UUID, session: DriverCheckedDep, db: SessionDep,
                 runner: RunnerDep) -> Response:
    """The package is inside and the driver is out: lock up (and re-arm); the page then shows it happen."""
    me, csrf = _me(session)
    entry = await _own_entry(db, me, session_id)
    if entry is None:
        return _missing(request, csrf)
    if entry.state != machine.State.OPEN.value:
        context = await _entry_context(db, entry)
        context["error"] = refusals.REFUSALS["session_not_open"]
        return _page(request, "driver_entry.html", csrf, 409, steps=await steps.steps_of(db, entry), **context)
    await db.commit()
    await runner.feed(session_id, machine.DriverFinished(), f"driver:{me}")
    return RedirectResponse(f"/driver/entries/{session_id}", status_code=303)
