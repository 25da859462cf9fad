"""HTTP: partners are offered windows, reserve, book and release them; drivers read their planned route."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from threshold.deliveries import service as deliveries
from threshold.deps import DriverDep, NowDep, PartnerDep, SessionDep, SettingsDep
from threshold.planning import replan, service
from threshold.planning.models import WindowBooking

router = APIRouter(prefix="/v1", tags=["windows"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def day_cache(request: Request) -> service.DayCache:
    """The process's day states (one per app)."""
    cache: service.DayCache | None = getattr(request.app.state, "day_cache", None)
    if cache is None:
        cache = request.app.state.day_cache = service.DayCache()
    return cache


CacheDep = Annotated[service.DayCache, Depends(day_cache)]


class OrderIn(BaseModel):
    """A new order: the day, where, and its packages (sizes) or demand in size units."""

    model_config = ConfigDict(extra="forbid")
    date: date
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    packages: list[Literal["S", "M", "L", "XL"]] | None = Field(default=None, min_length=1, max_length=50)
    demand: int | None = Field(default=None, ge=1, le=10_000)
    service_minutes: float | None = Field(default=None, ge=0, le=240)

    @model_validator(mode="after")
    def _one_size(self) -> OrderIn:
        if self.packages is not None and self.demand is not None:
            raise ValueError("give packages or demand, not both")
        return self

    def order(self) -> service.Order:
        """The order in size units."""
        demand = self.demand or sum(service.SIZE_UNITS[p] for p in self.packages or ["S"])
        return service.Order(self.lat, self.lon, demand, self.service_minutes)


class ReserveIn(OrderIn):
    """An order and one window from its offer."""

    start: datetime
    end: datetime


class BookIn(BaseModel):
    """Optionally, the delivery the booking is for."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: uuid.UUID | None = None


class WindowOut(BaseModel):
    """One window of the day for the order."""

    start: datetime
    end: datetime
    kind: str
    feasible: bool
    marginal_cost: float | None = Field(description="Cheapest detour in km, when feasible")
    reason: str | None = Field(description="capacity | shift | window | past, when not feasible")
    expected_arrival: datetime | None


class OfferOut(BaseModel):
    """The day's windows for one order."""

    station_id: uuid.UUID
    date: date
    windows: list[WindowOut]


class ReservationOut(BaseModel):
    """A window held (reserved), booked, released or lapsed (expired)."""

    id: uuid.UUID
    station_id: uuid.UUID
    date: str
    status: str
    kind: str
    window_start: datetime
    window_end: datetime
    expires_at: datetime | None
    delivery_id: uuid.UUID | None


def _out(b: WindowBooking) -> ReservationOut:
    return ReservationOut(id=b.id, station_id=b.station_id, date=b.day, status=b.status, kind=b.kind,
                          window_start=b.window_start, window_end=b.window_end, expires_at=b.expires_at,
                          delivery_id=b.delivery_id)


@router.post("/stations/{station_id}/windows", response_model=OfferOut)
async def offer_windows(station_id: uuid.UUID, body: OrderIn, partner: PartnerDep, db: SessionDep, now: NowDep,
                        cache: CacheDep) -> OfferOut:
    """The day's windows for a new order: which stay feasible, at what marginal cost, and why not."""
    found = await service.offer(db, cache, partner.id, station_id, body.date.isoformat(), body.order(), now)
    return OfferOut(station_id=station_id, date=body.date, windows=[WindowOut(
        start=w.start, end=w.end, kind=w.kind, feasible=w.feasible, marginal_cost=w.marginal_cost_km,
        reason=w.reason, expected_arrival=w.expected_arrival) for w in found])


@router.post("/stations/{station_id}/reservations", status_code=201, response_model=ReservationOut,
             responses={200: {"description": "A retry of an earlier request"}})
async def reserve_window(station_id: uuid.UUID, body: ReserveIn, partner: PartnerDep, db: SessionDep, now: NowDep,
                         cache: CacheDep, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> Any:
    """Hold a window for a few minutes; 409 `window_taken` when another order took the slack meanwhile."""
    digest = deliveries.request_hash({"station": str(station_id), **body.model_dump(mode="json")})
    if idempotency_key:
        seen = await deliveries.remembered(db, partner.id, idempotency_key, digest)
        if seen is not None:
            return JSONResponse(seen[1], status_code=seen[0], headers={"Idempotent-Replayed": "true"})
    b = await service.reserve(db, cache, partner.id, station_id, body.date.isoformat(), body.order(), body.start,
                              body.end, now, settings.reservation_minutes)
    out = _out(b)
    if idempotency_key:
        await deliveries.remember(db, partner.id, idempotency_key, digest, 201, out.model_dump(mode="json"), now)
    return out


@router.post("/reservations/{reservation_id}/book", response_model=ReservationOut)
async def book_window(reservation_id: uuid.UUID, partner: PartnerDep, db: SessionDep, now: NowDep, cache: CacheDep,
                      body: BookIn | None = None) -> ReservationOut:
    """Book a held window, optionally for a delivery; booking twice is harmless."""
    delivery_id = body.delivery_id if body else None
    return _out(await service.book(db, cache, partner.id, reservation_id, delivery_id, now))


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut)
async def release_window(reservation_id: uuid.UUID, partner: PartnerDep, db: SessionDep, now: NowDep,
                         cache: CacheDep) -> ReservationOut:
    """Give a held or booked window back."""
    return _out(await service.release(db, cache, partner.id, reservation_id, now))


@router.get("/driver/route", response_model=list[replan.RouteStop], tags=["driver"])
async def my_route(driver: DriverDep, db: SessionDep, now: NowDep,
                   day: Annotated[date | None, Query(alias="date")] = None) -> list[replan.RouteStop]:
    """The signed-in driver's planned stops of the day (the station's local today by default), in order."""
    return await replan.driver_route(db, driver.id, day.isoformat() if day else None, now)
