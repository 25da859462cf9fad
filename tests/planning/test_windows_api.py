"""The windows API: offer, reserve, book, release, expiry, races, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from threshold.deliveries.models import ApiKey, Partner
from threshold.planning.models import Station, StationDay, WindowBooking
from threshold.planning.replan import Replanner
from threshold.security import new_api_key
from threshold.sim.harness import Harness, running

PROBLEM = "application/problem+json"
LAT, LON = 52.52, 13.405


@pytest.fixture
async def h(database_url: str) -> AsyncIterator[Harness]:
    """A running threshold whose background re-planner stays out of the way (tests run its turns)."""
    async with running(database_url, homes=2, drivers=2, replan_interval=3600.0, replan_seconds=0.3) as harness:
        yield harness


async def add_station(h: Harness, partner_id: uuid.UUID | None = None, **values: Any) -> uuid.UUID:
    """A station for the world's partner (or another), in UTC with an 08:00-20:00 shift."""
    fields: dict[str, Any] = dict(name="North", lat=LAT, lon=LON, timezone="UTC", vehicles=2, capacity=20,
                                  shift_start=time(8), shift_end=time(20), speed_kmh=30.0, service_minutes=5.0,
                                  radius_km=10.0, window_minutes=120, in_home_minutes=720)
    fields.update(values)
    async with h.app.state.sessions() as db:
        s = Station(id=uuid.uuid4(), partner_id=partner_id or h.world.partner_id, **fields)
        db.add(s)
        await db.commit()
    return s.id


def tomorrow(h: Harness) -> str:
    """The station's next day (UTC)."""
    return (h.clock() + timedelta(days=1)).date().isoformat()


def order(h: Harness, **changes: Any) -> dict[str, Any]:
    """An order near the station for tomorrow."""
    body: dict[str, Any] = {"date": tomorrow(h), "lat": LAT + 0.01, "lon": LON + 0.01, "packages": ["M"]}
    body.update(changes)
    return body


async def offer(h: Harness, station: uuid.UUID, **changes: Any) -> httpx.Response:
    """Ask for the day's windows."""
    return await h.client.post(f"/v1/stations/{station}/windows", json=order(h, **changes),
                               headers=h.partner.headers)


async def reserve(h: Harness, station: uuid.UUID, window: dict[str, Any], **changes: Any) -> httpx.Response:
    """Hold one window of an offer."""
    return await h.client.post(f"/v1/stations/{station}/reservations", headers=h.partner.headers,
                               json={**order(h, **changes), "start": window["start"], "end": window["end"]})


def problem(r: httpx.Response, status: int, code: str) -> None:
    """Assert a problem+json refusal with this stable code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM) and r.json()["code"] == code, r.text


async def count(h: Harness, what: Any) -> int:
    """Rows of a table."""
    async with h.app.state.sessions() as db:
        return int((await db.execute(select(func.count()).select_from(what))).scalar_one())


async def booking(h: Harness, booking_id: str) -> WindowBooking:
    """A booking row as stored."""
    async with h.app.state.sessions() as db:
        return await db.get_one(WindowBooking, uuid.UUID(booking_id))


async def test_offer_lists_the_days_windows_with_costs_and_writes_nothing(h: Harness) -> None:
    station = await add_station(h)
    r = await offer(h, station)
    assert r.status_code == 200, r.text
    windows = r.json()["windows"]
    assert [w["kind"] for w in windows] == ["attended"] * 6 + ["in_home"]
    assert windows[0]["start"].startswith(f"{tomorrow(h)}T08:00") and windows[-1]["end"].startswith(
        f"{tomorrow(h)}T20:00")
    assert all(w["feasible"] and w["marginal_cost"] > 0 and w["reason"] is None for w in windows)
    assert await count(h, WindowBooking) == 0 and await count(h, StationDay) == 0


async def test_reserve_book_release_move_the_booking_and_the_slack(h: Harness) -> None:
    station = await add_station(h, vehicles=1, capacity=2)
    w = (await offer(h, station)).json()["windows"][1]
    r = await reserve(h, station, w)
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "reserved" and held["window_start"] == w["start"].replace("Z", "Z")
    expires = datetime.fromisoformat(held["expires_at"])
    assert timedelta(minutes=4) < expires - h.clock() <= timedelta(minutes=5)
    # The only vehicle is full now: every window is refused for capacity.
    assert {x["reason"] for x in (await offer(h, station)).json()["windows"]} == {"capacity"}
    r = await h.client.post(f"/v1/reservations/{held['id']}/book", headers=h.partner.headers)
    assert r.status_code == 200 and r.json()["status"] == "booked" and r.json()["expires_at"] is None
    assert (await booking(h, held["id"])).status == "booked"
    r = await h.client.post(f"/v1/reservations/{held['id']}/release", headers=h.partner.headers)
    assert r.status_code == 200 and (await booking(h, held["id"])).status == "released"
    assert all(x["feasible"] for x in (await offer(h, station)).json()["windows"])


async def test_a_lapsed_reservation_stops_counting_and_cannot_be_booked(h: Harness) -> None:
    station = await add_station(h, vehicles=1, capacity=2)
    w = (await offer(h, station)).json()["windows"][2]
    held = (await reserve(h, station, w)).json()
    assert not any(x["feasible"] for x in (await offer(h, station)).json()["windows"])
    h.clock.offset += timedelta(minutes=6)
    assert all(x["feasible"] for x in (await offer(h, station)).json()["windows"])
    problem(await h.client.post(f"/v1/reservations/{held['id']}/book", headers=h.partner.headers), 409,
            "reservation_expired")
    await Replanner(h.app.state.sessions, h.settings, h.clock).turn()
    assert (await booking(h, held["id"])).status == "expired"


async def test_two_orders_racing_for_the_last_slack_get_one_window_and_one_409(h: Harness) -> None:
    station = await add_station(h, vehicles=1, capacity=2)
    w = (await offer(h, station)).json()["windows"][0]
    first, second = await asyncio.gather(reserve(h, station, w), reserve(h, station, w, lat=LAT - 0.01))
    assert sorted([first.status_code, second.status_code]) == [201, 409], (first.text, second.text)
    problem(first if first.status_code == 409 else second, 409, "window_taken")
    assert await count(h, WindowBooking) == 1


async def test_idempotent_reservation_retry_returns_the_first_hold(h: Harness) -> None:
    station = await add_station(h)
    w = (await offer(h, station)).json()["windows"][0]
    body = {**order(h), "start": w["start"], "end": w["end"]}
    headers = {**h.partner.headers, "Idempotency-Key": "slot-1"}
    a = await h.client.post(f"/v1/stations/{station}/reservations", json=body, headers=headers)
    b = await h.client.post(f"/v1/stations/{station}/reservations", json=body, headers=headers)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert b.headers.get("Idempotent-Replayed") == "true" and await count(h, WindowBooking) == 1


async def other_partner(h: Harness) -> tuple[uuid.UUID, dict[str, str]]:
    """A second partner with its own API key."""
    key, prefix, digest = new_api_key()
    async with h.app.state.sessions() as db:
        p = Partner(id=uuid.uuid4(), name="Other")
        db.add(p)
        await db.flush()
        db.add(ApiKey(partner_id=p.id, prefix=prefix, key_hash=digest))
        await db.commit()
    return p.id, {"Authorization": f"Bearer {key}"}


async def test_bad_input_gets_its_code_and_changes_nothing(h: Harness) -> None:
    station = await add_station(h, capacity=8)
    w = (await offer(h, station)).json()["windows"][0]
    far = {"lat": LAT + 0.5}
    problem(await offer(h, station, **far), 422, "outside_service_area")
    problem(await reserve(h, station, w, **far), 422, "outside_service_area")
    yesterday = (h.clock() - timedelta(days=1)).date().isoformat()
    problem(await offer(h, station, date=yesterday), 422, "window_in_past")
    problem(await offer(h, station, packages=None, demand=9), 422, "too_large_for_vehicles")
    problem(await reserve(h, station, w, packages=["XL", "XL", "S"]), 422, "too_large_for_vehicles")
    problem(await reserve(h, station, {**w, "start": w["start"][:11] + "08:07:00Z"}), 422, "unknown_window")
    problem(await offer(h, uuid.uuid4()), 404, "station_not_found")
    other_id, other_headers = await other_partner(h)
    theirs = await add_station(h, partner_id=other_id)
    problem(await offer(h, theirs), 404, "station_not_found")
    assert await count(h, WindowBooking) == 0 and await count(h, StationDay) == 0
    held = (await reserve(h, station, w)).json()
    for action in ("book", "release"):
        problem(await h.client.post(f"/v1/reservations/{held['id']}/{action}", headers=other_headers), 404,
                "reservation_not_found")
    assert (await booking(h, held["id"])).status == "reserved"
