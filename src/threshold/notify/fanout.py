"""Fan an outbox event out into notifications: who hears about it, on which channel, with what in it."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Grant
from threshold.deliveries.models import Delivery, Driver, Package, Partner
from threshold.homes.models import EntryPoint, Home, Member
from threshold.notify import moments
from threshold.notify.models import (
    MemberNotificationPreference,
    Notification,
    NotificationPreference,
    OutboxMessage,
    WebhookEndpoint,
)
from threshold.ops.models import Operator
from threshold.video import links

# Moments a partner's webhook hears about: those that change what happens to its delivery.
PARTNER_MOMENTS = frozenset({"window_today", "driver_on_way", "delivered", "delivery_refused", "camera_offline",
                             "door_not_relocked"})
SAFETY_MOMENTS = frozenset({"camera_offline", "door_not_relocked", "alarm_not_rearmed"})
# Moments whose message carries a link to the session's clip.
CLIP_MOMENTS = frozenset({"delivered", "camera_offline", "door_not_relocked", "guest_left"})


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """How clip links in messages are made."""

    secret: str
    base_url: str
    ttl: timedelta


async def claim_events(db: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """Events not yet fanned out, taken by this worker alone (SKIP LOCKED, then a compare-and-set)."""
    ids = list((await db.execute(
        select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now)
        .order_by(OutboxMessage.available_at).limit(limit).with_for_update(skip_locked=True))).scalars())
    if not ids:
        return []
    # SQLite has no row locks: the conditional update is what keeps two workers from taking one event.
    taken = list((await db.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None))
        .values(sent_at=now, attempts=OutboxMessage.attempts + 1).returning(OutboxMessage.id))).scalars())
    if not taken:
        return []
    rows = (await db.execute(select(OutboxMessage).where(OutboxMessage.id.in_(taken))
                             .execution_options(populate_existing=True))).scalars()
    return sorted(rows, key=lambda r: r.available_at)


def note_key(event: OutboxMessage, channel: str, recipient: str) -> str:
    """The idempotency key of one notification: one per event, channel and recipient."""
    who = hashlib.sha256(recipient.encode()).hexdigest()[:20]
    return f"{event.id}:{channel}:{who}"


async def expand(db: AsyncSession, event: OutboxMessage, links_policy: LinkPolicy, now: datetime,
                 memo: dict[object, Any] | None = None) -> list[Notification]:
    """The event's notifications, for the caller to add to the session.

    `memo` keeps what one batch already read (homes, members, preferences): a burst is mostly the same homes.
    """
    moment = moments.moment_of(event.topic, event.payload)
    if moment is None:
        return []
    memo = {} if memo is None else memo
    data = await _context(db, event)
    made: list[Notification] = []

    def add(channel: str, recipient: str, extra: dict[str, Any] | None = None,
            endpoint: uuid.UUID | None = None) -> None:
        made.append(Notification(
            outbox_id=event.id, key=note_key(event, channel, recipient), channel=channel, recipient=recipient,
            moment=moment, topic=event.topic, home_id=event.home_id, endpoint_id=endpoint,
            data={**data, **(extra or {})}, status="pending", attempts=0, created_at=now, available_at=now))

    if event.audience == "household" and event.home_id is not None:
        home = await db.get(Home, event.home_id)
        if home is not None:
            if ("household", home.household_id) not in memo:
                memo[("household", home.household_id)] = (
                    await preferences(db, home.household_id),
                    list((await db.execute(select(Member).where(Member.household_id == home.household_id,
                                                                Member.active.is_(True))
                                           .order_by(Member.email))).scalars()),
                    await member_preferences(db, home.household_id))
            chosen, members, own = memo[("household", home.household_id)]
            approve = {**_approve_link(links_policy, moment, home.id, data.get("session")),
                       **_lock_link(links_policy, moment, home.id, data)}
            for m in members:
                # Each member's own choice, else the household's, else the moment's default.
                wanted = moments.channels_for(moment, {**chosen, **own.get(m.id, {})})
                extra = {**_clip_link(links_policy, moment, data.get("session"), m.id, now), **approve}
                if "email" in wanted:
                    add("email", m.email, extra)
                if "sms" in wanted and m.phone:
                    add("sms", m.phone, extra)
        if data.get("delivery") and moment in PARTNER_MOMENTS:
            for ep in await _endpoints(db, data["delivery"], moment):
                add("webhook", ep.url, None, ep.id)
    elif event.audience == "operator":
        if "operators" not in memo:
            memo["operators"] = list((await db.execute(select(Operator).where(Operator.active.is_(True)))).scalars())
        for op in memo["operators"]:
            add("email", op.email)
            if moment in SAFETY_MOMENTS and op.phone:
                add("sms", op.phone)
    return made


async def preferences(db: AsyncSession, household_id: uuid.UUID) -> dict[str, list[str]]:
    """The household's chosen channels per moment (moments it never chose are absent)."""
    rows = (await db.execute(select(NotificationPreference)
                             .where(NotificationPreference.household_id == household_id))).scalars()
    return {r.moment: list(r.channels) for r in rows}


async def member_preferences(db: AsyncSession, household_id: uuid.UUID) -> dict[uuid.UUID, dict[str, list[str]]]:
    """Each member's own chosen channels per moment (members and moments never chosen are absent)."""
    q = (select(MemberNotificationPreference).join(Member, Member.id == MemberNotificationPreference.member_id)
         .where(Member.household_id == household_id))
    found: dict[uuid.UUID, dict[str, list[str]]] = {}
    for r in (await db.execute(q)).scalars():
        found.setdefault(r.member_id, {})[r.moment] = list(r.channels)
    return found


def _clip_link(policy: LinkPolicy, moment: str, session: Any, member_id: uuid.UUID,
               now: datetime) -> dict[str, Any]:
    if moment not in CLIP_MOMENTS or not session:
        return {}
    sid = uuid.UUID(str(session))
    params = links.sign(policy.secret, "clip", sid, member_id, now, policy.ttl)
    return {"clip_url": links.url(policy.base_url, "clip", sid, params)}


def _approve_link(policy: LinkPolicy, moment: str, home_id: uuid.UUID, session: Any) -> dict[str, Any]:
    # The entry's page in the portal: letting someone into a home needs a signed-in member, never a bare link.
    if moment != "approval_requested" or not session:
        return {}
    base = policy.base_url.rstrip("/")
    return {"approve_url": f"{base}/portal/homes/{home_id}/sessions/{uuid.UUID(str(session))}"}


def _lock_link(policy: LinkPolicy, moment: str, home_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
    # The home's doors in the portal, at the door concerned: locking needs a signed-in member, never a bare link.
    if moment != "door_not_relocked":
        return {}
    base = policy.base_url.rstrip("/")
    anchor = f"#door-{data['entry_point_id']}" if data.get("entry_point_id") else ""
    return {"lock_url": f"{base}/portal/homes/{home_id}/doors{anchor}"}


async def _endpoints(db: AsyncSession, delivery_id: str, moment: str) -> list[WebhookEndpoint]:
    delivery = await db.get(Delivery, uuid.UUID(delivery_id))
    if delivery is None:
        return []
    rows = (await db.execute(select(WebhookEndpoint).where(
        WebhookEndpoint.partner_id == delivery.partner_id, WebhookEndpoint.active.is_(True)))).scalars()
    return [ep for ep in rows if not ep.moments or moment in ep.moments]


async def _context(db: AsyncSession, event: OutboxMessage) -> dict[str, Any]:
    """What the words need: the event's own payload plus names people recognise (never a secret)."""
    data: dict[str, Any] = {k: v for k, v in event.payload.items() if v is not None}
    data["topic"] = event.topic
    if event.home_id is not None:
        home = await db.get(Home, event.home_id)
        if home is not None:
            data.setdefault("home_label", home.label)
            data.setdefault("timezone", home.timezone)
    session = await db.get(EntrySession, uuid.UUID(data["session"])) if data.get("session") else None
    if session is not None:
        entry = await db.get(EntryPoint, session.entry_point_id)
        if entry is not None:
            data.setdefault("entry_point", entry.label)
        if session.ended_at is not None:
            data.setdefault("finished_at", session.ended_at.isoformat())
        grant = await db.get(Grant, session.grant_id)
        if grant is not None and grant.guest_name:
            data.setdefault("guest_name", grant.guest_name)
    if data.get("delivery"):
        delivery = await db.get(Delivery, uuid.UUID(data["delivery"]))
        if delivery is not None:
            data.setdefault("window_start", delivery.window_start.isoformat())
            data.setdefault("window_end", delivery.window_end.isoformat())
            data.setdefault("in_home", delivery.mode == "in_home")
            if delivery.fallback:
                data.setdefault("fallback", delivery.fallback)
            partner = await db.get(Partner, delivery.partner_id)
            if partner is not None:
                data.setdefault("partner", partner.name)
            driver = await db.get(Driver, delivery.driver_id) if delivery.driver_id else None
            if driver is not None and driver.name.split():
                # The first name only: enough to recognise at the door, no more of the driver than needed.
                data.setdefault("driver_name", driver.name.split()[0])
            data.setdefault("packages", int((await db.execute(
                select(func.count()).select_from(Package).where(Package.delivery_id == delivery.id))).scalar_one()))
    return data
