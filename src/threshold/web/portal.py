"""Pages for a signed-in household: homes and devices, a home's deliveries and entries, one entry's timeline
with its clip and live view, and notification settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import approvals
from threshold.deps import NowDep, SessionDep
from threshold.homes import service as homes
from threshold.homes.models import Home
from threshold.notify import choices, moments
from threshold.video import router as video
from threshold.video import service as clips
from threshold.web import entry_view, steps
from threshold.web.deps import CheckedDep, PortalDep, templates

router = APIRouter(prefix="/portal", include_in_schema=False)
# About half an hour of one-second looks per home-page stream before the browser reconnects.
LIVE_LOOKS = 1800

MOMENT_LABELS = {
    "window_today": "The morning of a delivery (its window)", "driver_on_way": "The driver is on the way",
    "delivered": "Delivered inside (with the clip)", "camera_offline": "The camera went offline during an entry",
    "door_not_relocked": "The door was not locked again", "alarm_not_rearmed": "The alarm was not re-armed",
    "guest_entered": "A guest came in", "guest_left": "A guest left",
    "delivery_refused": "A delivery was refused, and what happens instead",
    "approval_requested": "A driver asks to come in (ask me first)", "session_update": "Other changes to an entry",
    "all_clear": "All clear: a door or alarm problem is resolved",
    "door_relocked": "A door found unlocked was locked again",
    "device_offline": "A device went offline or came back", "battery_low": "A device's battery runs low",
}


def _page(request: Request, name: str, session: Any, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"csrf": session.csrf, **context}, status_code=status)


@router.get("", response_class=HTMLResponse)
async def portal(request: Request, session: PortalDep, db: SessionDep) -> HTMLResponse:
    """The household's homes, each with its devices' health."""
    found = [await homes.home_out(db, h) for h in await homes.homes(db, session.member_id)]
    return _page(request, "portal.html", session, homes=found)


async def _entries(db: AsyncSession, home: Home, now: datetime) -> dict[str, Any]:
    entries = await homes.sessions(db, home, limit=30)
    kept = {c.session_id: c for c in await clips.clips_of_home(db, home.id, limit=60)}
    waiting = await approvals.waiting_at(db, home.id, home.timezone, now)
    return {"entries": entries, "clips": kept, "waiting": waiting, "tz": home.timezone,
            "outcomes": await entry_view.outcomes(db, entries, home.timezone), "clip_words": entry_view.CLIP_WORDS}


@router.get("/homes/{home_id}", response_class=HTMLResponse)
async def home_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                    now: NowDep, approved: uuid.UUID | None = None) -> HTMLResponse:
    """One home: entries (live), deliveries with approval ahead, devices, and links to its rules and guests."""
    home = await homes.own_home(db, session.member_id, home_id)
    return _page(request, "home.html", session, home=await homes.home_out(db, home),
                 deliveries=await homes.deliveries(db, home, limit=30), approved=approved,
                 **await _entries(db, home, now))


@router.get("/homes/{home_id}/live")
async def home_live(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep) -> StreamingResponse:
    """Server-sent events: the home's entries list again whenever an entry starts, changes or its clip does."""
    home = await homes.own_home(db, session.member_id, home_id)
    sessions, part, csrf = request.app.state.sessions, templates.env.get_template("_entries.html"), session.csrf
    out = {"id": home.id}

    async def events() -> AsyncIterator[str]:
        shown, looks = "", 0
        # A page left open reconnects on its own (htmx's SSE extension), so one stream need not live forever.
        while looks < LIVE_LOOKS and not await request.is_disconnected():
            async with sessions() as fresh:
                row = await fresh.get(Home, out["id"])
                html = (part.render(home=out, csrf=csrf, **await _entries(fresh, row, request.app.state.clock()))
                        if row else "")
            if html != shown:
                shown = html
                yield "event: entries\ndata: " + html.replace("\n", "") + "\n\n"
            else:
                yield ": keep-alive\n\n"
            looks += 1
            await asyncio.sleep(1.0)

    await db.commit()
    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})


@router.get("/homes/{home_id}/sessions/{session_id}", response_class=HTMLResponse)
async def entry_page(request: Request, home_id: uuid.UUID, session_id: uuid.UUID, session: PortalDep,
                     db: SessionDep, now: NowDep, decided: str | None = None) -> HTMLResponse:
    """One entry: every step with its time, the clip, and the live view while it lasts."""
    entry = await video.owned_session(db, session.member_id, home_id, session_id, "clip", now)
    home = await db.get(Home, entry.home_id)  # owned_session already checked the household
    assert home is not None
    clip = await clips.clip_of_session(db, entry.id)
    keeper = getattr(request.app.state, "keeper", None)
    live = keeper is not None and keeper.will_be_live(entry, clip)
    waiting = [w for w in await approvals.waiting_at(db, home.id, home.timezone, now) if w.session_id == entry.id]
    return _page(request, "entry.html", session, **await entry_view.context(db, home, entry, clip, live),
                 waiting=waiting, decided=decided if decided in ("yes", "no", "late", "busy") else None)


@router.get("/homes/{home_id}/sessions/{session_id}/steps")
async def entry_steps(request: Request, home_id: uuid.UUID, session_id: uuid.UUID, session: PortalDep,
                      db: SessionDep, now: NowDep, after: int = 0) -> StreamingResponse:
    """Server-sent events: each new step of the entry as a list item, the sentence and state in words, and the
    sealed clip in place of the live view, until the entry has ended, its clip is sealed and all is quiet."""
    entry = await video.owned_session(db, session.member_id, home_id, session_id, "clip", now)
    home = await db.get(Home, entry.home_id)
    tz = home.timezone if home else "UTC"
    return await steps.step_events(request, db, entry, after, extra=entry_view.updates(entry.home_id, tz))


@router.get("/homes/{home_id}/sessions/{session_id}/clip", response_class=FileResponse)
async def entry_clip(request: Request, home_id: uuid.UUID, session_id: uuid.UUID, session: PortalDep,
                     db: SessionDep, now: NowDep) -> FileResponse:
    """The entry's clip for the page's player (audited once per view)."""
    entry = await video.owned_session(db, session.member_id, home_id, session_id, "clip", now)
    return await video.serve_clip(request, db, entry, f"member:{session.member_id}", "portal", now)


@router.get("/homes/{home_id}/sessions/{session_id}/live")
async def entry_live(request: Request, home_id: uuid.UUID, session_id: uuid.UUID, session: PortalDep,
                     db: SessionDep, now: NowDep) -> StreamingResponse:
    """The entry live, as MJPEG for an <img> (relayed by threshold; audited)."""
    entry = await video.owned_session(db, session.member_id, home_id, session_id, "live", now)
    stream = await video.live_stream(request, db, entry)
    await clips.audit_view(db, entry, f"member:{session.member_id}", "live", "portal", now)
    await db.commit()
    return stream


@router.get("/settings/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, session: PortalDep, db: SessionDep, saved: bool = False) -> HTMLResponse:
    """Which moments the signed-in member hears about, on which channels (their own choice)."""
    household = await homes.household_of(db, session.member_id)
    chosen = await choices.member_preferences(db, session.member_id, household)
    return _page(request, "notifications.html", session, chosen=chosen, labels=MOMENT_LABELS,
                 channels=moments.CHANNELS, errors={}, saved=saved)


@router.post("/settings/notifications", response_class=HTMLResponse)
async def save_notifications(request: Request, session: CheckedDep, db: SessionDep, now: NowDep) -> Response:
    """Save the channels per moment; a tampered form is refused whole with the error next to the moment."""
    form = await request.form()
    wanted: dict[str, list[str]] = {m: [] for m in moments.MOMENTS}
    errors: dict[str, str] = {}
    for key, value in form.multi_items():
        if key == "csrf":
            continue
        if key not in moments.MOMENTS:
            errors["form"] = f"Unknown moment {key!r}."
        elif str(value) not in moments.CHANNELS:
            errors[key] = f"Unknown channel {str(value)!r}."
        else:
            wanted[key].append(str(value))
    household = await homes.household_of(db, session.member_id)
    if errors:
        chosen = await choices.member_preferences(db, session.member_id, household)
        return _page(request, "notifications.html", session, 422, chosen=chosen, labels=MOMENT_LABELS,
                     channels=moments.CHANNELS, errors=errors, saved=False)
    home_ids = [h.id for h in await homes.homes(db, session.member_id)]
    await choices.set_member_preferences(db, session.member_id, household, wanted, home_ids, now)
    return RedirectResponse("/portal/settings/notifications?saved=1", status_code=303)
