"""Routes in the background: booked orders are planned into a new version that reaches the drivers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from test_windows_api import LAT, add_station, offer, reserve, tomorrow

from threshold.planning.models import RoutePlan, StationDay
from threshold.planning.replan import Replanner, owners
from threshold.sim.harness import Harness, running


@pytest.fixture
async def h(database_url: str) -> AsyncIterator[Harness]:
    """A running threshold whose background re-planner stays out of the way (the tests run its turns)."""
    async with running(database_url, homes=2, drivers=2, replan_interval=3600.0, replan_seconds=0.3) as harness:
        yield harness


def test_a_route_goes_to_its_assigned_driver_else_to_the_next_free_one() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # Route 0 is unassigned, route 1 mostly b's, route 2 unassigned: b keeps route 1, a and c are dealt in order.
    assert owners([[None, None], [b, b, a], [None]], [a, b, c]) == [a, b, c]
    assert owners([[None], [None]], [a]) == [a, None]


async def plans(h: Harness) -> list[RoutePlan]:
    """Every stored route plan, oldest first."""
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(RoutePlan).order_by(RoutePlan.version))).scalars())


async def test_booked_orders_are_planned_in_the_background_and_reach_a_driver(h: Harness) -> None:
    station = await add_station(h, vehicles=1)
    ids = []
    for i, window in enumerate((0, 3, 1)):
        w = (await offer(h, station, lat=LAT + 0.005 * i)).json()["windows"][window]
        held = (await reserve(h, station, w, lat=LAT + 0.005 * i)).json()
        r = await h.client.post(f"/v1/reservations/{held['id']}/book", headers=h.partner.headers)
        assert r.status_code == 200, r.text
        ids.append(held["id"])
    planned = await Replanner(h.app.state.sessions, h.settings, h.clock).turn()
    assert planned == 1
    assert await Replanner(h.app.state.sessions, h.settings, h.clock).turn() == 0  # nothing changed since
    driver = await h.driver(0)
    r = await h.client.get("/v1/driver/route", params={"date": tomorrow(h)}, headers=driver.headers)
    assert r.status_code == 200, r.text
    stops = r.json()
    # Windows 08-10, 10-12 and 14-16: the plan visits them in time order, each expected within its window.
    assert [s["booking_id"] for s in stops] == [ids[0], ids[2], ids[1]]
    for s in stops:
        assert s["window_start"] <= s["expected_arrival"].replace("+00:00", "Z") <= s["window_end"]
    other = await h.driver(1)
    assert (await h.client.get("/v1/driver/route", params={"date": tomorrow(h)}, headers=other.headers)).json() == []


async def test_a_release_after_planning_leads_to_a_new_version_without_the_stop(h: Harness) -> None:
    station = await add_station(h, vehicles=2)
    held = []
    for i in range(3):
        w = (await offer(h, station, lat=LAT + 0.004 * i)).json()["windows"][i]
        held.append((await reserve(h, station, w, lat=LAT + 0.004 * i)).json()["id"])
        assert (await h.client.post(f"/v1/reservations/{held[-1]}/book", headers=h.partner.headers)).status_code == 200
    replanner = Replanner(h.app.state.sessions, h.settings, h.clock)
    assert await replanner.turn() == 1
    assert (await h.client.post(f"/v1/reservations/{held[1]}/release", headers=h.partner.headers)).status_code == 200
    assert await replanner.turn() == 1
    first, second = await plans(h)
    assert (first.version, second.version) == (1, 2)
    assert {s["booking"] for r in first.routes for s in r} == set(held)
    assert {s["booking"] for r in second.routes for s in r} == {held[0], held[2]}
    async with h.app.state.sessions() as db:
        row = (await db.execute(select(StationDay))).scalar_one()
    assert row.planned == row.booked == 4  # three bookings and one release of a booked order
