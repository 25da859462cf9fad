"""Use cases around notifications: preferences, partner webhook endpoints, dead letters and replay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.errors import NotFound, ThresholdError
from threshold.notify import moments
from threshold.notify.fanout import PARTNER_MOMENTS, preferences
from threshold.notify.models import Notification, NotificationPreference, WebhookEndpoint
from threshold.notify.reach import Resolver, system_resolve, vet
from threshold.notify.targets import Network, WebhookUrlInvalid
from threshold.notify.webhooks import new_secret

# The width of webhook_endpoints.url.
MAX_URL = 500


class BadPreference(ThresholdError):
    """A preference names a moment or channel that does not exist."""

    status, code, title = 422, "bad_preference", "Unknown moment or channel"


def check_choices(wanted: dict[str, list[str]]) -> None:
    """Refuse the whole choice when it names a moment or channel that does not exist."""
    bad = [m for m in wanted if m not in moments.MOMENTS]
    bad += [f"{m}:{c}" for m, cs in wanted.items() for c in cs if c not in moments.CHANNELS]
    if bad:
        raise BadPreference(f"Unknown moments or channels: {', '.join(sorted(bad))}.",
                            extra={"invalid": sorted(bad)})


async def household_preferences(db: AsyncSession, household_id: uuid.UUID) -> dict[str, list[str]]:
    """Every moment with the channels the household will be told on (its choice or the default)."""
    chosen = await preferences(db, household_id)
    return {m: list(moments.channels_for(m, chosen)) for m in moments.MOMENTS}


async def set_preferences(db: AsyncSession, household_id: uuid.UUID, wanted: dict[str, list[str]],
                          actor: str, home_ids: list[uuid.UUID], now: datetime) -> dict[str, list[str]]:
    """Replace the channels of the moments given; validated as a whole so nothing is half-saved."""
    check_choices(wanted)
    for moment, channels in wanted.items():
        row = await db.get(NotificationPreference, (household_id, moment))
        unique = sorted(set(channels))
        if row is None:
            db.add(NotificationPreference(household_id=household_id, moment=moment, channels=unique))
        else:
            row.channels = unique
    for home_id in home_ids:
        await audit.append(db, home_id, actor, "notifications.preferences_set", f"household:{household_id}",
                           {"moments": sorted(wanted)}, now)
    return await household_preferences(db, household_id)


async def add_endpoint(db: AsyncSession, partner_id: uuid.UUID, url: str, wanted: list[str],
                       now: datetime, allowed: Sequence[Network] = (),
                       resolve: Resolver = system_resolve) -> WebhookEndpoint:
    """Register a partner's webhook endpoint with a fresh signing secret, if it leads to a public address.

    `allowed` are the operator's networks that may be reached all the same. The sender judges the URL again on
    every send, so a name that later resolves inside is refused then.
    """
    bad = sorted(m for m in wanted if m not in PARTNER_MOMENTS)
    if bad:
        raise BadPreference(f"Partners hear only about: {', '.join(sorted(PARTNER_MOMENTS))}.",
                            extra={"invalid": bad})
    if len(url) > MAX_URL:
        raise WebhookUrlInvalid(f"A webhook URL is at most {MAX_URL} characters.")
    await vet(url, allowed, resolve)
    ep = WebhookEndpoint(partner_id=partner_id, url=url, secret=new_secret(), moments=sorted(set(wanted)),
                         active=True, created_at=now)
    db.add(ep)
    await db.flush()
    return ep


async def endpoints(db: AsyncSession, partner_id: uuid.UUID) -> list[WebhookEndpoint]:
    """A partner's active endpoints."""
    q = select(WebhookEndpoint).where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.active.is_(True))
    return list((await db.execute(q.order_by(WebhookEndpoint.created_at))).scalars())


async def remove_endpoint(db: AsyncSession, partner_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    """Stop sending to an endpoint (another partner's endpoint is 'not found')."""
    ep = await db.get(WebhookEndpoint, endpoint_id)
    if ep is None or ep.partner_id != partner_id or not ep.active:
        raise NotFound("No such webhook endpoint.")
    ep.active = False


async def dead_letters(db: AsyncSession, limit: int = 200) -> list[Notification]:
    """Notifications that will not be retried again, newest first."""
    q = select(Notification).where(Notification.status == "dead").order_by(Notification.dead_at.desc())
    return list((await db.execute(q.limit(limit))).scalars())


async def counts(db: AsyncSession) -> dict[str, int]:
    """How many notifications are pending, sent and dead."""
    rows = await db.execute(select(Notification.status, func.count()).group_by(Notification.status))
    found = {status: n for status, n in rows.tuples()}
    return {s: found.get(s, 0) for s in ("pending", "sent", "dead")}


async def replay(db: AsyncSession, notification_id: uuid.UUID, actor: str, now: datetime) -> Notification:
    """Put a dead letter back in the queue with fresh attempts; audited on the home's chain."""
    row = await db.get(Notification, notification_id, with_for_update=True)
    if row is None or row.status != "dead":
        raise NotFound("No such dead letter.", code="dead_letter_not_found")
    row.status, row.attempts, row.available_at = "pending", 0, now
    row.dead_at, row.lease_until = None, None
    if row.home_id is not None:
        await audit.append(db, row.home_id, actor, "notification.replayed", f"notification:{row.id}",
                           {"channel": row.channel, "moment": row.moment}, now)
    return row
