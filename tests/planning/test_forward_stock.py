"""Forward stock: which windows need it, holds under the lock, returns on release and lapse, shipping, the CLI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from threshold.config import get_settings
from threshold.db import make_engine, make_sessionmaker, migrate
from threshold.deliveries.models import Partner
from threshold.errors import ThresholdError
from threshold.planning import service, stock
from threshold.planning.models import Station, StationStock, WindowBooking
from threshold.planning.stations_cli import stations_app

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY, TOMORROW = "2026-03-02", "2026-03-03"
LAT, LON = 52.52, 13.405


def test_next_morning_is_the_stations_next_local_day_until_its_cut_off() -> None:
    # 00:30 in Prague is already the 3rd there: next morning is the 4th, until noon local (11:00 UTC in winter).
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert stock.forward_until("Europe/Prague", None, late) == datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
    assert stock.forward_until("UTC", time(10, 30), NOW) == datetime(2026, 3, 3, 10, 30, tzinfo=UTC)


def test_an_order_is_short_of_what_the_station_cannot_cover() -> None:
    want = stock.wanted([("milk", 2), ("eggs", 1), ("milk", 1)])
    assert want == {"milk": 3, "eggs": 1}
    assert stock.short({"milk": 3, "eggs": 0}, want) == ["eggs"]
    assert stock.short({"milk": 2, "eggs": 5, "tea": 9}, want) == ["milk"]
    assert stock.short({"milk": 3, "eggs": 1}, want) == []


def test_a_move_plan_adds_its_rows_for_the_station_and_a_stock_file_sets_units() -> None:
    plan = ("station,product,date,forecast_mean,level,target,on_hand,move_units\n"
            "Prague_1,*,2024-01-01,8123.4,60,8200,0.0,8200\nBrno_1,*,2024-01-01,5000.1,60,5100,0.0,5100\n")
    assert stock.read_stock_file(plan, ["Prague_1"]) == stock.StockFile(True, {"*": 8200})
    assert stock.read_stock_file("product,units\nmilk,4\neggs,0\n", []) == stock.StockFile(
        False, {"milk": 4, "eggs": 0})
    for bad, why in (("sku,units\nmilk,1\n", "columns"), ("product,units\nmilk,-1\n", "whole number"),
                     ("product,units\nmilk,1.5\n", "whole number"), ("product,units\nmilk,lots\n", "whole number"),
                     ("product,units\nmilk,1\nmilk,2\n", "twice"), ("product,units\n" + "x" * 65 + ",1\n", "1 to 64"),
                     (plan, "Brno_1, Prague_1")):
        with pytest.raises(stock.StockFileError, match=why):
            stock.read_stock_file(bad, ["Ostrava_1"])


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a clean database."""
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def station(sessions: async_sessionmaker[AsyncSession], units: dict[str, int]) -> Station:
    """A UTC station (shift 08:00-20:00, noon cut-off) with this forward stock."""
    async with sessions() as db:
        partner = Partner(id=uuid.uuid4(), name="Grocer")
        db.add(partner)
        await db.flush()
        s = Station(id=uuid.uuid4(), partner_id=partner.id, name="North", lat=LAT, lon=LON, timezone="UTC",
                    vehicles=4, capacity=100, shift_start=time(8), shift_end=time(20), radius_km=10.0)
        db.add(s)
        await db.flush()
        await stock.set_units(db, s, units, NOW)
        await db.commit()
    return s


def order(**products: int) -> service.Order:
    """An order near the station naming these products."""
    return service.Order(LAT + 0.01, LON + 0.01, 1, None, tuple(products.items()))


def at(day: str, hour: int) -> datetime:
    """A UTC time on a day."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


async def reserve(sessions: async_sessionmaker[AsyncSession], s: Station, o: service.Order, day: str, hour: int,
                  now: datetime = NOW, cache: service.DayCache | None = None) -> WindowBooking:
    """Reserve the two-hour window starting at `hour` and commit."""
    async with sessions() as db:
        b = await service.reserve(db, cache or service.DayCache(), s.partner_id, s.id, day, o, at(day, hour),
                                  at(day, hour + 2), now, 5.0)
        await db.commit()
        return b


async def level(sessions: async_sessionmaker[AsyncSession], s: Station, product: str) -> tuple[int, int]:
    """(units, reserved) of a product."""
    async with sessions() as db:
        row = await db.get_one(StationStock, (s.id, product))
        return row.units, row.reserved


async def refused(code: str, what: object) -> None:
    """Assert that awaiting `what` raises this code."""
    with pytest.raises(ThresholdError) as err:
        await what  # type: ignore[misc]
    assert err.value.code == code


async def test_only_next_morning_windows_depend_on_forward_stock(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    s = await station(sessions, {"milk": 2})
    cache = service.DayCache()
    async with sessions() as db:
        stocked = await service.offer(db, cache, s.partner_id, s.id, TOMORROW, order(milk=2), NOW)
        unstocked = await service.offer(db, cache, s.partner_id, s.id, TOMORROW, order(milk=3), NOW)
        later = await service.offer(db, cache, s.partner_id, s.id, "2026-03-04", order(tea=1), NOW)
        plain = await service.offer(db, cache, s.partner_id, s.id, TOMORROW, order(), NOW)
    assert all(w.feasible for w in stocked) and all(w.feasible for w in later) and all(w.feasible for w in plain)
    # 08-10, 10-12 and the in-home 08-20 start before noon; 12-14 onwards are served the usual way.
    assert [(w.start.hour, w.kind) for w in unstocked if w.reason == "not_stocked_forward"] == [
        (8, "attended"), (10, "attended"), (8, "in_home")]
    assert all(w.feasible for w in unstocked if w.start.hour >= 12)
    await refused("not_stocked_forward", reserve(sessions, s, order(milk=3), TOMORROW, 10))
    await refused("not_stocked_forward", reserve(sessions, s, order(milk=1, eggs=1), TOMORROW, 8))
    assert await level(sessions, s, "milk") == (2, 0)
    afternoon = await reserve(sessions, s, order(milk=3), TOMORROW, 14)
    assert afternoon.stock_units is None and await level(sessions, s, "milk") == (2, 0)


async def test_a_hold_consumes_stock_and_release_or_lapse_returns_it(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    s = await station(sessions, {"milk": 2})
    cache = service.DayCache()
    held = await reserve(sessions, s, order(milk=2), TOMORROW, 8, cache=cache)
    assert (held.stock_units, held.stock_status) == ({"milk": 2}, "held")
    assert await level(sessions, s, "milk") == (2, 2)
    async with sessions() as db:
        offers = await service.offer(db, cache, s.partner_id, s.id, TOMORROW, order(milk=1), NOW)
    assert offers[0].reason == "not_stocked_forward"
    async with sessions() as db:
        await service.release(db, cache, s.partner_id, held.id, NOW)
        await db.commit()
    assert await level(sessions, s, "milk") == (2, 0)
    async with sessions() as db:
        again = await service.release(db, cache, s.partner_id, held.id, NOW)
        await db.commit()
    assert again.stock_status == "returned" and await level(sessions, s, "milk") == (2, 0)
    # A lapsed hold is returned by the sweep ...
    await reserve(sessions, s, order(milk=2), TOMORROW, 10, cache=cache)
    later = NOW + timedelta(minutes=6)
    async with sessions() as db:
        assert await service.sweep(db, later) == 1
        await db.commit()
    assert await level(sessions, s, "milk") == (2, 0)
    # ... or, before any sweep, by the next reservation that needs the units.
    await reserve(sessions, s, order(milk=2), TOMORROW, 10, now=later, cache=cache)
    taken = await reserve(sessions, s, order(milk=2), TOMORROW, 8, now=later + timedelta(minutes=6), cache=cache)
    assert taken.stock_status == "held" and await level(sessions, s, "milk") == (2, 2)


async def test_booked_units_stay_held_until_the_window_starts_then_leave_on_hand(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    s = await station(sessions, {"milk": 5})
    cache = service.DayCache()
    held = await reserve(sessions, s, order(milk=2), TOMORROW, 8, cache=cache)
    async with sessions() as db:
        await service.book(db, cache, s.partner_id, held.id, None, NOW + timedelta(minutes=1))
        await db.commit()
        assert await service.sweep(db, NOW + timedelta(hours=1)) == 0
        await db.commit()
    assert await level(sessions, s, "milk") == (5, 2)
    async with sessions() as db:
        await refused("stock_below_reserved", stock.set_units(db, s, {"milk": 1}, NOW))
    async with sessions() as db:
        await service.sweep(db, at(TOMORROW, 8))
        await db.commit()
        gone = await db.get_one(WindowBooking, held.id)
        assert gone.stock_status == "shipped"
    assert await level(sessions, s, "milk") == (3, 0)
    async with sessions() as db:
        await service.release(db, cache, s.partner_id, held.id, at(TOMORROW, 9))
        await db.commit()
    assert await level(sessions, s, "milk") == (3, 0)


async def test_two_reservations_for_the_last_unit_on_different_days_get_one_hold(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    # Today's and tomorrow's windows lock different station-days: only the stock row's lock keeps them apart.
    s = await station(sessions, {"milk": 1})
    results = await asyncio.gather(reserve(sessions, s, order(milk=1), TODAY, 10, cache=service.DayCache()),
                                   reserve(sessions, s, order(milk=1), TOMORROW, 8, cache=service.DayCache()),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, WindowBooking)]
    lost = [r for r in results if isinstance(r, ThresholdError)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].code == "not_stocked_forward", results
    assert await level(sessions, s, "milk") == (1, 1)


def test_the_cli_adds_a_move_plan_and_a_bad_file_changes_nothing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}"
    asyncio.run(migrate(url))

    async def made() -> Station:
        engine = make_engine(url)
        try:
            return await station(make_sessionmaker(engine), {"*": 100})
        finally:
            await engine.dispose()

    async def units() -> tuple[int, int]:
        engine = make_engine(url)
        try:
            return await level(make_sessionmaker(engine), s, "*")
        finally:
            await engine.dispose()

    s = asyncio.run(made())
    # In-process: the command line's own start-up (seconds of imports) is not what is tested here.
    monkeypatch.setenv("THRESHOLD_DATABASE_URL", url)
    monkeypatch.setenv("THRESHOLD_MODE", "test")
    get_settings.cache_clear()
    plan = tmp_path / "plan.csv"
    plan.write_text("station,product,date,forecast_mean,level,target,on_hand,move_units\n"
                    "Prague_1,*,2024-01-01,8123.4,60,8200,100,8100\nBrno_1,*,2024-01-01,5000.1,60,5100,0,5100\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("product,units\n*,7\nmilk,-2\n")
    try:
        run = CliRunner().invoke
        result = run(stations_app, ["stock", str(s.id), "--set", str(bad)])
        assert result.exit_code == 2 and "line 3" in result.output and "nothing was changed" in result.output
        assert asyncio.run(units()) == (100, 0)
        result = run(stations_app, ["stock", str(s.id), "--set", str(plan)])
        assert result.exit_code == 2 and "Brno_1, Prague_1" in result.output
        result = run(stations_app, ["stock", str(s.id), "--set", str(plan), "--zone", "Prague_1"])
        assert result.exit_code == 0, result.output
        assert "8200" in result.output and "milk" not in result.output
        assert asyncio.run(units()) == (8200, 0)
        result = run(stations_app, ["stock", str(uuid.uuid4())])
        assert result.exit_code == 1 and "no such station" in result.output
    finally:
        get_settings.cache_clear()
