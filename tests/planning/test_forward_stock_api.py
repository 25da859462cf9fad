"""The forward-stock API: a station's stock is set and read, next-morning windows follow it, refusals change nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from test_windows_api import LAT, add_station, count, h, offer, order, other_partner, problem

from threshold.planning.models import StationStock, WindowBooking
from threshold.sim.harness import Harness

__all__ = ["h"]  # the fixture, shared with the windows API tests


async def put_stock(h: Harness, station: uuid.UUID, lines: Any, headers: dict[str, str] | None = None) -> \
        httpx.Response:
    """Set units per product."""
    return await h.client.put(f"/v1/stations/{station}/stock", json=lines, headers=headers or h.partner.headers)


async def stock_of(h: Harness, station: uuid.UUID) -> dict[str, tuple[int, int, int]]:
    """The station's stock as the API lists it: product -> (units, reserved, available)."""
    r = await h.client.get(f"/v1/stations/{station}/stock", headers=h.partner.headers)
    assert r.status_code == 200, r.text
    return {x["product"]: (x["units"], x["reserved"], x["available"]) for x in r.json()["products"]}


def reasons(r: httpx.Response) -> list[str | None]:
    """Each window's reason, in order (None when feasible)."""
    assert r.status_code == 200, r.text
    return [w["reason"] for w in r.json()["windows"]]


async def test_next_morning_windows_follow_the_stations_stock(h: Harness) -> None:
    station = await add_station(h)
    r = await put_stock(h, station, [{"product": "milk-1l", "units": 2}, {"product": "eggs-10", "units": 0}])
    assert r.status_code == 200, r.text
    assert await stock_of(h, station) == {"eggs-10": (0, 0, 0), "milk-1l": (2, 0, 2)}
    url = f"/v1/stations/{station}/windows"
    milk = [{"product": "milk-1l", "quantity": 2}]
    stocked = await h.client.post(url, json=order(h, products=milk), headers=h.partner.headers)
    assert reasons(stocked) == [None] * 7
    eggs = order(h, products=[{"product": "eggs-10", "quantity": 1}])
    # Tomorrow's 08-10 and 10-12 and the in-home window start before noon; the afternoon is not constrained.
    assert reasons(await h.client.post(url, json=eggs, headers=h.partner.headers)) == [
        "not_stocked_forward", "not_stocked_forward", None, None, None, None, "not_stocked_forward"]
    windows = stocked.json()["windows"]
    refused = await h.client.post(f"/v1/stations/{station}/reservations", headers=h.partner.headers,
                                  json={**eggs, "start": windows[0]["start"], "end": windows[0]["end"]})
    problem(refused, 422, "not_stocked_forward")
    assert refused.json()["products"] == ["eggs-10"] and await count(h, WindowBooking) == 0

    r = await h.client.post(f"/v1/stations/{station}/reservations", headers=h.partner.headers,
                            json={**order(h, products=milk), "start": windows[0]["start"], "end": windows[0]["end"]})
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["stock"] == [{"product": "milk-1l", "quantity": 2}] and held["stock_status"] == "held"
    assert (await stock_of(h, station))["milk-1l"] == (2, 2, 0)
    assert reasons(await h.client.post(url, json=order(h, products=[{"product": "milk-1l", "quantity": 1}]),
                                       headers=h.partner.headers))[0] == "not_stocked_forward"
    problem(await put_stock(h, station, [{"product": "eggs-10", "units": 5}, {"product": "milk-1l", "units": 1}]),
            409, "stock_below_reserved")
    assert await stock_of(h, station) == {"eggs-10": (0, 0, 0), "milk-1l": (2, 2, 0)}

    r = await h.client.post(f"/v1/reservations/{held['id']}/release", headers=h.partner.headers)
    assert r.status_code == 200 and r.json()["stock_status"] == "returned"
    assert (await stock_of(h, station))["milk-1l"] == (2, 0, 2)
    assert reasons(await h.client.post(url, json=order(h, products=milk), headers=h.partner.headers)) == [None] * 7


async def test_another_partners_station_and_bad_stock_are_refused_and_change_nothing(h: Harness) -> None:
    station = await add_station(h)
    # The station's first read fails and is rolled back; the copy the process keeps must still serve the next.
    problem(await offer(h, station, lat=LAT + 0.5), 422, "outside_service_area")
    assert reasons(await offer(h, station)) == [None] * 7
    other_id, other_headers = await other_partner(h)
    theirs = await add_station(h, partner_id=other_id)
    line = [{"product": "milk-1l", "units": 3}]
    problem(await put_stock(h, theirs, line), 404, "station_not_found")
    problem(await h.client.get(f"/v1/stations/{theirs}/stock", headers=h.partner.headers), 404, "station_not_found")
    problem(await put_stock(h, station, line, headers=other_headers), 404, "station_not_found")
    for bad in ([], [{"product": "milk-1l", "units": -1}], [{"product": "milk-1l", "units": 10**7}],
                [{"product": "x" * 65, "units": 1}], [{"product": " milk", "units": 1}], {"milk-1l": 3}):
        problem(await put_stock(h, station, bad), 422, "validation_failed")
    problem(await put_stock(h, station, line + line), 422, "duplicate_product")
    bad_order = order(h, products=[{"product": "milk-1l", "quantity": 0}])
    problem(await h.client.post(f"/v1/stations/{station}/windows", json=bad_order, headers=h.partner.headers), 422,
            "validation_failed")
    assert await count(h, StationStock) == 0
