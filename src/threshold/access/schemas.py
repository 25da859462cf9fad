"""API shapes for entries, sessions, guest grants and incidents."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, model_validator

from threshold.inputs import Instant, Line, Note


class EntryIn(BaseModel):
    """A driver at the door asks for entry."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: uuid.UUID
    barcode: Line = Field(min_length=1, max_length=100)
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)


class GuestEntryIn(BaseModel):
    """A guest asks for entry with their link token."""

    model_config = ConfigDict(extra="forbid")
    token: Line = Field(min_length=10, max_length=200)


class SessionOut(BaseModel):
    """An entry session as people see it."""

    id: uuid.UUID
    home_id: uuid.UUID
    entry_point_id: uuid.UUID
    delivery_id: uuid.UUID | None
    actor_kind: str
    state: str
    live: bool
    reason: str | None
    camera_gap: bool
    requested_at: datetime
    ended_at: datetime | None


class GuestGrantIn(BaseModel):
    """A household gives a guest access: once (starts/ends) or on a schedule (RRULE + duration)."""

    model_config = ConfigDict(extra="forbid")
    guest_name: Line = Field(min_length=1, max_length=200)
    entry_point_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant
    rrule: str | None = Field(default=None, max_length=500, pattern=r"^(RRULE:)?FREQ=[A-Z0-9=;,:+\-]+$")
    duration_minutes: StrictInt | None = Field(default=None, gt=0, le=24 * 60)
    timezone: Line = Field(default="UTC", max_length=64)
    # One-time access opens the door once unless the household allows several entries during its time.
    several_entries: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> GuestGrantIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.rrule and not self.duration_minutes:
            raise ValueError("a recurring grant needs duration_minutes")
        return self


class GuestGrantOut(BaseModel):
    """A guest grant; the link token is shown only once, at creation."""

    id: uuid.UUID
    guest_name: str | None
    entry_point_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    rrule: str | None
    duration_minutes: int | None
    timezone: str
    revoked: bool
    single_use: bool
    next_occurrences: list[datetime] = []
    token: str | None = None


class IncidentOut(BaseModel):
    """Something a person must look at and close."""

    id: uuid.UUID
    home_id: uuid.UUID
    session_id: uuid.UUID | None
    entry_point_id: uuid.UUID | None = None
    kind: str
    status: str
    opened_at: datetime
    closed_at: datetime | None


class CloseIncidentIn(BaseModel):
    """How a person closed an incident."""

    model_config = ConfigDict(extra="forbid")
    note: Note = Field(min_length=1, max_length=1000)
