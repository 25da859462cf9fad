"""Tables: the outbox of events, the notifications they fan out to, preferences, and partner webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class OutboxMessage(Base):
    """An event for a household, operator or partner, committed with the state change that caused it.

    A worker fans it out into one `Notification` per recipient and channel; `sent_at` is when it did.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "available_at"),)
    id: Mapped[uuid.UUID] = id_column()
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    audience: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(60))
    home_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class Notification(Base):
    """One event for one recipient on one channel: delivered at least once, retried, or dead-lettered."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "available_at"),)
    id: Mapped[uuid.UUID] = id_column()
    outbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    # Unique per (event, channel, recipient): the same event never reaches the same person twice by design.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(500))
    moment: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(60))
    home_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="SET NULL"), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A worker holds a row while sending it; a worker that dies lets go when the lease runs out.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class NotificationPreference(Base):
    """The channels a household chose for one moment (absent: the moment's default)."""

    __tablename__ = "notification_preferences"
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"),
                                                    primary_key=True)
    moment: Mapped[str] = mapped_column(String(40), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)


class MemberNotificationPreference(Base):
    """The channels one member chose for one moment; absent: the household's choice, then the moment's default."""

    __tablename__ = "member_notification_preferences"
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    moment: Mapped[str] = mapped_column(String(40), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)


class WebhookEndpoint(Base):
    """Where a partner receives signed webhooks (Standard Webhooks)."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[uuid.UUID] = id_column()
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # The signing secret must be readable to sign with; it is shown to the partner once and never logged.
    secret: Mapped[str] = mapped_column(String(100))
    moments: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every moment
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
