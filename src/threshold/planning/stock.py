"""Forward stock: units per product at a station, held by next-morning reservations, returned or shipped.

Pure rules first (which windows need forward stock, what is short, reading a stock or move-plan file), then the
repository functions. Lock order everywhere: the station-day row, then booking rows, then stock rows (by product),
so two requests never wait on each other in opposite orders.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.errors import Conflict, ThresholdError
from threshold.planning.models import Station, StationStock, WindowBooking

NEXT_MORNING_UNTIL = clock(12, 0)
MAX_UNITS = 1_000_000
PRODUCT_CHARS = 64
CHUNK = 500


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One product at a station: units on hand, units held by orders, and what is left to promise."""

    product: str
    units: int
    reserved: int

    @property
    def available(self) -> int:
        """Units still free to promise."""
        return self.units - self.reserved


def wanted(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    """An order's products as {product: quantity}, the same product named twice counted once."""
    out: dict[str, int] = {}
    for product, quantity in items:
        out[product] = out.get(product, 0) + quantity
    return out


def forward_until(timezone: str, until: clock | None, now: datetime) -> datetime:
    """The instant before which a window must start to need forward stock: the station's next local day at
    `until` (noon by default). Today's windows start earlier still, so they need it too."""
    tz = ZoneInfo(timezone)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, until or NEXT_MORNING_UNTIL, tzinfo=tz).astimezone(UTC)


def short(available: Mapping[str, int], want: Mapping[str, int]) -> list[str]:
    """The products whose available units do not cover the order, in name order."""
    return sorted(p for p, q in want.items() if available.get(p, 0) < q)


class StockFileError(ValueError):
    """A stock or move-plan file that cannot be applied; nothing was changed."""


@dataclass(frozen=True, slots=True)
class StockFile:
    """What a file asks for: set on-hand units (`product,units`), or add moved units (a move plan)."""

    add: bool
    units: dict[str, int]


def read_stock_file(text: str, labels: Sequence[str]) -> StockFile:
    """Parse `product,units` (optionally with `station`) or the forecast's move plan (`station,product,...,
    move_units`); rows whose `station` is none of `labels` are skipped. Refuses the file whole on any bad row."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if "product" not in columns or not columns & {"units", "move_units"}:
        raise StockFileError("the file needs the columns product and units (or a move plan's move_units)")
    add = "move_units" in columns
    column = "move_units" if add else "units"
    units: dict[str, int] = {}
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        station = (row.get("station") or "").strip()
        if station:
            seen.add(station)
        if "station" in columns and station not in labels:
            continue
        product, raw = (row.get("product") or "").strip(), (row.get(column) or "").strip()
        if not product or len(product) > PRODUCT_CHARS:
            raise StockFileError(f"line {line}: the product must be 1 to {PRODUCT_CHARS} characters")
        if product in units:
            raise StockFileError(f"line {line}: {product} is named twice")
        try:
            value = float(raw)
        except ValueError:
            raise StockFileError(f"line {line}: {column} must be a whole number, not {raw!r}") from None
        if value != int(value) or not 0 <= value <= MAX_UNITS:
            raise StockFileError(f"line {line}: {column} must be a whole number from 0 to {MAX_UNITS:,}")
        units[product] = int(value)
    if not units:
        found = ", ".join(sorted(seen)[:10]) or "none"
        raise StockFileError(f"no rows for this station (stations in the file: {found}); pass --zone to pick one")
    return StockFile(add, units)


class StockCache:
    """Available units per (station, product) as last read; offers trust an entry for `fresh_seconds`, and this
    process's own writes forget theirs at once. Reservations always re-read under the lock."""

    def __init__(self, fresh_seconds: float = 1.0, limit: int = 100_000) -> None:
        self.fresh_seconds, self.limit = fresh_seconds, limit
        self.entries: dict[tuple[uuid.UUID, str], tuple[int, float]] = {}

    def forget(self, station_id: uuid.UUID, products: Iterable[str]) -> None:
        """Drop entries this process just changed."""
        for p in products:
            self.entries.pop((station_id, p), None)

    def forget_all(self, touched: Mapping[uuid.UUID, Iterable[str]]) -> None:
        """Drop the entries of every station and product a write touched."""
        for station_id, products in touched.items():
            self.forget(station_id, products)


async def available(db: AsyncSession, cache: StockCache, station_id: uuid.UUID,
                    products: Iterable[str]) -> dict[str, int]:
    """Units free to promise per product, through the cache: at most one indexed query for the stale ones."""
    tick = time.monotonic()
    names = list(products)
    stale = [p for p in names if tick - cache.entries.get((station_id, p), (0, -cache.fresh_seconds))[1]
             >= cache.fresh_seconds]
    if stale:
        rows = await db.execute(select(StationStock.product, StationStock.units - StationStock.reserved).where(
            StationStock.station_id == station_id, StationStock.product.in_(stale)))
        found = {str(p): int(a) for p, a in rows.all()}
        if len(cache.entries) + len(stale) > cache.limit:
            cache.entries.clear()
        for p in stale:
            cache.entries[(station_id, p)] = (found.get(p, 0), tick)
    return {p: cache.entries[(station_id, p)][0] for p in names}


async def unstocked_before(db: AsyncSession, cache: StockCache, station: Station,
                           products: Sequence[tuple[str, int]], now: datetime, first: datetime) -> datetime | None:
    """For an offer: windows starting before the returned instant cannot be promised, because the order names
    products the station cannot cover; None when nothing is refused (no products, a later day, enough stock)."""
    if not products:
        return None
    until = forward_until(station.timezone, station.next_morning_until, now)
    if first >= until:
        return None
    want = wanted(products)
    return until if short(await available(db, cache, station.id, want), want) else None


async def hold_forward(db: AsyncSession, cache: StockCache, station: Station, products: Sequence[tuple[str, int]],
                       start: datetime, now: datetime) -> dict[str, int] | None:
    """For a reservation: a window before the next morning's cut-off holds its units now (under the rows' lock,
    in the booking's transaction) or is refused; returns what it holds, None when it needs no forward stock."""
    if not products or start >= forward_until(station.timezone, station.next_morning_until, now):
        return None
    want = wanted(products)
    # Lapsed holds that no sweep has returned yet must not keep this order out.
    cache.forget_all(await return_lapsed(db, now, station.id))
    await hold(db, station.id, want, now)
    cache.forget(station.id, want)
    return want


async def levels(db: AsyncSession, station_id: uuid.UUID) -> list[StockLevel]:
    """The station's whole forward stock, by product."""
    rows = await db.execute(select(StationStock).where(StationStock.station_id == station_id)
                            .order_by(StationStock.product))
    return [StockLevel(r.product, r.units, r.reserved) for r in rows.scalars()]


async def _locked(db: AsyncSession, station_id: uuid.UUID, products: Iterable[str]) -> dict[str, StationStock]:
    # Rows are locked in product order (PostgreSQL; SQLite already serialises writers) and re-read, not taken
    # from the session's identity map, so a value another transaction just committed is the one checked.
    q = (select(StationStock).where(StationStock.station_id == station_id, StationStock.product.in_(sorted(products)))
         .order_by(StationStock.product).with_for_update().execution_options(populate_existing=True))
    return {r.product: r for r in (await db.execute(q)).scalars()}


async def set_units(db: AsyncSession, station: Station, units: Mapping[str, int], now: datetime,
                    add: bool = False) -> list[StockLevel]:
    """Set (or, with `add`, increase) on-hand units; refused whole when a product would fall below its reserved
    units. Missing products are created."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    names = sorted(units)
    rows: dict[str, StationStock] = {}
    # In chunks, so a large file stays within the databases' limits on bound parameters.
    for chunk in (names[k:k + CHUNK] for k in range(0, len(names), CHUNK)):
        values = [{"station_id": station.id, "product": p, "units": 0, "reserved": 0, "updated_at": now}
                  for p in chunk]
        # A concurrent first write of the same product must not fail on the key: whoever loses just updates.
        await db.execute(insert(StationStock).values(values).on_conflict_do_nothing())
        rows.update(await _locked(db, station.id, chunk))
    after = {p: rows[p].units + q if add else q for p, q in units.items()}
    if max(after.values()) > MAX_UNITS:
        raise ThresholdError(f"A station holds at most {MAX_UNITS:,} units of a product.", code="stock_too_large",
                             status=422, title="Too many units")
    below = sorted(p for p, u in after.items() if u < rows[p].reserved)
    if below:
        raise Conflict("Orders hold more units than that.", code="stock_below_reserved",
                       extra={"products": [{"product": p, "units": after[p], "reserved": rows[p].reserved}
                                           for p in below]})
    for p, u in after.items():
        rows[p].units, rows[p].updated_at = u, now
    return [StockLevel(p, rows[p].units, rows[p].reserved) for p in sorted(units)]


async def hold(db: AsyncSession, station_id: uuid.UUID, want: Mapping[str, int], now: datetime) -> None:
    """Hold units for an order under the rows' lock, or refuse (422 `not_stocked_forward`) and change nothing."""
    rows = await _locked(db, station_id, want)
    missing = short({p: r.units - r.reserved for p, r in rows.items()}, want)
    if missing:
        raise ThresholdError("Not enough stock at the station for next-morning delivery.",
                             code="not_stocked_forward", status=422, title="Not stocked forward",
                             extra={"products": missing})
    for p, q in want.items():
        rows[p].reserved += q
        rows[p].updated_at = now


async def _settle(db: AsyncSession, where: ColumnElement[bool], to: str, now: datetime) -> dict[uuid.UUID, set[str]]:
    # Claiming the booking's units with a conditional update first makes every path (release, lapse, ship) take
    # them back at most once, whichever runs first.
    claimed = (await db.execute(update(WindowBooking).where(WindowBooking.stock_status == "held", where)
                                .values(stock_status=to).returning(WindowBooking.station_id,
                                                                   WindowBooking.stock_units)
                                .execution_options(synchronize_session="fetch"))).all()
    totals: dict[tuple[uuid.UUID, str], int] = {}
    for station_id, held in claimed:
        for p, q in (held or {}).items():
            totals[(station_id, p)] = totals.get((station_id, p), 0) + int(q)
    touched: dict[uuid.UUID, set[str]] = {}
    for (station_id, p), q in sorted(totals.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        values = {"reserved": case((StationStock.reserved >= q, StationStock.reserved - q), else_=0),
                  "updated_at": now}
        if to == "shipped":
            values["units"] = case((StationStock.units >= q, StationStock.units - q), else_=0)
        await db.execute(update(StationStock).where(StationStock.station_id == station_id,
                                                    StationStock.product == p).values(values)
                         .execution_options(synchronize_session=False))
        touched.setdefault(station_id, set()).add(p)
    return touched


async def give_back(db: AsyncSession, booking_id: uuid.UUID, now: datetime) -> dict[uuid.UUID, set[str]]:
    """Return a released booking's held units to the station."""
    return await _settle(db, WindowBooking.id == booking_id, "returned", now)


async def return_lapsed(db: AsyncSession, now: datetime, station_id: uuid.UUID | None = None) -> \
        dict[uuid.UUID, set[str]]:
    """Return the units of lapsed (or released) reservations that still hold them, at one station or all."""
    gone = ((WindowBooking.status == "reserved") & (WindowBooking.expires_at <= now)) | \
        WindowBooking.status.in_(("expired", "released"))
    where = gone if station_id is None else gone & (WindowBooking.station_id == station_id)
    return await _settle(db, where, "returned", now)


async def ship_departed(db: AsyncSession, now: datetime) -> dict[uuid.UUID, set[str]]:
    """Booked orders whose window has started left the station: their units leave on-hand and reserved."""
    where = (WindowBooking.status == "booked") & (WindowBooking.window_start <= now)
    # Look before writing: the sweep runs every few seconds, and an UPDATE that matches nothing still takes
    # SQLite's write lock from every other writer.
    if (await db.execute(select(WindowBooking.id).where(WindowBooking.stock_status == "held", where)
                         .limit(1))).first() is None:
        return {}
    return await _settle(db, where, "shipped", now)
