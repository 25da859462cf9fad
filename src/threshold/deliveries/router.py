"""HTTP: partners create, assign, cancel and read deliveries; drivers sign in and list their stops."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from threshold import signin
from threshold.access import machine
from threshold.deliveries import service
from threshold.deliveries.schemas import AssignIn, DeliveryIn, DeliveryOut, StopOut
from threshold.deps import AddressDep, DriverDep, NowDep, PartnerDep, RunnerDep, SessionDep, SettingsDep
from threshold.inputs import Line

router = APIRouter(prefix="/v1", tags=["partner"])
driver_router = APIRouter(prefix="/v1/driver", tags=["driver"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class SignIn(BaseModel):
    """Email and password."""

    email: Line = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A short-lived bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    subject: uuid.UUID


@router.post("/deliveries", status_code=201, response_model=DeliveryOut,
             responses={200: {"description": "A retry of an earlier request"}})
async def create_delivery(body: DeliveryIn, partner: PartnerDep, db: SessionDep, now: NowDep,
                          idempotency_key: IdempotencyKey = None) -> Any:
    """Create a delivery; with an Idempotency-Key a retry returns the first answer and creates nothing."""
    digest = service.request_hash(body.model_dump(mode="json"))
    if idempotency_key:
        seen = await service.remembered(db, partner.id, idempotency_key, digest)
        if seen is not None:
            return JSONResponse(seen[1], status_code=seen[0], headers={"Idempotent-Replayed": "true"})
    delivery = await service.create(db, partner.id, body, now)
    await db.flush()
    out = await service.to_out(db, delivery)
    if idempotency_key:
        await service.remember(db, partner.id, idempotency_key, digest, 201, out.model_dump(mode="json"), now)
    return out


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
async def read_delivery(delivery_id: uuid.UUID, partner: PartnerDep, db: SessionDep) -> DeliveryOut:
    """A delivery's current status."""
    return await service.to_out(db, await service.get_for_partner(db, partner.id, delivery_id))


@router.post("/deliveries/{delivery_id}/assign", response_model=DeliveryOut)
async def assign_driver(delivery_id: uuid.UUID, body: AssignIn, partner: PartnerDep, db: SessionDep,
                        now: NowDep) -> DeliveryOut:
    """Bind the delivery and its grant to a driver."""
    return await service.to_out(db, await service.assign(db, partner.id, delivery_id, body.driver_id, now))


@router.post("/deliveries/{delivery_id}/cancel", response_model=DeliveryOut)
async def cancel_delivery(delivery_id: uuid.UUID, partner: PartnerDep, db: SessionDep, now: NowDep,
                          runner: RunnerDep) -> DeliveryOut:
    """Cancel a delivery and revoke its grant; a session in progress is ended safely."""
    delivery, live = await service.cancel(db, partner.id, delivery_id, now)
    out = await service.to_out(db, delivery)
    await db.commit()
    if live is not None:
        await runner.feed(live, machine.Abort("grant_revoked"), f"partner:{partner.id}")
    return out


@driver_router.post("/token", response_model=TokenOut, tags=["auth"])
async def driver_token(body: SignIn, db: SessionDep, settings: SettingsDep, now: NowDep,
                       address: AddressDep) -> TokenOut:
    """Sign a driver in with email and password; returns a short-lived token (rate limited)."""
    subject, token = await signin.token(db, settings, "driver", body.email, body.password, address, now)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_seconds, subject=subject)


@driver_router.get("/stops", response_model=list[StopOut])
async def my_stops(driver: DriverDep, db: SessionDep, now: NowDep) -> list[StopOut]:
    """Today's stops for the signed-in driver."""
    return await service.stops(db, driver.id, now)


class OnTheWayIn(BaseModel):
    """The driver heads to this stop; `eta_minutes` is how far away it is."""

    model_config = ConfigDict(extra="forbid")
    eta_minutes: StrictInt = Field(ge=0, le=24 * 60)


@driver_router.post("/deliveries/{delivery_id}/on-the-way", response_model=DeliveryOut)
async def on_the_way(delivery_id: uuid.UUID, body: OnTheWayIn, driver: DriverDep, db: SessionDep,
                     now: NowDep) -> DeliveryOut:
    """Tell the household the driver is on the way (once per delivery)."""
    d = await service.on_the_way(db, driver.id, delivery_id, body.eta_minutes, now)
    return await service.to_out(db, d)
