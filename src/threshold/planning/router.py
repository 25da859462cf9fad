"""HTTP: partners keep their stations' forward stock, are offered windows, reserve, book and release them; drivers
read their planned route."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from threshold.deliveries import service as deliveries
from threshold.deps import DriverDep, NowDep, PartnerDep, SessionDep, SettingsDep
from threshold.errors import ThresholdError
from threshold.inputs import Day
from threshold.planning import replan, service, stock
from threshold.planning.schemas import (
    BookIn,
    OfferOut,
    OrderIn,
    ReservationOut,
    ReserveIn,
    StockIn,
    StockOut,
    WindowOut,
)

router = APIRouter(prefix="/v1", tags=["windows"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def day_cache(request: Request) -> service.DayCache:
    """The process's day states (one per app)."""
    cache: service.DayCache | None = getattr(request.app.state, "day_cache", None)
    if cache is None:
        cache = request.app.state.day_cache = service.DayCache()
    return cache


CacheDep = Annotated[service.DayCache, Depends(day_cache)]


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
    out = ReservationOut.of(b)
    if idempotency_key:
        await deliveries.remember(db, partner.id, idempotency_key, digest, 201, out.model_dump(mode="json"), now)
    return out


@router.post("/reservations/{reservation_id}/book", response_model=ReservationOut)
async def book_window(reservation_id: uuid.UUID, partner: PartnerDep, db: SessionDep, now: NowDep, cache: CacheDep,
                      body: BookIn | None = None) -> ReservationOut:
    """Book a held window, optionally for a delivery; booking twice is harmless."""
    delivery_id = body.delivery_id if body else None
    return ReservationOut.of(await service.book(db, cache, partner.id, reservation_id, delivery_id, now))


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut)
async def release_window(reservation_id: uuid.UUID, partner: PartnerDep, db: SessionDep, now: NowDep,
                         cache: CacheDep) -> ReservationOut:
    """Give a held or booked window back."""
    return ReservationOut.of(await service.release(db, cache, partner.id, reservation_id, now))


@router.get("/stations/{station_id}/stock", response_model=StockOut)
async def read_stock(station_id: uuid.UUID, partner: PartnerDep, db: SessionDep, cache: CacheDep) -> StockOut:
    """The station's forward stock: per product, units on hand, reserved by orders, and available."""
    station = await service.station_for(db, partner.id, station_id, cache)
    return StockOut.of(station.id, await stock.levels(db, station.id))


@router.put("/stations/{station_id}/stock", response_model=StockOut)
async def write_stock(station_id: uuid.UUID, body: Annotated[list[StockIn], Body(min_length=1, max_length=1000)],
                      partner: PartnerDep, db: SessionDep, now: NowDep, cache: CacheDep) -> StockOut:
    """Set units on hand per product (others unchanged); 409 `stock_below_reserved`, changing nothing, when orders
    hold more units of a product than the new count."""
    station = await service.station_for(db, partner.id, station_id, cache)
    units = {line.product: line.units for line in body}
    if len(units) < len(body):
        raise ThresholdError("A product is named twice.", code="duplicate_product", status=422,
                             title="Duplicate product")
    levels = await stock.set_units(db, station, units, now)
    cache.stock.forget(station.id, units)
    return StockOut.of(station.id, levels)


@router.get("/driver/route", response_model=list[replan.RouteStop], tags=["driver"])
async def my_route(driver: DriverDep, db: SessionDep, now: NowDep,
                   day: Annotated[Day | None, Query(alias="date")] = None) -> list[replan.RouteStop]:
    """The signed-in driver's planned stops of the day (the station's local today by default), in order."""
    return await replan.driver_route(db, driver.id, day.isoformat() if day else None, now)
