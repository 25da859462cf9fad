"""The operator console: live sessions, unsecured doors and incidents, device health, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.deps import NowDep, SessionDep
from threshold.errors import ThresholdError
from threshold.notify import service as notify
from threshold.ops import service
from threshold.web import auth, steps
from threshold.web.deps import SURFACES, OpsCheckedDep, OpsWebDep, templates
from threshold.web.models import WebSession

router = APIRouter(prefix="/ops", include_in_schema=False)
SURFACE = SURFACES["operator"]
# Seconds between looks at the database for the overview's stream, and how long one stream lasts before the
# browser's EventSource reconnects (so a signed-out or deactivated operator's stream does not outlive them).
POLL, STREAM_LIFETIME = 1.0, 600.0
PROBLEM_WORDS = {"offline": "Offline", "low_battery": "Low battery", "stale": "Not seen for a while"}
DONE_WORDS = {"acknowledged": "Acknowledged: you are on it.", "closed": "Closed.", "replayed": "Queued again.",
              "lock_confirmed": "Locked: the lock confirmed it.",
              "lock_sent": "Lock sent; the lock has not confirmed yet (watch the devices below).",
              "rearm_confirmed": "Armed: the alarm confirmed it.",
              "rearm_sent": "Arm sent; the alarm has not confirmed yet (watch the devices below).",
              "entry_in_progress": "Refused: an entry is using this door now; it locks when the entry ends.",
              "device_offline": "Refused: the device is offline, a command cannot reach it.",
              "reason_required": "Say why (a reason is required); nothing was sent.",
              "reason_invalid": "The reason is not valid; nothing was sent.",
              "door_not_found": "This incident names no door to lock.",
              "not_an_alarm_incident": "Only an alarm incident can be re-armed."}


Note = Annotated[str, Form(max_length=10_000)]


def _page(request: Request, name: str, session: WebSession, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"csrf": session.csrf, "kind_words": service.kind_words,
                                                      "age": service.age_words, **context}, status_code=status)


def _missing(request: Request, session: WebSession, err: ThresholdError) -> HTMLResponse:
    return _page(request, "ops_error.html", session, err.status, title=err.title, detail=err.detail)


def _actor(session: WebSession) -> str:
    return f"operator:{session.principal_id}"


async def _overview(db: AsyncSession, now: Any) -> dict[str, Any]:
    return {"counts": await service.counts(db), "incidents": await service.incidents(db, "open"),
            "live": await service.live_sessions(db), "now": now}


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, session: OpsWebDep, db: SessionDep, now: NowDep) -> HTMLResponse:
    """Counts, open incidents (nobody on it first) and live sessions, kept up to date over server-sent events."""
    return _page(request, "ops.html", session, **await _overview(db, now))


def _event(name: str, html: str) -> str:
    # One data line per line of HTML: the browser joins them with newlines again.
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"


@router.get("/events")
async def overview_events(request: Request, session: OpsWebDep, db: SessionDep) -> StreamingResponse:
    """Server-sent events `counts`, `incidents` and `sessions`: each fragment again whenever it changed."""
    sessions, clock, token = request.app.state.sessions, request.app.state.clock, request.cookies.get(SURFACE.cookie)
    parts = {"counts": templates.env.get_template("ops_counts.html"),
             "incidents": templates.env.get_template("ops_incidents.html"),
             "sessions": templates.env.get_template("ops_sessions.html")}

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end, last = loop.time() + STREAM_LIFETIME, dict[str, str]()
        while loop.time() < end and not await request.is_disconnected():
            async with sessions() as fresh:
                now = clock()
                if await auth.session_of(fresh, token, now, SURFACE.kind) is None:
                    return
                context = {**await _overview(fresh, now), "kind_words": service.kind_words,
                           "age": service.age_words}
            sent = False
            for name, template in parts.items():
                html = template.render(**context)
                if last.get(name) != html:
                    last[name], sent = html, True
                    yield _event(name, html)
            if not sent:
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL)

    # The request's transaction ends here: a stream must not hold a database connection or lock while it lasts.
    await db.commit()
    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})


async def _incident_page(request: Request, session: WebSession, db: AsyncSession, incident_id: uuid.UUID,
                         now: Any, status: int = 200, errors: dict[str, str] | None = None, note: str = "",
                         done: str | None = None) -> HTMLResponse:
    try:
        row = await service.incident(db, incident_id)
    except ThresholdError as err:
        return _missing(request, session, err)
    entry = (await service.entry(db, row.incident.session_id)).session if row.incident.session_id else None
    done_steps = await steps.steps_of(db, entry) if entry is not None else []
    devices = await service.devices(db, now, home_id=row.home.id)
    return _page(request, "ops_incident.html", session, status, row=row, entry=entry, steps=done_steps,
                 devices=devices, problem_words=PROBLEM_WORDS, errors=errors or {}, note=note, now=now,
                 done=DONE_WORDS.get(done or ""))


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: uuid.UUID, session: OpsWebDep, db: SessionDep, now: NowDep,
                        done: str | None = None) -> HTMLResponse:
    """One incident: where, since when, who is on it, its session's steps and the home's devices; act on it."""
    return await _incident_page(request, session, db, incident_id, now, done=done)


@router.get("/incidents/{incident_id}/devices", response_class=HTMLResponse)
async def incident_devices(request: Request, incident_id: uuid.UUID, session: OpsWebDep, db: SessionDep,
                           now: NowDep) -> HTMLResponse:
    """The home's devices as a fragment, polled by the incident page (the lock confirming shows up here)."""
    try:
        row = await service.incident(db, incident_id)
    except ThresholdError as err:
        return _missing(request, session, err)
    found = await service.devices(db, now, home_id=row.home.id)
    return _page(request, "ops_devices_table.html", session, devices=found, problem_words=PROBLEM_WORDS, row=row,
                 now=now)


@router.post("/incidents/{incident_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, incident_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep,
                      now: NowDep) -> Response:
    """Say you are on it (audited); the incident stays open until closed with a note."""
    try:
        await service.acknowledge(db, incident_id, _actor(session), now)
    except ThresholdError as err:
        if err.code == "incident_not_found":
            return _missing(request, session, err)
        return await _incident_page(request, session, db, incident_id, now, err.status, {"acknowledge": err.detail})
    return RedirectResponse(f"/ops/incidents/{incident_id}?done=acknowledged", status_code=303)


@router.post("/incidents/{incident_id}/close", response_class=HTMLResponse)
async def close(request: Request, incident_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep, now: NowDep,
                note: Note = "") -> Response:
    """Close with a note (audited); refused, with nothing saved, while an unsecured door is not confirmed locked."""
    try:
        await service.close(db, incident_id, _actor(session), note, now)
    except ThresholdError as err:
        if err.code == "incident_not_found":
            return _missing(request, session, err)
        return await _incident_page(request, session, db, incident_id, now, err.status, {"note": err.detail}, note)
    return RedirectResponse(f"/ops/incidents/{incident_id}?done=closed", status_code=303)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: uuid.UUID, session: OpsWebDep, db: SessionDep) -> HTMLResponse:
    """One entry's steps, arriving live while it lasts."""
    try:
        row = await service.entry(db, session_id)
    except ThresholdError as err:
        return _missing(request, session, err)
    return _page(request, "ops_session.html", session, row=row, entry=row.session,
                 steps=await steps.steps_of(db, row.session))


@router.get("/sessions/{session_id}/steps")
async def session_steps(request: Request, session_id: uuid.UUID, session: OpsWebDep, db: SessionDep,
                        after: int = 0) -> StreamingResponse:
    """Server-sent events: each new step of the entry, until it has ended and gone quiet."""
    row = await service.entry(db, session_id)
    return await steps.step_events(request, db, row.session, after, technical=True)


@router.get("/devices", response_class=HTMLResponse)
async def devices_page(request: Request, session: OpsWebDep, db: SessionDep, now: NowDep,
                       problem: str | None = None) -> HTMLResponse:
    """Device health across homes, worst first; filtered to one problem when asked."""
    chosen = problem or None
    errors: dict[str, str] = {}
    if chosen is not None and chosen not in service.PROBLEMS:
        errors["problem"], chosen = "Choose one of the listed problems.", None
    found = await service.devices(db, now, chosen)
    return _page(request, "ops_devices.html", session, 422 if errors else 200, devices=found, problem=chosen,
                 problem_words=PROBLEM_WORDS, errors=errors, now=now)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, session: OpsWebDep, db: SessionDep, done: str | None = None) -> \
        HTMLResponse:
    """Dead-lettered notifications with their last error, each with a Replay button."""
    return _page(request, "ops_notifications.html", session, dead=await service.dead_letters(db),
                 done=DONE_WORDS.get(done or ""), errors={})


@router.post("/notifications/{notification_id}/replay", response_class=HTMLResponse)
async def replay(request: Request, notification_id: uuid.UUID, session: OpsCheckedDep, db: SessionDep,
                 now: NowDep) -> Response:
    """Send a dead letter again (audited on its home's chain)."""
    try:
        await notify.replay(db, notification_id, _actor(session), now)
    except ThresholdError as err:
        return _page(request, "ops_notifications.html", session, err.status, dead=await service.dead_letters(db),
                     done=None, errors={"form": err.detail})
    return RedirectResponse("/ops/notifications?done=replayed", status_code=303)

