"""HTTP: a household's notification preferences, partners' webhook endpoints, operators' dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from threshold.deps import MemberDep, NowDep, OperatorDep, PartnerDep, SessionDep, SettingsDep
from threshold.homes import members
from threshold.homes import service as homes
from threshold.notify import service

router = APIRouter(prefix="/v1", tags=["notifications"])


class PreferencesBody(BaseModel):
    """Channels per moment, such as {"delivered": ["email", "sms"]}; moments left out keep their choice."""

    model_config = ConfigDict(extra="forbid")
    channels: dict[str, list[str]] = Field(max_length=50)


class EndpointIn(BaseModel):
    """A partner's webhook endpoint; `moments` empty means every moment partners hear about."""

    model_config = ConfigDict(extra="forbid")
    url: HttpUrl
    moments: list[str] = Field(default_factory=list, max_length=20)


class EndpointOut(BaseModel):
    """An endpoint; the signing secret is shown only when it is created."""

    id: uuid.UUID
    url: str
    moments: list[str]
    created_at: datetime
    secret: str | None = None


class NotificationOut(BaseModel):
    """One notification as an operator sees it (the recipient, never a secret)."""

    id: uuid.UUID
    channel: str
    recipient: str
    moment: str
    topic: str
    home_id: uuid.UUID | None
    status: str
    attempts: int
    created_at: datetime
    dead_at: datetime | None
    last_error: str | None


@router.get("/household/notifications", response_model=PreferencesBody)
async def read_preferences(member: MemberDep, db: SessionDep) -> PreferencesBody:
    """Every moment with the channels the household is told on."""
    household = await homes.household_of(db, member.id)
    return PreferencesBody(channels=await service.household_preferences(db, household))


@router.put("/household/notifications", response_model=PreferencesBody)
async def write_preferences(body: PreferencesBody, member: MemberDep, db: SessionDep, now: NowDep) -> \
        PreferencesBody:
    """Choose the household's channels for some moments, every member's default (owners only)."""
    await members.require_owner(db, member.id, "change the household's notification defaults", now)
    household = await homes.household_of(db, member.id)
    home_ids = [h.id for h in await homes.homes(db, member.id)]
    chosen = await service.set_preferences(db, household, body.channels, f"member:{member.id}", home_ids,
                                           now)
    return PreferencesBody(channels=chosen)


@router.post("/webhooks", response_model=EndpointOut, status_code=201, tags=["partner"])
async def add_webhook(body: EndpointIn, partner: PartnerDep, db: SessionDep, now: NowDep,
                      settings: SettingsDep) -> EndpointOut:
    """Register an endpoint on a public address (or an allowed network); the response holds its secret, once."""
    ep = await service.add_endpoint(db, partner.id, str(body.url), body.moments, now,
                                    settings.webhook_allow_networks)
    return EndpointOut(id=ep.id, url=ep.url, moments=ep.moments, created_at=ep.created_at, secret=ep.secret)


@router.get("/webhooks", response_model=list[EndpointOut], tags=["partner"])
async def list_webhooks(partner: PartnerDep, db: SessionDep) -> list[EndpointOut]:
    """The partner's endpoints (without secrets)."""
    return [EndpointOut(id=e.id, url=e.url, moments=e.moments, created_at=e.created_at)
            for e in await service.endpoints(db, partner.id)]


@router.delete("/webhooks/{endpoint_id}", status_code=204, tags=["partner"])
async def remove_webhook(endpoint_id: uuid.UUID, partner: PartnerDep, db: SessionDep) -> None:
    """Stop sending to an endpoint."""
    await service.remove_endpoint(db, partner.id, endpoint_id)


@router.get("/ops/notifications/dead", response_model=list[NotificationOut], tags=["ops"])
async def list_dead(operator: OperatorDep, db: SessionDep) -> list[NotificationOut]:
    """Dead-lettered notifications, newest first."""
    return [NotificationOut.model_validate(n, from_attributes=True) for n in await service.dead_letters(db)]


@router.get("/ops/notifications/counts", tags=["ops"])
async def notification_counts(operator: OperatorDep, db: SessionDep) -> dict[str, int]:
    """How many notifications are pending, sent and dead."""
    return await service.counts(db)


@router.post("/ops/notifications/{notification_id}/replay", response_model=NotificationOut, tags=["ops"])
async def replay_dead(notification_id: uuid.UUID, operator: OperatorDep, db: SessionDep,
                      now: NowDep) -> NotificationOut:
    """Send a dead letter again."""
    row = await service.replay(db, notification_id, f"operator:{operator.id}", now)
    return NotificationOut.model_validate(row, from_attributes=True)
