"""A guest's personal link page (`/g/{token}`, no sign-in: the token is the credential). It opens the door only
inside the schedule: the access service judges every try (and audits a refusal); the page only shows what it said.

The token is in the URL, so every answer is `no-store` and sends no referrer; a POST needs a double-submit token
bound to a SameSite=Strict cookie, and is refused when the browser says it came from another site.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import limits
from threshold.access import denials, machine, policy
from threshold.access import service as access
from threshold.access.models import EntrySession, Grant
from threshold.access.runner import unlocked_or_final
from threshold.deps import NowDep, RunnerDep, SessionDep, SettingsDep
from threshold.errors import NotFound, ThresholdError
from threshold.homes.models import Home, HomeRules
from threshold.security import hash_token, same
from threshold.web import schedule_form as sf
from threshold.web import steps
from threshold.web.deps import secure, templates
from threshold.web.guests import schedule_of

router = APIRouter(prefix="/g/{token}", include_in_schema=False)

COOKIE = "thr_guest"
PRIVATE = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-robots-tag": "noindex"}
Pre = Annotated[str, Form(max_length=200)]

# What a guest is told for each refusal code (policy.REFUSALS, the session's abort reasons, the door being busy).
REASONS = {
    "grant_revoked": "The household has withdrawn this link.",
    "grant_used": "This link was for one visit, and it has been used.",
    "grant_expired": "Your access has ended.",
    "outside_window": "It is not your time to come in yet.",
    "entry_point_not_allowed": "The household does not allow anyone in by this door at the moment.",
    "device_offline": "The lock or the camera at the door is offline, so the door cannot be opened. "
                      "Try again in a few minutes, or call the household.",
    "camera_not_confirmed": "The camera did not start recording, so the door stayed locked. Try again, "
                            "or call the household.",
    # Only a session that may act on the door holds it (not one waiting for the household's yes), so this is true.
    "entry_in_progress": "Someone else is using this door right now. Try again in a minute.",
    "door_busy": "Someone else is using this door right now. Try again in a minute.",
    "approval_timeout": "The household did not answer in time, so the door stayed locked. Try again, or call "
                        "the household.",
    "approval_declined": "The household said no this time, so the door stayed locked. Call the household.",
    "awaiting_approval": "Waiting for the household to approve. This page changes when they answer.",
    "camera_stalled": "The camera stopped sending pictures, so the door stayed locked. Try again, or call the "
                      "household.",
    "interrupted": "The system restarted before the door opened, so it stayed locked. Try again.",
    "alarm_not_disarmed": "The alarm could not be turned off, so the door stayed locked. Call the household.",
    "lock_jammed": "The lock did not open. Call the household.",
    "lock_not_confirmed": "The lock did not confirm it opened. Try again, or call the household.",
    "lock_offline": "The lock is offline. Try again in a few minutes, or call the household.",
}
# Refusals that may be gone a minute later: the door was busy, nobody answered, a device hiccupped. The page offers
# "Try again" for these (the access service gives a one-time link back when such a try ended before any unlock).
RETRY = frozenset({"entry_in_progress", "door_busy", "approval_timeout", "device_offline", "camera_not_confirmed",
                   "camera_stalled", "lock_offline", "lock_not_confirmed", "alarm_not_disarmed", "interrupted"})


def _headers(response: Response) -> Response:
    response.headers.update(PRIVATE)
    return response


def _gone(request: Request, status: int) -> Response:
    """A plain page that says nothing about the home or the guest (unknown or withdrawn link)."""
    title = "This link does not work" if status == 404 else "This link no longer works"
    return _headers(templates.TemplateResponse(request, "guest_gone.html", {"title": title, "csrf": None},
                                               status_code=status))


async def _grant(request: Request, db: AsyncSession, token: str, now: datetime) -> Grant | None:
    """The guest grant behind a link token; guessing tokens is rate limited per address and audited."""
    settings = request.app.state.settings
    lim, address = limits.Limits.of(settings), limits.client_address(request, settings)
    await limits.check(db, lim, None, address, now)
    grant = None
    if 10 <= len(token) <= 200:
        grant = (await db.execute(select(Grant).where(Grant.token_hash == hash_token(token),
                                                      Grant.kind == "guest"))).scalar_one_or_none()
    if grant is None:
        await limits.failed(db, lim, None, address, now)
        await denials.unknown(db, "guest:unknown", "grant:unknown", "grant_unknown", now, NotFound())
    return grant


async def _refusals_now(db: AsyncSession, grant: Grant, home: Home, now: datetime) -> list[str]:
    """What the access rules would say to a try right now (shown before the guest tries; the try is judged
    again, for real, by the service)."""
    rules = await db.get(HomeRules, home.id)
    if rules is None:
        return ["entry_point_not_allowed"]
    view = policy.RulesView(rules.in_home_enabled, tuple(rules.allowed_entry_points), tuple(rules.blackout_dates),
                            home.timezone)
    return policy.refusals(policy.EntryAsk(grant=access.grant_view(grant), rules=view, now=now))


def _words(codes: list[str], grant: Grant, home: Home, now: datetime) -> str:
    """A refusal in words; outside the schedule it says when the guest may come."""
    code = codes[0] if codes else "entry_refused"
    if code != "outside_window":
        return REASONS.get(code, "The door cannot be opened now. Call the household.")
    schedule = schedule_of(grant)
    upcoming = sf.visits(schedule, now, 1, within=sf.LONGEST)
    today = now.astimezone(ZoneInfo(home.timezone)).date()
    nxt = f" Next: {sf.visit_words(upcoming[0], today)}." if upcoming else ""
    return f"Your access is {sf.describe(schedule, now)}.{nxt}"


def _pre(request: Request) -> str:
    return request.cookies.get(COOKIE) or secrets.token_urlsafe(24)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    token = _pre(request)
    response = templates.TemplateResponse(request, name, {"csrf": None, "pre": token, **context},
                                          status_code=status)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/g/")
    return _headers(response)


def _same_site(request: Request, presented: str) -> bool:
    """The POST came from our own page: the browser says so (when it says anything) and the tokens match."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even from our own page.
    origin = request.headers.get("origin") or "null"
    if origin != "null" and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        return False
    cookie = request.cookies.get(COOKIE)
    return bool(cookie) and bool(presented) and same(cookie or "", presented)


async def _guest_page(request: Request, db: AsyncSession, grant: Grant, now: datetime, token: str,
                      status: int = 200, refused: list[str] | None = None) -> Response:
    """The guest's page; `refused` holds the codes of a try the access service just refused."""
    home = await db.get(Home, grant.home_id)
    assert home is not None
    schedule = schedule_of(grant)
    today = now.astimezone(ZoneInfo(home.timezone)).date()
    upcoming = sf.visits(schedule, now, 40)
    now_codes = await _refusals_now(db, grant, home, now)
    codes = refused or now_codes
    live = (await db.execute(select(EntrySession.id).where(EntrySession.grant_id == grant.id,
                                                           EntrySession.live.is_(True)))).scalar_one_or_none()
    return _page(request, "guest.html", status, home=home, grant=grant, token=token, live=live,
                 words=sf.describe(schedule, now), visits=[sf.visit_words(v, today) for v in upcoming[:3]],
                 months=sf.month_calendar(upcoming, today), can_open=not codes, tried=bool(refused),
                 retry=bool(refused) and codes[0] in RETRY and not now_codes,
                 why=_words(codes, grant, home, now) if codes else None,
                 # Outside the schedule the message says the schedule itself; the greeting need not.
                 said=bool(codes) and codes[0] == "outside_window")


@router.get("", response_class=HTMLResponse)
async def guest_home(request: Request, token: str, db: SessionDep, now: NowDep) -> Response:
    """The guest's page: the home, the schedule in words, the next visits, and "Open the door" when it is time."""
    grant = await _grant(request, db, token, now)
    if grant is None:
        return _gone(request, 404)
    if grant.revoked_at is not None:
        return _gone(request, 410)
    return await _guest_page(request, db, grant, now, token)


@router.post("/open", response_class=HTMLResponse)
async def open_door(request: Request, token: str, db: SessionDep, runner: RunnerDep, settings: SettingsDep,
                    now: NowDep, pre: Pre = "") -> Response:
    """Ask the access service to open the door; a refusal (audited there) comes back in words."""
    grant = await _grant(request, db, token, now)
    if grant is None:
        return _gone(request, 404)
    if not _same_site(request, pre):
        # Not this guest's own page (a forged or stale form): the rules never judged it, but it is on record.
        await denials.refused(db, grant.home_id, f"guest:{grant.id}", f"grant:{grant.id}", "open", "forged_request",
                              now)
        return _page(request, "guest_gone.html", 403, title="The page expired: go back and try again")
    if grant.revoked_at is not None:
        # A withdrawn link still knocking is worth the household's knowing: refused, and on the home's record.
        await access.refuse(db, grant.home_id, access.Actor("guest", str(grant.id)), f"grant:{grant.id}",
                            ["grant_revoked"], now)
        return _gone(request, 410)
    # The runner works in transactions of its own; this one must not hold a lock on the grant meanwhile.
    await db.commit()
    try:
        outcome = await runner.ask_guest(token)
    except ThresholdError as err:
        now = runner.clock()
        codes = list(err.extra.get("reasons") or [err.code])
        return await _guest_page(request, db, grant, now, token, err.status, refused=codes)
    row = await runner.wait(outcome.session_id, unlocked_or_final(), settings.entry_wait_seconds)
    if not row.live and row.unlock_sent_at is None:
        now = runner.clock()
        return await _guest_page(request, db, grant, now, token, 503, refused=[row.reason or "aborted"])
    return _headers(RedirectResponse(f"/g/{token}/entries/{row.id}", status_code=303))


async def _own_entry(request: Request, db: AsyncSession, token: str, session_id: uuid.UUID,
                     now: datetime) -> tuple[Grant | None, EntrySession | None]:
    grant = await _grant(request, db, token, now)
    row = await db.get(EntrySession, session_id) if grant is not None else None
    if grant is None or row is None:
        return grant, None
    if row.grant_id != grant.id:
        await denials.not_yours(db, row.home_id, f"guest:{grant.id}", f"session:{row.id}", "session", now)
        return grant, None
    return grant, row


@router.get("/entries/{session_id}", response_class=HTMLResponse)
async def entry_page(request: Request, token: str, session_id: uuid.UUID, db: SessionDep, now: NowDep) -> Response:
    """The guest's entry: its steps as they happen, and "I'm done: lock up" while the door is open."""
    grant, row = await _own_entry(request, db, token, session_id, now)
    if grant is None or row is None:
        return _gone(request, 404)
    if grant.revoked_at is not None:
        return _gone(request, 410)
    home = await db.get(Home, grant.home_id)
    done = await steps.steps_of(db, row)
    return _page(request, "guest_entry.html", home=home, grant=grant, token=token, entry=row, steps=done,
                 state=steps.state_label(row.state))


@router.get("/entries/{session_id}/steps", response_model=None)
async def entry_steps(request: Request, token: str, session_id: uuid.UUID, db: SessionDep, now: NowDep,
                      after: int = 0) -> Response:
    """Server-sent events: each new step of the guest's entry, until it has ended."""
    grant, row = await _own_entry(request, db, token, session_id, now)
    if grant is None or row is None or grant.revoked_at is not None:
        return _gone(request, 404)
    stream: StreamingResponse = await steps.step_events(request, db, row, after)
    return _headers(stream)


@router.post("/entries/{session_id}/finish", response_class=HTMLResponse)
async def finish(request: Request, token: str, session_id: uuid.UUID, db: SessionDep, runner: RunnerDep,
                 now: NowDep, pre: Pre = "") -> Response:
    """The guest is done: lock up (and re-arm the alarm)."""
    grant, row = await _own_entry(request, db, token, session_id, now)
    if grant is None or row is None:
        return _gone(request, 404)
    if not _same_site(request, pre):
        return _page(request, "guest_gone.html", 403, title="The page expired: go back and try again")
    if row.state == machine.State.OPEN.value:
        await db.commit()
        await runner.feed(session_id, machine.DriverFinished(), f"guest:{grant.id}")
    return _headers(RedirectResponse(f"/g/{token}/entries/{session_id}", status_code=303))
