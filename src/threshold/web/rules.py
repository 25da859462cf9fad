"""Portal pages for a home's rules (in-home on or off, ways in, blackout dates, ask me first), the household's
approve-or-decline of a waiting driver, and the home's audit trail."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from threshold.access import machine
from threshold.audit import service as audit
from threshold.deps import NowDep, RunnerDep, SessionDep
from threshold.errors import Conflict
from threshold.homes import members
from threshold.homes import service as homes
from threshold.homes.schemas import HomeOut, RulesBody
from threshold.inputs import day_in_range, is_note
from threshold.web.deps import CheckedDep, PortalDep, templates

router = APIRouter(prefix="/portal", include_in_schema=False)
FALLBACK_WORDS = {"doorstep": "Leave it at the door", "locker": "Take it to the nearest locker",
                  "reattempt": "Bring it back another day"}
PAGE = 100
Many = Annotated[list[str] | None, Form()]
Text = Annotated[str, Form(max_length=2000)]


def rules_from_form(home: HomeOut, in_home: bool, ask_first: bool, entries: list[str], kept: list[str],
                    add: str, note: str, fallback: str, today: date) -> tuple[RulesBody | None, dict[str, str]]:
    """The rules the form asks for, or the errors per field (nothing is saved on any error)."""
    errors: dict[str, str] = {}
    known = {str(e.id) for e in home.entry_points}
    if any(e not in known for e in entries):
        errors["entries"] = "Choose ways in of this home."
    dates: set[date] = set()
    for raw in kept:
        try:
            dates.add(day_in_range(date.fromisoformat(raw)))
        except ValueError:
            errors["blackout"] = "A blackout date could not be read; reload the page."
    if add.strip():
        try:
            new = date.fromisoformat(add.strip())
        except ValueError:
            errors["blackout"] = "Give the date as shown by the calendar (YYYY-MM-DD)."
        else:
            if new < today:
                errors["blackout"] = "Choose today or a later day."
            else:
                try:
                    dates.add(day_in_range(new))
                except ValueError:
                    errors["blackout"] = "Choose a day before 2101."
    if len(dates) > 366:
        errors["blackout"] = "At most 366 blackout dates."
    if len(note) > 1000:
        errors["note"] = "Keep the note to drivers under 1000 characters."
    elif not is_note(note):
        errors["note"] = "Use letters, digits, punctuation and line breaks only."
    if fallback not in FALLBACK_WORDS:
        errors["fallback"] = "Choose what happens when the door cannot be opened."
    if errors:
        return None, errors
    try:
        body = RulesBody(in_home_enabled=in_home, ask_first=ask_first, driver_note=note.strip(),
                         allowed_entry_points=[uuid.UUID(e) for e in entries],
                         blackout_dates=sorted(dates), fallback=fallback)
    except ValidationError:
        return None, {"form": "These rules cannot be saved; check each field."}
    return body, {}


def _rules_page(request: Request, csrf: str, home: HomeOut, rules: RulesBody, errors: dict[str, str],
                saved: bool = False, status: int = 200, add: str = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "rules.html", {
        "csrf": csrf, "home": home, "rules": rules, "errors": errors, "saved": saved, "add": add,
        "fallbacks": FALLBACK_WORDS, "allowed": {str(e) for e in rules.allowed_entry_points}}, status_code=status)


@router.get("/homes/{home_id}/rules", response_class=HTMLResponse)
async def rules_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                     saved: bool = False) -> HTMLResponse:
    """The home's in-home rules."""
    home = await homes.home_out(db, await homes.own_home(db, session.member_id, home_id))
    return _rules_page(request, session.csrf, home, home.rules, {}, saved)


@router.post("/homes/{home_id}/rules", response_class=HTMLResponse)
async def save_rules(request: Request, home_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                     in_home: Annotated[bool, Form()] = False, ask_first: Annotated[bool, Form()] = False,
                     entries: Many = None, blackout: Many = None, add: Text = "", note: Text = "",
                     fallback: Text = "") -> Response:
    """Save the rules whole (audited), or show each error next to its field and save nothing (owners only)."""
    row = await members.owner_home(db, session.member_id, home_id, "change the rules", now)
    home = await homes.home_out(db, row)
    local_today = now.astimezone(ZoneInfo(home.timezone)).date()
    body, errors = rules_from_form(home, in_home, ask_first, entries or [], blackout or [], add, note, fallback,
                                   local_today)
    if body is None:
        wanted = home.rules.model_copy(update={"in_home_enabled": in_home, "ask_first": ask_first,
                                               "driver_note": note[:1000]})
        return _rules_page(request, session.csrf, home, wanted, errors, status=422, add=add)
    await homes.set_rules(db, row, body, f"member:{session.member_id}", now)
    return RedirectResponse(f"/portal/homes/{home_id}/rules?saved=1", status_code=303)


async def _decide(home_id: uuid.UUID, session_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                  runner: RunnerDep, event: machine.Event, now: datetime) -> Response:
    home = await homes.own_home(db, session.member_id, home_id)
    page = f"/portal/homes/{home_id}/sessions/{session_id}"
    try:
        await homes.waiting_session(db, home, session_id, f"member:{session.member_id}", now)
    except Conflict:
        return RedirectResponse(f"{page}?decided=late", status_code=303)
    await db.commit()
    outcome = await runner.feed(session_id, event, f"member:{session.member_id}")
    said = "yes" if isinstance(event, machine.Approved) else "no"
    if outcome is not None and outcome.reason == "door_busy":
        said = "busy"
    return RedirectResponse(f"{page}?decided={said}", status_code=303)


@router.post("/homes/{home_id}/sessions/{session_id}/approve")
async def approve(home_id: uuid.UUID, session_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                  runner: RunnerDep, now: NowDep) -> Response:
    """Let in the driver waiting at the door ("ask me first")."""
    return await _decide(home_id, session_id, session, db, runner, machine.Approved(), now)


@router.post("/homes/{home_id}/sessions/{session_id}/decline")
async def decline(home_id: uuid.UUID, session_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                  runner: RunnerDep, now: NowDep) -> Response:
    """Refuse the driver waiting at the door."""
    return await _decide(home_id, session_id, session, db, runner, machine.Declined(), now)


@router.post("/homes/{home_id}/deliveries/{delivery_id}/approve")
async def approve_delivery(home_id: uuid.UUID, delivery_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                           now: NowDep) -> Response:
    """Approve a delivery ahead of time, so its driver need not wait at the door (audited)."""
    home = await homes.own_home(db, session.member_id, home_id)
    await homes.approve_delivery(db, home, delivery_id, f"member:{session.member_id}", now)
    return RedirectResponse(f"/portal/homes/{home_id}?approved={delivery_id}", status_code=303)


@router.get("/homes/{home_id}/audit", response_class=HTMLResponse)
async def audit_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                     page: int = 1) -> HTMLResponse:
    """The home's audit trail, newest first, with the chain checked end to end."""
    home = await homes.own_home(db, session.member_id, home_id)
    checked, findings = await audit.verify_home(db, home.id)
    page = max(1, page)
    last = max(0, checked - (page - 1) * PAGE)
    rows = await audit.records(db, home.id, limit=PAGE, after_seq=max(0, last - PAGE))
    rows = [r for r in rows if r.seq <= last][::-1]
    return templates.TemplateResponse(request, "audit.html", {
        "csrf": session.csrf, "home": home, "rows": rows, "checked": checked, "findings": findings,
        "page": page, "more": last - PAGE > 0})
