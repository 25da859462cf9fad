"""HTTP: a household's clips and live view, by its own token or by an expiring signed link; every view audited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from threshold import limits
from threshold.access import denials
from threshold.access.models import EntrySession
from threshold.audit import service as audit
from threshold.config import Settings
from threshold.db import close_failed
from threshold.deps import AddressDep, MemberDep, NowDep, SessionDep, SettingsDep
from threshold.errors import Conflict, Forbidden, NotFound, ThresholdError
from threshold.homes import members
from threshold.homes import service as homes
from threshold.homes.models import Household
from threshold.inputs import Line
from threshold.video import links, service
from threshold.video.models import Clip
from threshold.web.deps import templates

router = APIRouter(prefix="/v1", tags=["video"])
BOUNDARY = "frame"
LIVE_WAIT = 5.0  # seconds a viewer waits for a recording that is starting


class ClipOut(BaseModel):
    """A clip's record (never its path on disk)."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    session_id: uuid.UUID
    status: str
    failure: str | None
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    codec: str | None
    sha256: str | None
    gaps: list[dict[str, object]]
    hold: str | None


class LinkIn(BaseModel):
    """Ask for a signed link to a session's clip or live view."""

    model_config = ConfigDict(extra="forbid")
    what: Literal["clip", "live"] = "clip"
    minutes: StrictInt = Field(default=60, ge=1, le=7 * 24 * 60)


class LinkOut(BaseModel):
    """A signed link and when it stops working."""

    url: str
    expires_at: datetime


class HoldIn(BaseModel):
    """Keep a clip past retention, for a claim."""

    model_config = ConfigDict(extra="forbid")
    reason: Line = Field(min_length=3, max_length=200)


class VideoSettings(BaseModel):
    """How long the household's clips are kept."""

    model_config = ConfigDict(extra="forbid")
    retention_days: StrictInt = Field(ge=1, le=365)


async def owned_session(db: AsyncSession, member_id: uuid.UUID, home_id: uuid.UUID, session_id: uuid.UUID,
                        what: str, now: datetime) -> EntrySession:
    """A session of the member's own home; another household's member is refused (audited) as not found."""
    row = await db.get(EntrySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    if row.home_id != home_id:
        # Another home's session under this home's id: answered as missing, and written down in its own chain.
        raise await denials.not_yours(db, row.home_id, f"member:{member_id}", f"session:{session_id}", what, now)
    if not await service.member_may_view(db, member_id, home_id):
        # Another household's member asking for this home's video: refused and written down.
        await service.audit_refusal(db, home_id, f"member:{member_id}", session_id, what, "not_household", now)
        raise NotFound("No such session.", keep_changes=True)
    return row


async def by_link(db: AsyncSession, settings: Settings, address: str, session_id: uuid.UUID, what: str, m: str,
                  e: str, s: str, now: datetime) -> tuple[EntrySession, uuid.UUID]:
    """The session and member behind a signed link; a bad or expired link is refused and audited.

    A link's signature is a secret like a password: guessing it is counted per address (`limits`).
    """
    lim = limits.Limits.of(settings)
    await limits.check(db, lim, None, address, now)
    row = await db.get(EntrySession, session_id)
    if row is None:
        # Answered as a bad link, so a link says nothing about which sessions exist.
        await limits.failed(db, lim, None, address, now)
        raise Forbidden("This link is not valid.", code="bad_link", keep_changes=True)
    member_id, why = links.check(settings.secret_key, what, session_id, m, e, s, now)
    if member_id is not None and not await service.member_may_view(db, member_id, row.home_id):
        member_id, why = None, "not_household"
    if member_id is None:
        await service.audit_refusal(db, row.home_id, f"link:{m[:36]}", session_id, what, why or "bad_link", now)
        if why == "link_expired":
            raise Forbidden("This link has expired; ask for a new one.", code="link_expired", keep_changes=True)
        await limits.failed(db, lim, None, address, now)
        raise Forbidden("This link is not valid.", code="bad_link", keep_changes=True)
    return row, member_id


async def clip_file(db: AsyncSession, session: EntrySession) -> Clip:
    """The session's clip, if it is sealed (or partial) and still kept."""
    clip = await service.clip_of_session(db, session.id)
    if clip is None:
        raise NotFound("This session has no clip.", code="no_clip")
    if clip.status == "recording":
        raise Conflict("The clip is still recording; try again in a few seconds.", code="clip_not_ready",
                       extra={"retry_after": 5})
    if clip.status == "purged" or not Path(clip.path).exists():
        raise NotFound("This clip is no longer kept.", code="clip_purged")
    return clip


# A player asks for a few ranges at a time; hundreds in one header only make work for the server.
MAX_RANGES = 16


def _checked_range(request: Request, size: int) -> None:
    """Refuse a Range header the file cannot answer, as problem+json, before any byte or audit record."""
    header = request.headers.get("range")
    if header is None:
        return
    if header.count(",") >= MAX_RANGES:
        raise ThresholdError(f"At most {MAX_RANGES} byte ranges at once.", code="range_invalid", status=400,
                             title="Invalid range")
    try:
        # The file response parses the header again with this same method, so what passes here it can serve.
        FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader as exc:
        raise ThresholdError(f"The Range header is not valid: {exc.content}", code="range_invalid", status=400,
                             title="Invalid range") from None
    except RangeNotSatisfiable:
        raise ThresholdError(f"The clip has {size} bytes; no requested range lies within them.",
                             code="range_not_satisfiable", status=416, title="Range not satisfiable",
                             headers={"Content-Range": f"bytes */{size}"}) from None


async def serve_clip(request: Request, db: AsyncSession, session: EntrySession, actor: str, via: str,
                     now: datetime) -> FileResponse:
    """The clip's bytes for a player, any range; every viewer's read is on record (once per clip and hour)."""
    clip = await clip_file(db, session)
    path = Path(clip.path)
    _checked_range(request, path.stat().st_size)
    await service.audit_clip_view(db, session, actor, via, now)
    # Partial clips say so, so a player or a reviewer knows the recording was cut short.
    headers = {"cache-control": "private, no-store", "x-clip-status": clip.status}
    if clip.sha256:
        headers["x-clip-sha256"] = clip.sha256
    return FileResponse(path, media_type="video/mp4", headers=headers)


@router.get("/homes/{home_id}/clips", response_model=list[ClipOut])
async def list_clips(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[ClipOut]:
    """The home's clips, newest first."""
    await homes.own_home(db, member.id, home_id)
    return [ClipOut.model_validate(c) for c in await service.clips_of_home(db, home_id)]


@router.get("/homes/{home_id}/sessions/{session_id}/clip", response_class=FileResponse)
async def member_clip(home_id: uuid.UUID, session_id: uuid.UUID, request: Request, member: MemberDep,
                      db: SessionDep, now: NowDep) -> FileResponse:
    """Play a session's clip (MP4, H.264; byte ranges supported)."""
    session = await owned_session(db, member.id, home_id, session_id, "clip", now)
    return await serve_clip(request, db, session, f"member:{member.id}", "token", now)


@router.post("/homes/{home_id}/sessions/{session_id}/links", response_model=LinkOut, status_code=201)
async def make_link(home_id: uuid.UUID, session_id: uuid.UUID, body: LinkIn, member: MemberDep, db: SessionDep,
                    settings: SettingsDep, now: NowDep) -> LinkOut:
    """An expiring link to the clip or live view, valid only for this member."""
    await owned_session(db, member.id, home_id, session_id, body.what, now)
    ttl = timedelta(minutes=body.minutes)
    params = links.sign(settings.secret_key, body.what, session_id, member.id, now, ttl)
    return LinkOut(url=links.url(settings.public_url, body.what, session_id, params), expires_at=now + ttl)


@router.get("/sessions/{session_id}/clip", response_class=FileResponse, response_model=None)
async def linked_clip(session_id: uuid.UUID, request: Request, db: SessionDep, settings: SettingsDep,
                      now: NowDep, address: AddressDep, m: str = Query(max_length=64), e: str = Query(max_length=20),
                      s: str = Query(max_length=100)) -> FileResponse | HTMLResponse:
    """Play a clip from a signed link (as sent in the household's message)."""
    try:
        session, member_id = await by_link(db, settings, address, session_id, "clip", m, e, s, now)
        return await serve_clip(request, db, session, f"member:{member_id}", "link", now)
    except ThresholdError as err:
        return await link_failed(request, db, err)


@router.get("/homes/{home_id}/sessions/{session_id}/live")
async def member_live(home_id: uuid.UUID, session_id: uuid.UUID, request: Request, member: MemberDep,
                      db: SessionDep, now: NowDep) -> StreamingResponse:
    """Watch a live session (MJPEG relayed by threshold; the camera's address is never shown)."""
    session = await owned_session(db, member.id, home_id, session_id, "live", now)
    stream = await live_stream(request, db, session)
    await service.audit_view(db, session, f"member:{member.id}", "live", "token", now)
    # The view is on record before the first frame, not when the viewer leaves.
    await db.commit()
    return stream


@router.get("/sessions/{session_id}/live", response_model=None)
async def linked_live(session_id: uuid.UUID, request: Request, db: SessionDep, settings: SettingsDep,
                      now: NowDep, address: AddressDep, m: str = Query(max_length=64), e: str = Query(max_length=20),
                      s: str = Query(max_length=100)) -> StreamingResponse | HTMLResponse:
    """Watch a live session from a signed link."""
    try:
        session, member_id = await by_link(db, settings, address, session_id, "live", m, e, s, now)
    except ThresholdError as err:
        return await link_failed(request, db, err)
    stream = await live_stream(request, db, session)
    await service.audit_view(db, session, f"member:{member_id}", "live", "link", now)
    # The view is on record before the first frame, not when the viewer leaves.
    await db.commit()
    return stream


def wants_page(request: Request) -> bool:
    """Whether a person opened this in a browser (it asks for HTML first), rather than a player or an API client."""
    return "text/html" in request.headers.get("accept", "").split(",", 1)[0]


async def link_failed(request: Request, db: AsyncSession, err: ThresholdError) -> HTMLResponse:
    """A link from a message that does not work, opened in a browser: a page in plain words with a way to sign in.
    Anyone else (a player, an API client) gets the problem+json as always."""
    if not wants_page(request):
        raise err
    # The refusal stays on record exactly as the problem+json path would leave it.
    await close_failed(db, err)
    page = templates.TemplateResponse(request, "link_gone.html", {
        "csrf": None, "code": err.code, "title": err.title, "detail": err.detail}, status_code=err.status)
    page.headers.update(err.headers or {})
    return page


async def live_stream(request: Request, db: AsyncSession, session: EntrySession) -> StreamingResponse:
    """MJPEG relayed from the recording in this process (waiting briefly for one that is starting)."""
    keeper = getattr(request.app.state, "keeper", None)
    recording = None
    if keeper is not None and keeper.will_be_live(session, await service.clip_of_session(db, session.id)):
        recording = await keeper.wait_live(session.id, LIVE_WAIT)
    if recording is None:
        raise ThresholdError("This session is not being recorded here now.", code="not_live", status=409)

    async def frames() -> AsyncIterator[bytes]:
        async for jpeg in recording.live():
            if await request.is_disconnected():
                break
            yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                   + jpeg + b"\r\n")

    return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"cache-control": "no-store"})


@router.put("/homes/{home_id}/sessions/{session_id}/clip/hold", response_model=ClipOut)
async def hold_clip(home_id: uuid.UUID, session_id: uuid.UUID, body: HoldIn, member: MemberDep, db: SessionDep,
                    now: NowDep) -> ClipOut:
    """Keep this clip past retention (for a claim)."""
    session = await owned_session(db, member.id, home_id, session_id, "clip", now)
    clip = await service.clip_of_session(db, session.id)
    if clip is None or clip.status == "purged":
        raise NotFound("This session has no clip.", code="no_clip")
    return ClipOut.model_validate(await service.set_hold(db, clip, body.reason, f"member:{member.id}", now))


@router.get("/household/video", response_model=VideoSettings)
async def read_video_settings(member: MemberDep, db: SessionDep) -> VideoSettings:
    """How long the household's clips are kept."""
    household = await db.get(Household, await homes.household_of(db, member.id))
    assert household is not None
    return VideoSettings(retention_days=household.clip_retention_days)


@router.put("/household/video", response_model=VideoSettings)
async def write_video_settings(body: VideoSettings, member: MemberDep, db: SessionDep, now: NowDep) -> \
        VideoSettings:
    """Set how long the household's clips are kept (1 to 365 days; owners only: clips are evidence)."""
    await members.require_owner(db, member.id, "change how long clips are kept", now)
    household = await db.get(Household, await homes.household_of(db, member.id))
    assert household is not None
    household.clip_retention_days = body.retention_days
    for h in await homes.homes(db, member.id):
        await audit.append(db, h.id, f"member:{member.id}", "video.retention_set",
                                   f"household:{household.id}", {"days": body.retention_days}, now)
    return VideoSettings(retention_days=body.retention_days)



