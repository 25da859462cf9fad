"""API shapes for the operator console: counts, live sessions, incidents across homes, device health."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from threshold.inputs import Note, Trimmed
from threshold.ops.service import NOTE_MAX, Counts, DeviceRow, IncidentRow, LiveRow


class CountsOut(BaseModel):
    """The console's headline numbers."""

    live_sessions: int
    open_incidents: int
    unacknowledged: int
    devices_offline: int
    dead_letters: int


class HomeRef(BaseModel):
    """Where: a home's label and address."""

    id: uuid.UUID
    label: str
    address: str


class OpsIncidentOut(BaseModel):
    """An incident as an operator sees it, at its home, with who acknowledged and who closed it."""

    id: uuid.UUID
    home: HomeRef
    session_id: uuid.UUID | None
    entry_point_id: uuid.UUID | None
    kind: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None


class OpsCloseIn(BaseModel):
    """How the operator dealt with it."""

    model_config = ConfigDict(extra="forbid")
    note: Note = Field(max_length=NOTE_MAX)


class LiveSessionOut(BaseModel):
    """An entry in progress."""

    id: uuid.UUID
    home: HomeRef
    entry_point_id: uuid.UUID
    actor_kind: str
    state: str
    requested_at: datetime
    state_since: datetime
    deadline: datetime | None


class OpsDeviceOut(BaseModel):
    """A device's health at its home (never its secret), with what is wrong with it."""

    id: uuid.UUID
    home: HomeRef
    entry_point: str | None
    kind: str
    adapter: str
    state: str
    online: bool
    battery: int | None
    last_seen: datetime | None
    problems: list[str]


def home_ref(row: IncidentRow | LiveRow | DeviceRow) -> HomeRef:
    """The home a row is at."""
    return HomeRef(id=row.home.id, label=row.home.label, address=row.home.address)


def counts_out(c: Counts) -> CountsOut:
    """The API view of the counts."""
    return CountsOut(live_sessions=c.live_sessions, open_incidents=c.open_incidents, unacknowledged=c.unacknowledged,
                     devices_offline=c.devices_offline, dead_letters=c.dead_letters)


def incident_out(row: IncidentRow) -> OpsIncidentOut:
    """The API view of an incident (acknowledged_by and closed_by are the actors, such as operator:<id>)."""
    i = row.incident
    return OpsIncidentOut(id=i.id, home=home_ref(row), session_id=i.session_id, entry_point_id=i.entry_point_id,
                          kind=i.kind, status=i.status, opened_at=i.opened_at, acknowledged_at=i.acknowledged_at,
                          acknowledged_by=i.acknowledged_by, closed_at=i.closed_at, closed_by=i.closed_by,
                          close_note=i.close_note)


def live_out(row: LiveRow) -> LiveSessionOut:
    """The API view of a live session."""
    s = row.session
    return LiveSessionOut(id=s.id, home=home_ref(row), entry_point_id=s.entry_point_id, actor_kind=s.actor_kind,
                          state=s.state, requested_at=s.requested_at, state_since=s.state_since, deadline=s.deadline)


def device_out(row: DeviceRow) -> OpsDeviceOut:
    """The API view of a device's health."""
    d = row.device
    return OpsDeviceOut(id=d.id, home=home_ref(row), entry_point=row.entry_point, kind=d.kind, adapter=d.adapter,
                        state=d.state, online=d.online, battery=d.battery, last_seen=d.last_seen,
                        problems=list(row.problems))


class DriverIn(BaseModel):
    """A new driver; the password is theirs to change, never shown again."""

    model_config = ConfigDict(extra="forbid")
    email: Trimmed = Field(min_length=3, max_length=320)
    name: Trimmed = Field(min_length=1, max_length=200)
    carrier: Trimmed = Field(min_length=1, max_length=200)
    # The partner whose deliveries this carrier runs (a partner assigns only its own carriers' drivers).
    partner_id: uuid.UUID | None = None
    password: str = Field(min_length=12, max_length=200)


class DriverOut(BaseModel):
    """A driver as operators see them."""

    id: uuid.UUID
    email: str
    name: str
    carrier: str
    active: bool


class PartnerIn(BaseModel):
    """A new partner."""

    model_config = ConfigDict(extra="forbid")
    name: Trimmed = Field(min_length=1, max_length=200)


class RotateIn(BaseModel):
    """How long the partner's older keys keep working after a new one is issued."""

    model_config = ConfigDict(extra="forbid")
    grace_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)


class KeyOut(BaseModel):
    """An API key: its prefix and state; `key` only in the answer that issued it."""

    id: uuid.UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None


class PartnerOut(BaseModel):
    """A partner and its keys."""

    id: uuid.UUID
    name: str
    keys: list[KeyOut]


class AccountOut(BaseModel):
    """Whether an account may act now."""

    id: uuid.UUID
    active: bool


class PlatformRecordOut(BaseModel):
    """A record of the platform's audit chain (accounts, keys, sign-in locks)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
