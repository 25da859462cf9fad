"""Tables for households, members, homes, entry points, devices and the household's rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class Household(Base):
    """The people who own a home's account."""

    __tablename__ = "households"
    id: Mapped[uuid.UUID] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    # Days a clip is kept after its session (clips under a claim are kept longer).
    clip_retention_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Member(Base):
    """A user of a household's account."""

    __tablename__ = "members"
    id: Mapped[uuid.UUID] = id_column()
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="owner")
    # A deactivated member is refused on the very next request, by cookie or by bearer token.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Invitation(Base):
    """An owner's invitation for a person to join the household; its link token is kept only as a hash."""

    __tablename__ = "invitations"
    id: Mapped[uuid.UUID] = id_column()
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                         default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                        default=None)


class Home(Base):
    """One address; has entry points."""

    __tablename__ = "homes"
    id: Mapped[uuid.UUID] = id_column()
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntryPoint(Base):
    """A way in: front door, back door, garage."""

    __tablename__ = "entry_points"
    id: Mapped[uuid.UUID] = id_column()
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    max_package_size: Mapped[str] = mapped_column(String(4), default="L")


class Device(Base):
    """A lock, camera, alarm panel, garage door or door contact, reached through an adapter."""

    __tablename__ = "devices"
    id: Mapped[uuid.UUID] = id_column()
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    entry_point_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("entry_points.id", ondelete="SET NULL"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(20))
    adapter: Mapped[str] = mapped_column(String(20), default="simulated")
    # The adapter's own address for the device: a zigbee2mqtt friendly name, a Home Assistant entity id.
    address: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(30), default="unknown")
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    battery: Mapped[int | None] = mapped_column(Integer, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Where the camera's video can be read (rtsp:// or http MJPEG); None: derived from the adapter.
    stream_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # Held for the adapter (an alarm code); never logged, never returned by the API.
    secret: Mapped[str | None] = mapped_column(String(200), default=None)
    # A door the watch found open with no session owning it: relocked, and reported as an alarm only if it is
    # still open at this deadline (a relock that lands is an audit record and a notice, not an alarm).
    relock_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    # The household was told this device went offline / its battery ran low: told once, until it recovers.
    offline_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    battery_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class HomeRules(Base):
    """The household's rules for a home."""

    __tablename__ = "home_rules"
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), primary_key=True)
    in_home_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_entry_points: Mapped[list[str]] = mapped_column(JSON, default=list)
    blackout_dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    ask_first: Mapped[bool] = mapped_column(Boolean, default=False)
    driver_note: Mapped[str] = mapped_column(Text, default="")
    fallback: Mapped[str] = mapped_column(String(20), default="doorstep")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PartnerAuthorization(Base):
    """A partner the household lets deliver inside this home; any other partner's delivery is doorstep only."""

    __tablename__ = "partner_authorizations"
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), primary_key=True)
    # No foreign key to partners: homes/ knows partners only by id (deliveries/ owns their table).
    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, index=True)
    authorized_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    authorized_by: Mapped[str] = mapped_column(String(100))
