"""Tables for partners, their API keys, carriers, drivers, deliveries, packages and idempotent requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class Partner(Base):
    """A retailer or carrier that creates deliveries through the API."""

    __tablename__ = "partners"
    id: Mapped[uuid.UUID] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)


class ApiKey(Base):
    """A partner's API key: only a prefix and a hash are stored."""

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = id_column()
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Carrier(Base):
    """A company whose drivers run routes; may belong to a partner."""

    __tablename__ = "carriers"
    id: Mapped[uuid.UUID] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True, default=None)


class Driver(Base):
    """A person who carries packages to doors."""

    __tablename__ = "drivers"
    id: Mapped[uuid.UUID] = id_column()
    carrier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("carriers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Delivery(Base):
    """One or more packages for one home, with a window."""

    __tablename__ = "deliveries"
    id: Mapped[uuid.UUID] = id_column()
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id"), index=True)
    entry_point_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entry_points.id"), default=None)
    driver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("drivers.id"), index=True, default=None)
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20), default="created")
    mode: Mapped[str] = mapped_column(String(20), default="in_home")
    ineligible_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    # The household's fallback (doorstep, locker, reattempt) once it replaced the in-home entry.
    fallback: Mapped[str | None] = mapped_column(String(20), default=None)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Package(Base):
    """A parcel in a delivery, known by its barcode."""

    __tablename__ = "packages"
    id: Mapped[uuid.UUID] = id_column()
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    barcode: Mapped[str] = mapped_column(String(100), index=True)
    size: Mapped[str] = mapped_column(String(4))
    weight_g: Mapped[int] = mapped_column(Integer)


class IdempotentRequest(Base):
    """A partner write remembered by its Idempotency-Key, so a retry returns the first answer."""

    __tablename__ = "idempotent_requests"
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
