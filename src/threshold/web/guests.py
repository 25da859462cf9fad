"""Portal pages for guest access: a home's guests, a form for one-time or repeating access with calendar pickers
and a live preview, the guest's personal link shown once, and revoke (immediate)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from threshold.access import guests, machine
from threshold.access.models import EntrySession, Grant
from threshold.deps import NowDep, RunnerDep, SessionDep, SettingsDep
from threshold.errors import ThresholdError
from threshold.homes import service as homes
from threshold.homes.models import EntryPoint, Home
from threshold.web import schedule_form as sf
from threshold.web.deps import CheckedDep, PortalDep, templates
from threshold.web.models import WebSession

router = APIRouter(prefix="/portal/homes/{home_id}/guests", include_in_schema=False)

# The personal link is the guest's credential: never cached, never sent on as a referrer.
PRIVATE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
# Where the service's own refusals of a form belong on the page.
_SERVICE_FIELDS = {"entry_point_unknown": "entry_point", "rrule_invalid": "days", "timezone_unknown": "form"}


@dataclass(frozen=True, slots=True)
class GuestRow:
    """A guest as the household's list shows it."""

    grant: Grant
    entry: str
    words: str
    status: str
    visits: list[str]
    months: list[sf.Month]


def schedule_of(g: Grant) -> sf.Schedule:
    """A stored grant's schedule."""
    return sf.Schedule(g.starts_at, g.ends_at, g.rrule, g.duration_minutes, g.timezone)


def status_of(g: Grant, now: datetime) -> str:
    """Active, revoked, used (one-time, already opened) or ended."""
    if g.revoked_at is not None:
        return "revoked"
    if g.single_use and g.used_at is not None:
        return "used"
    return "ended" if g.ends_at <= now else "active"


def today_in(home: Home, now: datetime) -> date:
    """The home's calendar date at `now`."""
    return now.astimezone(ZoneInfo(home.timezone)).date()


def row_of(g: Grant, entries: dict[uuid.UUID, str], home: Home, now: datetime) -> GuestRow:
    """One guest's line: schedule in words, next visits and their calendar."""
    status = status_of(g, now)
    found = sf.visits(schedule_of(g), now, 40) if status == "active" else []
    today = today_in(home, now)
    return GuestRow(g, entries.get(g.entry_point_id, "?"), sf.describe(schedule_of(g), now), status,
                    [sf.visit_words(v, today) for v in found[:3]], sf.month_calendar(found, today))


async def _entry_points(db: SessionDep, home: Home) -> dict[uuid.UUID, str]:
    rows = (await db.execute(select(EntryPoint).where(EntryPoint.home_id == home.id)
                             .order_by(EntryPoint.label))).scalars()
    return {e.id: e.label for e in rows}


def _page(request: Request, name: str, session: WebSession, status: int = 200,
          headers: dict[str, str] | None = None, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"csrf": session.csrf, **context}, status_code=status,
                                      headers=headers)


def _form_page(request: Request, session: WebSession, home: Home, entries: dict[uuid.UUID, str], now: datetime,
               form: sf.GuestForm, errors: dict[str, str], status: int = 200) -> HTMLResponse:
    today = today_in(home, now)
    return _page(request, "guest_form.html", session, status, home=home, entries=entries, form=form, errors=errors,
                 days=list(zip(sf.DAYS, sf.DAY_NAMES, strict=True)), today=today.isoformat(),
                 preview=_preview(form, home, now))


def _preview(form: sf.GuestForm, home: Home, now: datetime) -> dict[str, Any] | None:
    """The visits the form would give, or None while it does not describe a schedule yet."""
    try:
        schedule = sf.to_schedule(form, home.timezone, now)
    except sf.Invalid:
        return None
    found = sf.visits(schedule, now, 40)
    today = today_in(home, now)
    return {"words": sf.describe(schedule, now), "visits": [sf.visit_words(v, today) for v in found[:3]],
            "months": sf.month_calendar(found, today)}


async def _form(request: Request) -> sf.GuestForm:
    body = await request.form()
    return sf.GuestForm.from_pairs((k, str(v)) for k, v in body.multi_items())


@router.get("", response_class=HTMLResponse)
async def guest_list(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep, now: NowDep,
                     done: str | None = None) -> HTMLResponse:
    """The home's guests: schedule in words, next visits, status, revoke, keypad PIN."""
    home = await homes.own_home(db, session.member_id, home_id)
    entries = await _entry_points(db, home)
    rows = [row_of(g, entries, home, now) for g in await guests.list_for_home(db, home.id)]
    return _page(request, "guests.html", session, home=home, rows=rows, done=done)


@router.get("/new", response_class=HTMLResponse)
async def new_guest_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                         now: NowDep) -> HTMLResponse:
    """The form for a new guest: once or repeating, with calendar pickers."""
    home = await homes.own_home(db, session.member_id, home_id)
    entries = await _entry_points(db, home)
    first = next(iter(entries), None)
    form = sf.GuestForm(entry_point=str(first) if len(entries) == 1 else "")
    return _form_page(request, session, home, entries, now, form, {})


@router.post("/new", response_class=HTMLResponse)
async def create_guest(request: Request, home_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                       settings: SettingsDep) -> Response:
    """Give a guest access; every field is checked before anything is saved, and the link is shown once."""
    home = await homes.own_home(db, session.member_id, home_id)
    entries = await _entry_points(db, home)
    form = await _form(request)
    try:
        data = sf.to_grant(form, {str(e) for e in entries}, home.timezone, now)
        grant, token = await guests.create(db, home.id, f"member:{session.member_id}", data, now)
    except sf.Invalid as exc:
        return _form_page(request, session, home, entries, now, form, exc.errors, 422)
    except ThresholdError as exc:
        # The service refuses before it writes anything, so there is nothing to roll back.
        field = _SERVICE_FIELDS.get(exc.code, "form")
        return _form_page(request, session, home, entries, now, form, {field: exc.detail}, 422)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    row = row_of(grant, entries, home, now)
    return _page(request, "guest_created.html", session, 201, headers=PRIVATE, home=home, row=row,
                 link=f"{base}/g/{token}")


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request, home_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                  now: NowDep) -> HTMLResponse:
    """The form's visits as words and a calendar (htmx, on every change); saves nothing."""
    home = await homes.own_home(db, session.member_id, home_id)
    form = await _form(request)
    return _page(request, "guest_preview.html", session, preview=_preview(form, home, now))


@router.post("/{grant_id}/revoke")
async def revoke(home_id: uuid.UUID, grant_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                 runner: RunnerDep) -> RedirectResponse:
    """Revoke a guest's access at once (audited); a guest inside is let out and the door locked."""
    home = await homes.own_home(db, session.member_id, home_id)
    actor = f"member:{session.member_id}"
    grant = await guests.revoke(db, home.id, grant_id, actor, now)
    live = list((await db.execute(select(EntrySession.id).where(
        EntrySession.grant_id == grant.id, EntrySession.live.is_(True)))).scalars())
    await db.commit()
    for session_id in live:
        await runner.feed(session_id, machine.Abort("grant_revoked"), actor)
    return RedirectResponse(f"/portal/homes/{home.id}/guests?done=revoked", status_code=303)
