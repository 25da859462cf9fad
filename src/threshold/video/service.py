"""Use cases for clips: open one per session, seal it into the audit chain, gaps, access, retention."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import machine
from threshold.access.models import EntrySession
from threshold.audit import service as audit
from threshold.audit.models import AuditRecord
from threshold.errors import NotFound
from threshold.homes.models import Home, Household, Member
from threshold.video.models import Clip

LIVE = "recording"
KEPT = ("sealed", "partial")


async def sessions_to_record(db: AsyncSession, ended_since: datetime, limit: int = 50) -> list[EntrySession]:
    """Sessions past the household's approval with no clip yet: live ones, and any that ended so quickly
    (since `ended_since`) that only the post-roll is left to record."""
    q = (select(EntrySession)
         .where(or_(EntrySession.live.is_(True), EntrySession.ended_at >= ended_since),
                EntrySession.state != machine.State.AWAITING_APPROVAL.value,
                ~exists().where(Clip.session_id == EntrySession.id))
         .order_by(EntrySession.requested_at).limit(limit))
    return list((await db.execute(q)).scalars())


def open_clip(db: AsyncSession, session: EntrySession, path: str, owner: str, now: datetime) -> Clip:
    """A clip row for a session, owned by the worker that records it (the unique session id settles races)."""
    clip = Clip(id=uuid.uuid4(), session_id=session.id, home_id=session.home_id,
                camera_device_id=session.camera_device_id, path=path, status=LIVE, owner=owner,
                heartbeat_at=now, started_at=now, gaps=[])
    db.add(clip)
    return clip


async def seal(db: AsyncSession, clip_id: uuid.UUID, *, ok: bool, failure: str | None, sha256: str | None,
               duration: float | None, codec: str | None, frames: int, size: int | None,
               gaps: list[dict[str, Any]], now: datetime) -> Clip:
    """Close a clip: sealed when it ended cleanly, partial otherwise; its hash goes into the home's chain."""
    clip = await db.get(Clip, clip_id, with_for_update=True)
    if clip is None:
        raise NotFound("No such clip.")
    clip.status = "sealed" if ok else "partial"
    clip.failure, clip.sha256, clip.duration, clip.codec = failure, sha256, duration, codec
    clip.frames, clip.size_bytes, clip.ended_at, clip.sealed_at = frames, size, clip.ended_at or now, now
    clip.owner = None
    watch_gaps = [g for g in clip.gaps if g.get("by") == "watch"]
    clip.gaps = watch_gaps + gaps
    await audit.append(db, clip.home_id, "system", "clip.sealed" if ok else "clip.partial",
                       f"session:{clip.session_id}",
                       {"clip": str(clip.id), "sha256": sha256, "duration": duration, "failure": failure,
                        "gaps": len(clip.gaps)}, now)
    return clip


async def fail(db: AsyncSession, clip_id: uuid.UUID, reason: str, now: datetime) -> Clip | None:
    """Note that a recording failed while its session may still be live; audited."""
    clip = await db.get(Clip, clip_id, with_for_update=True)
    if clip is None:
        return None
    clip.failure, clip.ended_at = reason, now
    await audit.append(db, clip.home_id, "system", "recording.failed", f"session:{clip.session_id}",
                       {"clip": str(clip.id), "reason": reason}, now)
    return clip


async def note_watch_gaps(db: AsyncSession, now: datetime) -> int:
    """Write into each recording clip the frame stall the safety watch found in its session."""
    q = (select(Clip, EntrySession).join(EntrySession, EntrySession.id == Clip.session_id)
         .where(Clip.status == LIVE, EntrySession.camera_gap.is_(True)))
    noted = 0
    for clip, _session in (await db.execute(q)).tuples():
        if any(g.get("by") == "watch" for g in clip.gaps):
            continue
        at = (now - clip.started_at).total_seconds()
        clip.gaps = [*clip.gaps, {"start": round(at, 2), "end": None, "by": "watch"}]
        await audit.append(db, clip.home_id, "system", "clip.gap", f"session:{clip.session_id}",
                           {"clip": str(clip.id), "at": round(at, 2), "by": "watch"}, now)
        noted += 1
    return noted


async def heartbeat(db: AsyncSession, owner: str, clip_ids: list[uuid.UUID], now: datetime) -> None:
    """Say that this worker is still recording these clips."""
    if clip_ids:
        await db.execute(update(Clip).where(Clip.id.in_(clip_ids), Clip.owner == owner).values(heartbeat_at=now))


async def orphans(db: AsyncSession, now: datetime, stale: timedelta) -> list[Clip]:
    """Recording clips whose worker has not said it is recording them for `stale`: to close as partial."""
    q = select(Clip).where(Clip.status == LIVE,
                           or_(Clip.heartbeat_at.is_(None), Clip.heartbeat_at < now - stale))
    return list((await db.execute(q)).scalars())


async def due_for_purge(db: AsyncSession, now: datetime, limit: int = 500) -> list[Clip]:
    """Kept clips older than their household's retention and not held for a claim."""
    q = (select(Clip).join(Home, Home.id == Clip.home_id).join(Household, Household.id == Home.household_id)
         .where(Clip.status.in_(KEPT), Clip.hold.is_(None), Clip.ended_at.is_not(None))
         .limit(limit))
    rows = []
    for clip in (await db.execute(q.add_columns(Household.clip_retention_days))).tuples():
        c, days = clip
        assert c.ended_at is not None
        if c.ended_at + timedelta(days=days) <= now:
            rows.append(c)
    return rows


async def purged(db: AsyncSession, clip: Clip, now: datetime) -> None:
    """Record that a clip's file is gone (its hash stays in the chain)."""
    clip.status, clip.purged_at = "purged", now
    await audit.append(db, clip.home_id, "system", "clip.purged", f"session:{clip.session_id}",
                       {"clip": str(clip.id), "sha256": clip.sha256}, now)


async def clip_of_session(db: AsyncSession, session_id: uuid.UUID) -> Clip | None:
    """The clip of a session, if it has one."""
    return (await db.execute(select(Clip).where(Clip.session_id == session_id))).scalar_one_or_none()


async def member_may_view(db: AsyncSession, member_id: uuid.UUID, home_id: uuid.UUID) -> bool:
    """True when the member is active and belongs to the household that owns the home.

    Signed links are checked here too, so a deactivated member's links stop with their account.
    """
    q = select(Member.id).join(Home, and_(Home.household_id == Member.household_id, Home.id == home_id)) \
        .where(Member.id == member_id, Member.active.is_(True))
    return (await db.execute(q)).first() is not None


async def audit_view(db: AsyncSession, session: EntrySession, actor: str, what: str, via: str,
                     now: datetime) -> None:
    """Every view of a clip or live view is an audit record on the home's chain."""
    await audit.append(db, session.home_id, actor, f"{what}.viewed", f"session:{session.id}", {"via": via}, now)


# One clip.viewed record per viewer, clip and hour: a player's hundred byte ranges are one view, never zero.
VIEW_EVERY = timedelta(hours=1)


async def audit_clip_view(db: AsyncSession, session: EntrySession, actor: str, via: str, now: datetime) -> None:
    """Audit a read of a clip's bytes, whatever the range, unless this viewer's view of it is on record this hour."""
    seen = (await db.execute(select(AuditRecord.id).where(
        AuditRecord.home_id == session.home_id, AuditRecord.subject == f"session:{session.id}",
        AuditRecord.action == "clip.viewed", AuditRecord.actor == actor,
        AuditRecord.at > now - VIEW_EVERY).limit(1))).first()
    if seen is None:
        await audit_view(db, session, actor, "clip", via, now)


async def audit_refusal(db: AsyncSession, home_id: uuid.UUID, actor: str, session_id: uuid.UUID, what: str,
                        code: str, now: datetime) -> None:
    """A refused view (wrong household, bad or expired link) is audited on the home's chain."""
    await audit.append(db, home_id, actor, f"{what}.refused", f"session:{session_id}", {"code": code}, now)


async def clips_of_home(db: AsyncSession, home_id: uuid.UUID, limit: int = 100) -> list[Clip]:
    """A home's clips, newest first."""
    q = select(Clip).where(Clip.home_id == home_id).order_by(Clip.started_at.desc()).limit(limit)
    return list((await db.execute(q)).scalars())


async def set_hold(db: AsyncSession, clip: Clip, reason: str | None, actor: str, now: datetime) -> Clip:
    """Keep a clip past retention (a claim) or release it; audited."""
    clip.hold = reason
    await audit.append(db, clip.home_id, actor, "clip.held" if reason else "clip.released",
                       f"session:{clip.session_id}", {"clip": str(clip.id), "reason": reason}, now)
    return clip
