"""Tables for grants, entry sessions and incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class Grant(Base):
    """Permission to enter: one delivery for one driver, or a guest's schedule."""

    __tablename__ = "grants"
    id: Mapped[uuid.UUID] = id_column()
    kind: Mapped[str] = mapped_column(String(10))
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    entry_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entry_points.id"))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id"), unique=True, default=None
    )
    driver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("drivers.id"), default=None)
    guest_name: Mapped[str | None] = mapped_column(String(200), default=None)
    # A guest presents a secret link token; only its hash is kept.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rrule: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    single_use: Mapped[bool] = mapped_column(Boolean, default=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntrySession(Base):
    """One entry, from "ask for entry" to done, aborted, interrupted or unsecured."""

    __tablename__ = "entry_sessions"
    __table_args__ = (
        # At most one session per entry point may act on the door: two people never share an open door. A session
        # waiting for the household's approval does not hold it (`holds_door`), so it blocks nobody meanwhile.
        Index(
            "uq_entry_sessions_door_holder",
            "entry_point_id",
            unique=True,
            sqlite_where=text("holds_door"),
            postgresql_where=text("holds_door"),
        ),
        Index("ix_entry_sessions_live_deadline", "live", "deadline"),
    )
    id: Mapped[uuid.UUID] = id_column()
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    entry_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entry_points.id"))
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), index=True)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deliveries.id"), index=True, default=None)
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    live: Mapped[bool] = mapped_column(Boolean, default=True)
    # Live and past the household's approval: the session may act on the door (the service keeps it so).
    holds_door: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reason: Mapped[str | None] = mapped_column(String(60), default=None)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    lock_device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    camera_device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    alarm_device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id"), index=True, default=None)
    has_alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    alarm_disarmed: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    version: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_since: Mapped[datetime] = mapped_column(UTCDateTime())
    unlock_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Seconds spent waiting on devices before the unlock command; the rest is the platform's own time.
    device_wait: Mapped[float] = mapped_column(Float, default=0.0)
    camera_gap: Mapped[bool] = mapped_column(Boolean, default=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    __mapper_args__ = {"version_id_col": version}


class Incident(Base):
    """Something a person must look at and close, such as an unsecured door."""

    __tablename__ = "incidents"
    id: Mapped[uuid.UUID] = id_column()
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entry_sessions.id"), index=True, default=None)
    # The door it is about, so that the watch and the reconciler know a person is already on it.
    entry_point_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entry_points.id"), index=True,
                                                             default=None)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="open")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    # An operator saw it and is on it; the incident stays open until someone closes it with a note.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), default=None)
    close_note: Mapped[str | None] = mapped_column(String(1000), default=None)
    # The device whose state the incident is about (the door found open, the alarm left disarmed).
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), default=None,
                                                        index=True)
    # When the problem itself cleared (the door confirmed locked again, the alarm armed): the all-clear went out
    # then. A person still closes the incident with a note; reminders stop here.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_how: Mapped[str | None] = mapped_column(String(40), default=None)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)


class KeypadCode(Base):
    """A guest's PIN on a lock's keypad: what threshold wants on the lock, and what the lock confirmed.

    The code is present on the lock only while its guest grant allows entry; a reconciler pushes and clears it.
    """

    __tablename__ = "keypad_codes"
    __table_args__ = (UniqueConstraint("device_id", "slot", name="uq_keypad_codes_device_slot"),)
    id: Mapped[uuid.UUID] = id_column()
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    # The lock's user slot that holds this code.
    slot: Mapped[int] = mapped_column(Integer)
    # The PIN sealed for this row (`access.pins`): the lock needs it again at each occurrence of the schedule, so
    # it is kept, but only the sync opens it, to send it to the lock; the household sees it once, when it is made.
    pin_sealed: Mapped[str] = mapped_column(String(80))
    # present or absent: what the lock should hold now; removed: absent for good (the household removed it).
    desired: Mapped[str] = mapped_column(String(10), default="present")
    # pending, setting, on_lock, clearing, cleared, failed, unsupported: what the lock last confirmed.
    sync_state: Mapped[str] = mapped_column(String(12), default="pending")
    detail: Mapped[str | None] = mapped_column(String(200), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
