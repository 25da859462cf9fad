"""Delivery windows: offer, reserve, book, release; one cached day state per station-day. Never commits."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.deliveries.models import Delivery
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.planning import stock
from threshold.planning.models import RoutePlan, Station, StationDay, WindowBooking
from threshold.planning.windows import INF, DayState, Stop, Window

# Capacity is counted in units of package size.
SIZE_UNITS = {"S": 1, "M": 2, "L": 3, "XL": 4}
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320


@dataclass(frozen=True, slots=True)
class Order:
    """A new order asking for a window: where, how much (size units) and how long the stop takes."""

    lat: float
    lon: float
    demand: int
    service_minutes: float | None = None  # the station's default when None
    # (product, quantity) pairs; only windows before the next morning's cut-off depend on them.
    products: tuple[tuple[str, int], ...] = ()

    def service(self, station: Station) -> float:
        """How long the stop takes."""
        return station.service_minutes if self.service_minutes is None else self.service_minutes


@dataclass(frozen=True, slots=True)
class WindowOffer:
    """One window of the day for one order."""

    start: datetime
    end: datetime
    kind: str
    feasible: bool
    reason: str | None
    marginal_cost_km: float | None
    expected_arrival: datetime | None


@dataclass(slots=True)
class Cached:
    """A station-day's state as of `version`, and when its reservations lapse."""

    version: str
    state: DayState
    expiries: dict[str, datetime] = field(default_factory=dict)

    def drop_expired(self, now: datetime) -> None:
        """Lapsed reservations stop counting at once, before any sweep has written them off."""
        if self.expiries and min(self.expiries.values()) <= now:
            for sid in [s for s, at in self.expiries.items() if at <= now]:
                self.state.remove(sid)
                del self.expiries[sid]


class DayCache(dict[tuple[uuid.UUID, str], Cached]):
    """The process's day states; an entry is trusted only while its version matches the station-day row.

    Offers are advice: they read the version row at most every `fresh_seconds` (this process's own writes show at
    once, another process's within that bound), so a warm offer touches no database at all. Reserve and book
    always read the row under its lock and re-check, so staleness can cost an offer's accuracy, never a promise.
    """

    def __init__(self, fresh_seconds: float = 1.0, station_seconds: float = 30.0) -> None:
        super().__init__()
        self.fresh_seconds, self.station_seconds = fresh_seconds, station_seconds
        self.checked: dict[tuple[uuid.UUID, str], float] = {}
        self.stations: dict[uuid.UUID, tuple[Station, float]] = {}
        self.layouts: dict[tuple[uuid.UUID, str], Layout] = {}
        self.stock = stock.StockCache(fresh_seconds)


@dataclass(frozen=True, slots=True)
class Frame:
    """A station's day: when the shift starts (UTC), how long it is, and its geometry."""

    station: Station
    day: str
    start: datetime
    horizon: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        """A place in travel minutes east and north of the station (equirectangular: fine at city scale)."""
        s = self.station
        per_km = 60.0 / s.speed_kmh
        return ((lon - s.lon) * KM_PER_DEG_LON * math.cos(math.radians(s.lat)) * per_km,
                (lat - s.lat) * KM_PER_DEG_LAT * per_km)

    def km(self, minutes: float) -> float:
        """Travel minutes as kilometres."""
        return minutes * self.station.speed_kmh / 60.0

    def minute(self, at: datetime) -> float:
        """Minutes from the shift start."""
        return (at - self.start).total_seconds() / 60.0

    def at(self, minute: float) -> datetime:
        """The UTC time of a minute of the shift."""
        return self.start + timedelta(minutes=minute)

    def windows(self) -> list[Window]:
        """The day's windows: attended ones, then the wider in-home ones."""
        found: list[Window] = []
        for minutes, kind in ((self.station.window_minutes, "attended"), (self.station.in_home_minutes, "in_home")):
            width = min(float(minutes), self.horizon)
            t = 0.0
            while width > 0 and t + width <= self.horizon + 1e-9:
                found.append(Window(t, t + width, kind))
                t += width
        return found

    def stop(self, b: WindowBooking) -> Stop:
        """A booking as a stop of the day."""
        x, y = self.xy(b.lat, b.lon)
        return Stop(str(b.id), x, y, b.demand, b.service_minutes, self.minute(b.window_start),
                    self.minute(b.window_end))


def frame(station: Station, day: str) -> Frame:
    """The station's shift on a local date."""
    tz = ZoneInfo(station.timezone)
    d = date.fromisoformat(day)
    start = datetime.combine(d, station.shift_start, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(d, station.shift_end, tzinfo=tz).astimezone(UTC)
    return Frame(station, day, start, (end - start).total_seconds() / 60.0)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _refuse(detail: str, code: str, status: int = 422) -> ThresholdError:
    return ThresholdError(detail, code=code, status=status, title=detail)


async def station_for(db: AsyncSession, partner_id: uuid.UUID, station_id: uuid.UUID,
                      cache: DayCache | None = None) -> Station:
    """A partner's own station (another partner's is 'not found'); read through the cache when one is given."""
    held = cache.stations.get(station_id) if cache is not None else None
    if held is not None and time.monotonic() - held[1] < cache.station_seconds:  # type: ignore[union-attr]
        s: Station | None = held[0]
    else:
        s = await db.get(Station, station_id)
        if s is not None and cache is not None:
            # Detached, so that this request's rollback cannot expire the copy later requests read.
            db.expunge(s)
            cache.stations[station_id] = (s, time.monotonic())
    if s is None or s.partner_id != partner_id:
        raise NotFound("No such station.", code="station_not_found")
    return s


def check_order(f: Frame, order: Order, now: datetime) -> None:
    """Refuse what no window could serve: outside the area, a past day, more than a vehicle carries."""
    s = f.station
    if distance_km(s.lat, s.lon, order.lat, order.lon) > s.radius_km:
        raise _refuse("The location is outside the station's service area.", "outside_service_area")
    if f.minute(now) >= f.horizon:
        raise _refuse("This day's deliveries are over.", "window_in_past")
    if order.demand > s.capacity:
        raise _refuse("The order is larger than any vehicle carries.", "too_large_for_vehicles")


async def _day_row(db: AsyncSession, station_id: uuid.UUID, day: str, lock: bool) -> StationDay | None:
    q = select(StationDay).where(StationDay.station_id == station_id, StationDay.day == day)
    if not lock:
        return (await db.execute(q)).scalar_one_or_none()
    # The row lock serialises reserve/book/release on a station-day (SQLite already serialises writers).
    row = (await db.execute(q.with_for_update())).scalar_one_or_none()
    if row is None:
        try:
            async with db.begin_nested():
                db.add(StationDay(station_id=station_id, day=day, version=uuid.uuid4().hex, booked=0, planned=0))
        except IntegrityError:
            pass  # another request created it first; take its lock
        row = (await db.execute(q.with_for_update())).scalar_one()
    return row


async def load(db: AsyncSession, f: Frame, now: datetime) -> Cached:
    """Rebuild a station-day from the database: committed orders in the latest plan's order, the rest inserted."""
    live = (WindowBooking.status == "booked") | (
        (WindowBooking.status == "reserved") & (WindowBooking.expires_at > now))
    rows = list((await db.execute(select(WindowBooking).where(
        WindowBooking.station_id == f.station.id, WindowBooking.day == f.day, live))).scalars())
    plan = (await db.execute(select(RoutePlan).where(RoutePlan.station_id == f.station.id, RoutePlan.day == f.day)
                             .order_by(RoutePlan.version.desc()).limit(1))).scalar_one_or_none()
    routes = [[str(s["booking"]) for s in r] for r in plan.routes] if plan else []
    state = DayState.build(f.horizon, f.station.capacity, f.station.vehicles, [f.stop(b) for b in rows], routes)
    expiries = {str(b.id): b.expires_at for b in rows if b.status == "reserved" and b.expires_at is not None}
    return Cached("", state, expiries)


async def day_state(db: AsyncSession, cache: DayCache, f: Frame, now: datetime, lock: bool = False) -> \
        tuple[Cached, StationDay | None]:
    """The station-day's state, reloaded only when another write (this process's or another's) changed it."""
    key = (f.station.id, f.day)
    got = cache.get(key)
    if not lock and got is not None and time.monotonic() - cache.checked.get(key, -INF) < cache.fresh_seconds:
        got.drop_expired(now)
        return got, None
    row = await _day_row(db, f.station.id, f.day, lock)
    version = row.version if row else ""
    cache.checked[key] = time.monotonic()
    if got is None or got.version != version:
        got = await load(db, f, now)
        got.version = version
        cache[key] = got
    got.drop_expired(now)
    return got, row


def _bump(got: Cached, row: StationDay, booked: bool = False) -> None:
    # The cache takes the new token before commit: if the commit fails, the row keeps the old one and the next
    # call reloads.
    row.version = got.version = uuid.uuid4().hex
    if booked:
        row.booked += 1


def _windows(f: Frame, now: datetime) -> list[Window]:
    # On the day itself nothing can be served before now.
    earliest = max(0.0, f.minute(now))
    return [Window(max(w.start, earliest), w.end, w.kind) for w in f.windows()]


@dataclass(frozen=True, slots=True)
class Layout:
    """A station-day's frame and windows, with each window's clock times: the same for every offer of the day."""

    frame: Frame
    windows: tuple[Window, ...]
    times: tuple[tuple[datetime, datetime], ...]


def layout(cache: DayCache, station: Station, day: str) -> Layout:
    """The day's layout, computed once per station row and day (an offer would otherwise redo the time-zone
    arithmetic of every window)."""
    key = (station.id, day)
    held = cache.layouts.get(key)
    if held is not None and held.frame.station is station:
        return held
    f = frame(station, day)
    shown = tuple(f.windows())
    made = Layout(f, shown, tuple((f.at(w.start), f.at(w.end)) for w in shown))
    cache.layouts[key] = made
    return made


async def offer(db: AsyncSession, cache: DayCache, partner_id: uuid.UUID, station_id: uuid.UUID, day: str,
                order: Order, now: datetime) -> list[WindowOffer]:
    """The day's windows for a new order, each feasible or not (with why) and its marginal cost."""
    lay = layout(cache, await station_for(db, partner_id, station_id, cache), day)
    f = lay.frame
    check_order(f, order, now)
    got, _ = await day_state(db, cache, f, now)
    x, y = f.xy(order.lat, order.lon)
    # On the day itself nothing can be served before now.
    earliest = max(0.0, f.minute(now))
    asked = [Window(max(w.start, earliest), w.end, w.kind) if w.start < earliest else w for w in lay.windows]
    offers = got.state.offer(x, y, order.demand, order.service(f.station), asked)
    first = lay.times[0][0] if lay.times else f.start
    unstocked = await stock.unstocked_before(db, cache.stock, f.station, order.products, now, first)
    out = []
    for w, a, o, (start, end) in zip(lay.windows, asked, offers, lay.times, strict=True):
        reason = o.reason if a.start < a.end else "past"
        if reason != "past" and unstocked is not None and start < unstocked:
            reason = "not_stocked_forward"
        ok = o.feasible and reason is None
        out.append(WindowOffer(start, end, w.kind, ok, reason, round(f.km(o.cost), 3) if ok else None,
                               f.at(o.arrival) if ok else None))
    return out


async def reserve(db: AsyncSession, cache: DayCache, partner_id: uuid.UUID, station_id: uuid.UUID, day: str,
                  order: Order, start: datetime, end: datetime, now: datetime, minutes: float) -> WindowBooking:
    """Hold a window for a few minutes, if it is still feasible against the current state."""
    f = frame(await station_for(db, partner_id, station_id), day)
    check_order(f, order, now)
    matches = [(w, a) for w, a in zip(f.windows(), _windows(f, now), strict=True)
               if f.at(w.start) == start and f.at(w.end) == end]
    if not matches:
        raise _refuse("That is not one of the day's windows.", "unknown_window")
    window, asked = matches[0]
    if asked.start >= asked.end:
        raise _refuse("The window is over.", "window_in_past")
    got, row = await day_state(db, cache, f, now, lock=True)
    assert row is not None
    held = await stock.hold_forward(db, cache.stock, f.station, order.products, start, now)
    x, y = f.xy(order.lat, order.lon)
    found = got.state.offer(x, y, order.demand, order.service(f.station), [asked])[0]
    if not found.feasible:
        raise Conflict("The window is no longer available.", code="window_taken", extra={"reason": found.reason})
    b = WindowBooking(id=uuid.uuid4(), station_id=f.station.id, day=day, partner_id=partner_id, lat=order.lat,
                      lon=order.lon, demand=order.demand, service_minutes=order.service(f.station),
                      window_start=f.at(window.start), window_end=f.at(window.end), kind=window.kind,
                      status="reserved", expires_at=now + timedelta(minutes=minutes), created_at=now,
                      updated_at=now, stock_units=held, stock_status="held" if held else None)
    db.add(b)
    got.state.insert(f.stop(b), found.route, found.position)
    assert b.expires_at is not None
    got.expiries[str(b.id)] = b.expires_at
    _bump(got, row)
    return b


async def booking_for(db: AsyncSession, partner_id: uuid.UUID, booking_id: uuid.UUID) -> WindowBooking:
    """A partner's own reservation (another partner's is 'not found')."""
    b = await db.get(WindowBooking, booking_id)
    if b is None or b.partner_id != partner_id:
        raise NotFound("No such reservation.", code="reservation_not_found")
    return b


async def book(db: AsyncSession, cache: DayCache, partner_id: uuid.UUID, booking_id: uuid.UUID,
               delivery_id: uuid.UUID | None, now: datetime) -> WindowBooking:
    """Turn a live reservation into a booking (optionally bound to a delivery); a retry is harmless."""
    b = await booking_for(db, partner_id, booking_id)
    if delivery_id is not None:
        d = await db.get(Delivery, delivery_id)
        if d is None or d.partner_id != partner_id:
            raise NotFound("No such delivery.", code="delivery_not_found")
    if b.status == "booked" and delivery_id in (None, b.delivery_id):
        return b
    if b.status != "reserved" or (b.expires_at is not None and b.expires_at <= now):
        raise Conflict("The reservation has lapsed or was released.", code="reservation_expired")
    f = frame(await db.get_one(Station, b.station_id), b.day)
    got, row = await day_state(db, cache, f, now, lock=True)
    assert row is not None
    if str(b.id) not in got.state.where:
        # Reloaded since the reservation and it no longer fits with what others booked meanwhile.
        raise Conflict("The window is no longer available.", code="window_taken")
    b.status, b.expires_at, b.updated_at = "booked", None, now
    b.delivery_id = delivery_id or b.delivery_id
    got.expiries.pop(str(b.id), None)
    _bump(got, row, booked=True)
    return b


async def release(db: AsyncSession, cache: DayCache, partner_id: uuid.UUID, booking_id: uuid.UUID,
                  now: datetime) -> WindowBooking:
    """Give a window back; releasing twice is harmless."""
    b = await booking_for(db, partner_id, booking_id)
    if b.status not in ("reserved", "booked"):
        return b
    f = frame(await db.get_one(Station, b.station_id), b.day)
    got, row = await day_state(db, cache, f, now, lock=True)
    assert row is not None
    was_booked = b.status == "booked"
    b.status, b.expires_at, b.updated_at = "released", None, now
    got.state.remove(str(b.id))
    got.expiries.pop(str(b.id), None)
    _bump(got, row, booked=was_booked)
    cache.stock.forget_all(await stock.give_back(db, b.id, now))
    return b


async def sweep(db: AsyncSession, now: datetime) -> int:
    """Write off lapsed reservations (returning the forward stock they held) and bump their days' versions; ship
    the held units of booked orders whose window has started; returns how many reservations lapsed."""
    await stock.ship_departed(db, now)
    lapsed = list((await db.execute(select(WindowBooking.station_id, WindowBooking.day).where(
        WindowBooking.status == "reserved", WindowBooking.expires_at <= now))).all())
    if not lapsed:
        return 0
    await stock.return_lapsed(db, now)
    await db.execute(update(WindowBooking).where(WindowBooking.status == "reserved", WindowBooking.expires_at <= now)
                     .values(status="expired", updated_at=now))
    for station_id, day in set(lapsed):
        await db.execute(update(StationDay).where(StationDay.station_id == station_id, StationDay.day == day)
                         .values(version=uuid.uuid4().hex))
    return len(lapsed)
