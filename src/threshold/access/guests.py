"""Guest grants: created by a household, used through a link token on a schedule. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import denials, schedule
from threshold.access.models import Grant
from threshold.access.schemas import GuestGrantIn, GuestGrantOut
from threshold.access.service import Actor, Outcome, judge
from threshold.audit import service as audit
from threshold.errors import NotFound, ThresholdError, Unauthorized
from threshold.homes.models import EntryPoint
from threshold.security import hash_token, new_secret_token


def to_out(g: Grant, now: datetime, token: str | None = None) -> GuestGrantOut:
    """The API view of a guest grant."""
    upcoming = (schedule.next_occurrences(g.rrule, g.starts_at, g.timezone, now, 3, g.ends_at) if g.rrule else [])
    return GuestGrantOut(id=g.id, guest_name=g.guest_name, entry_point_id=g.entry_point_id, starts_at=g.starts_at,
                         ends_at=g.ends_at, rrule=g.rrule, duration_minutes=g.duration_minutes,
                         timezone=g.timezone, revoked=g.revoked_at is not None, single_use=g.single_use,
                         next_occurrences=[o for o in upcoming if o < g.ends_at], token=token)


async def create(db: AsyncSession, home_id: uuid.UUID, member: str, data: GuestGrantIn, now: datetime) -> \
        tuple[Grant, str]:
    """Issue a guest grant and its secret link token."""
    entry = await db.get(EntryPoint, data.entry_point_id)
    if entry is None or entry.home_id != home_id:
        raise ThresholdError("The entry point is not at this home.", code="entry_point_unknown", status=422)
    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ThresholdError("Unknown time zone.", code="timezone_unknown", status=422) from exc
    if data.rrule:
        try:
            schedule.parse_rrule(data.rrule, data.starts_at, data.timezone, data.ends_at)
        except ValueError as exc:
            raise ThresholdError(str(exc), code="rrule_invalid", status=422) from exc
    token, digest = new_secret_token()
    grant = Grant(kind="guest", home_id=home_id, entry_point_id=entry.id, guest_name=data.guest_name,
                  token_hash=digest, starts_at=data.starts_at, ends_at=data.ends_at, rrule=data.rrule,
                  duration_minutes=data.duration_minutes, timezone=data.timezone,
                  single_use=data.rrule is None and not data.several_entries, created_at=now)
    db.add(grant)
    await db.flush()
    await audit.append(db, home_id, member, "grant.created", f"grant:{grant.id}",
                       {"guest": data.guest_name, "recurring": data.rrule is not None,
                        "several_entries": not grant.single_use}, now)
    return grant, token


async def revoke(db: AsyncSession, home_id: uuid.UUID, grant_id: uuid.UUID, member: str, now: datetime) -> Grant:
    """Revoke a guest grant."""
    grant = await db.get(Grant, grant_id)
    if grant is None or grant.kind != "guest":
        raise NotFound("No such grant.")
    if grant.home_id != home_id:
        raise await denials.not_yours(db, grant.home_id, member, f"grant:{grant.id}", "grant", now, "No such grant.")
    if grant.revoked_at is None:
        grant.revoked_at = now
        await audit.append(db, home_id, member, "grant.revoked", f"grant:{grant.id}", {}, now)
    return grant


async def list_for_home(db: AsyncSession, home_id: uuid.UUID) -> list[Grant]:
    """A home's guest grants, newest first."""
    q = select(Grant).where(Grant.home_id == home_id, Grant.kind == "guest").order_by(Grant.created_at.desc())
    return list((await db.execute(q)).scalars())


async def ask_for_entry(db: AsyncSession, token: str, now: datetime, settings: object) -> Outcome:
    """A guest asks for entry with their link token."""
    grant = (await db.execute(select(Grant).where(Grant.token_hash == hash_token(token)))).scalar_one_or_none()
    if grant is None:
        raise await denials.unknown(db, "guest:unknown", "grant:unknown", "grant_unknown", now,
                                    Unauthorized("The link is not valid.", code="grant_unknown"))
    return await judge(db, Actor("guest", str(grant.id)), grant, f"grant:{grant.id}", now, settings)
