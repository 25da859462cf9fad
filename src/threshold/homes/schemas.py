"""API shapes for homes, entry points, devices and rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from threshold.inputs import Day, Line, Note, Trimmed


class EntryPointOut(BaseModel):
    """A way in."""

    id: uuid.UUID
    kind: str
    label: str
    max_package_size: str


class DeviceOut(BaseModel):
    """A device's health, never its secret."""

    id: uuid.UUID
    kind: str
    entry_point_id: uuid.UUID | None
    adapter: str
    state: str
    online: bool
    battery: int | None
    last_seen: datetime | None


class RulesBody(BaseModel):
    """The household's rules for a home."""

    model_config = ConfigDict(extra="forbid")
    # Strict: 0 and 1 are not answers to a yes-or-no rule.
    in_home_enabled: StrictBool = True
    allowed_entry_points: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    blackout_dates: list[Day] = Field(default_factory=list, max_length=366)
    ask_first: StrictBool = False
    driver_note: Note = Field(default="", max_length=1000)
    fallback: Literal["doorstep", "locker", "reattempt"] = "doorstep"


class HomeOut(BaseModel):
    """A home with its entry points, devices and rules."""

    id: uuid.UUID
    label: str
    address: str
    timezone: str
    lat: float
    lon: float
    entry_points: list[EntryPointOut]
    devices: list[DeviceOut]
    rules: RulesBody


class AuditOut(BaseModel):
    """One record of a home's audit chain."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class PartnerChoiceOut(BaseModel):
    """A partner and whether the household lets it deliver inside this home."""

    partner_id: uuid.UUID
    name: str
    authorized: bool
    authorized_at: datetime | None


class MemberOut(BaseModel):
    """A member of the household (never a password or token)."""

    id: uuid.UUID
    name: str
    email: str
    role: str
    active: bool


class RoleIn(BaseModel):
    """A member's new role."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "member"]


class InvitationIn(BaseModel):
    """Invite a person by email to join the household with a role."""

    model_config = ConfigDict(extra="forbid")
    email: Trimmed = Field(max_length=320)
    name: Line = Field(max_length=200)
    role: Literal["owner", "member"] = "member"


class InvitationOut(BaseModel):
    """An invitation and its state: pending, accepted, revoked or expired."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    state: str
    created_at: datetime
    expires_at: datetime
    # Whether the invitation email left; if not, inviting the same email again sends a fresh link.
    email_sent: bool | None = None


class AcceptIn(BaseModel):
    """The invitee's link token, with the name and password of their new account."""

    model_config = ConfigDict(extra="forbid")
    token: Trimmed = Field(max_length=200)
    name: Line = Field(max_length=200)
    password: str = Field(max_length=200)


class OwnChoicesBody(BaseModel):
    """A member's own channels per moment, such as {"delivered": ["email"]}; moments left out keep their choice."""

    model_config = ConfigDict(extra="forbid")
    channels: dict[str, list[str]] = Field(max_length=50)
