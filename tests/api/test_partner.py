"""The partner API: creating deliveries idempotently, authentication, isolation between partners, cancelling."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import Api, problem

from threshold.sim import neighbourhood
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness


def _body(h: Harness, **changes: Any) -> dict[str, Any]:
    """A valid delivery request for homes[1], with `changes` applied."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    body: dict[str, Any] = {
        "home_id": str(h.world.homes[1].id), "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
        "packages": [{"barcode": f"PKG-{uuid.uuid4().hex[:8]}", "size": "M", "weight_g": 900}],
    }
    body.update(changes)
    return body


async def test_create_delivery_returns_201_with_its_packages(harness: Harness, api: Api) -> None:
    home = api.home(1)
    driver_id = harness.world.drivers[0][0]
    r = await harness.partner.create(home, driver_id, barcode="PKG-CREATE-1", size="S")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["home_id"] == str(home.id)
    assert body["packages"] == [{"barcode": "PKG-CREATE-1", "size": "S", "weight_g": 1200}]
    assert body["status"] == "assigned" and body["driver_id"] == str(driver_id)
    assert body["mode"] == "in_home" and body["ineligible_reasons"] == []
    assert body["entry_point_id"] == str(home.front_door)
    read = await harness.client.get(f"/v1/deliveries/{body['id']}", headers=harness.partner.headers)
    assert read.status_code == 200 and read.json() == body


async def test_idempotent_retry_returns_the_first_answer_and_creates_one_delivery(harness: Harness,
                                                                                api: Api) -> None:
    home = api.home(1)
    start = datetime.now(UTC) - timedelta(minutes=5)
    first = await harness.partner.create(home, None, barcode="PKG-IDEM-1", start=start, key="order-42")
    again = await harness.partner.create(home, None, barcode="PKG-IDEM-1", start=start, key="order-42")
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    deliveries = await api.household_deliveries(1)
    assert [d["id"] for d in deliveries] == [first.json()["id"]]


async def test_reused_idempotency_key_with_another_body_is_refused(harness: Harness, api: Api) -> None:
    home = api.home(1)
    start = datetime.now(UTC) - timedelta(minutes=5)
    first = await harness.partner.create(home, None, barcode="PKG-IDEM-A", start=start, key="order-43")
    other = await harness.partner.create(home, None, barcode="PKG-IDEM-B", start=start, key="order-43")
    assert first.status_code == 201
    problem(other, 422, "idempotency_key_reused")
    assert [d["id"] for d in await api.household_deliveries(1)] == [first.json()["id"]]


async def test_concurrent_retries_with_one_key_create_exactly_one_delivery(harness: Harness, api: Api) -> None:
    home = api.home(1)
    start = datetime.now(UTC) - timedelta(minutes=5)
    answers = await asyncio.gather(*(harness.partner.create(home, None, barcode="PKG-RACE-1", start=start,
                                                            key="order-race") for _ in range(4)))
    created = [r for r in answers if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(created) == 1, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r is created[0]:
            continue
        if r.status_code == 201:
            assert r.headers["Idempotent-Replayed"] == "true" and r.json() == created[0].json()
        else:
            problem(r, 409, "idempotency_in_flight")
    assert [d["id"] for d in await api.household_deliveries(1)] == [created[0].json()["id"]]


async def test_partner_api_without_a_valid_key_is_401_and_creates_nothing(harness: Harness, api: Api) -> None:
    key = harness.world.api_key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    cases = [
        ({}, "api_key_required"),
        ({"Authorization": "Bearer thr_000000000000_not-a-real-key"}, "api_key_invalid"),
        ({"X-API-Key": "thr_000000000000_not-a-real-key"}, "api_key_invalid"),
        ({"X-API-Key": forged}, "api_key_invalid"),
    ]
    for headers, code in cases:
        r = await harness.client.post("/v1/deliveries", json=_body(harness), headers=headers)
        problem(r, 401, code)
    assert await api.household_deliveries(1) == []


async def test_another_partner_cannot_read_cancel_or_assign_the_delivery(harness: Harness, api: Api) -> None:
    booked = await api.book(1, driver_index=None)
    async with harness.app.state.sessions() as db:
        other = await neighbourhood.build(db, homes=0, drivers=1)
        await db.commit()
    theirs = {"Authorization": f"Bearer {other.api_key}"}
    problem(await harness.client.get(f"/v1/deliveries/{booked.id}", headers=theirs), 404, "not_found")
    problem(await harness.client.post(f"/v1/deliveries/{booked.id}/cancel", headers=theirs), 404, "not_found")
    r = await harness.client.post(f"/v1/deliveries/{booked.id}/assign", headers=theirs,
                                  json={"driver_id": str(other.drivers[0][0])})
    problem(r, 404, "not_found")
    # Nor can the owner hand its delivery to the other partner's driver.
    r = await harness.client.post(f"/v1/deliveries/{booked.id}/assign", headers=harness.partner.headers,
                                  json={"driver_id": str(other.drivers[0][0])})
    problem(r, 404, "driver_not_found")
    mine = await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)
    assert mine.json()["status"] == "created" and mine.json()["driver_id"] is None


def _invalid_bodies(h: Harness) -> dict[str, dict[str, Any]]:
    body = _body(h)
    start = datetime.fromisoformat(body["window_start"])
    return {
        "end-before-start": {**body, "window_end": (start - timedelta(minutes=1)).isoformat()},
        "window-over-24h": {**body, "window_end": (start + timedelta(hours=25)).isoformat()},
        "bad-size": {**body, "packages": [{**body["packages"][0], "size": "XXL"}]},
        "no-packages": {**body, "packages": []},
        "naive-datetime": {**body, "window_start": body["window_start"][:19]},
        "unknown-field": {**body, "price": 3},
    }


async def test_invalid_delivery_is_422_validation_failed_and_creates_nothing(harness: Harness, api: Api) -> None:
    for name, body in _invalid_bodies(harness).items():
        r = await harness.client.post("/v1/deliveries", json=body, headers=harness.partner.headers)
        found = problem(r, 422, "validation_failed")
        assert found["errors"], (name, found)
        assert "Traceback" not in r.text, name
    assert await api.household_deliveries(1) == []


async def test_window_in_the_past_is_refused_and_creates_nothing(harness: Harness, api: Api) -> None:
    start = datetime.now(UTC) - timedelta(hours=5)
    body = _body(harness, window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat())
    r = await harness.client.post("/v1/deliveries", json=body, headers=harness.partner.headers)
    problem(r, 422, "window_in_past")
    assert await api.household_deliveries(1) == []


async def test_unknown_home_is_404_and_creates_nothing(harness: Harness, api: Api) -> None:
    r = await harness.client.post("/v1/deliveries", json=_body(harness, home_id=str(uuid.uuid4())),
                                  headers=harness.partner.headers)
    problem(r, 404, "home_not_found")
    assert await api.household_deliveries(1) == []


async def test_cancel_during_an_open_session_aborts_it_and_relocks_the_door(harness: Harness, api: Api) -> None:
    booked = await api.book(0)
    home = booked.home
    driver, sid = await api.open_door(booked)
    assert harness.gateway.state(home.lock) == "unlocked"
    r = await harness.client.post(f"/v1/deliveries/{booked.id}/cancel", headers=harness.partner.headers)
    assert r.status_code == 200, r.text
    ended = await driver.until(sid, TERMINAL, timeout=10)
    assert (ended["state"], ended["reason"]) == ("aborted", "grant_revoked")
    assert harness.gateway.state(home.lock) == "locked"
    assert home.alarm is not None and harness.gateway.state(home.alarm) == "armed_away"
    actions = [a["action"] for a in await api.audit(0)]
    assert "grant.revoked" in actions and "lock.locked" in actions and actions[-1] == "session.aborted"


async def test_cancelled_delivery_stays_cancelled_after_its_session_aborts(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    driver, sid = await api.open_door(booked)
    c = await harness.client.post(f"/v1/deliveries/{booked.id}/cancel", headers=harness.partner.headers)
    assert c.status_code == 200, c.text
    ended = await driver.until(sid, TERMINAL, timeout=10)
    assert ended["state"] in TERMINAL, ended
    r = await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)
    assert r.json()["status"] == "cancelled"
