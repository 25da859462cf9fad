"""Asking for entry over HTTP: every refusal is problem+json with its code, unlocks nothing and is audited;
the happy path opens only after camera and alarm, and ends locked and re-armed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import Api, Booked, eventually, problem
from sqlalchemy import select, text

from threshold.access.policy import local_date
from threshold.audit.models import AuditHead
from threshold.devices.simulated import Behaviour
from threshold.notify.models import OutboxMessage
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness


async def assert_refused(h: Harness, api: Api, r: httpx.Response, status: int, code: str, booked: Booked,
                         home_index: int, unlocks: int = 0) -> dict[str, Any]:
    """A refusal: problem+json with the code, no (further) unlock at that door, an audit record naming it."""
    body = problem(r, status, code)
    assert code in body["reasons"], body
    assert h.commands_to(booked.home.lock, "unlock") == unlocks
    records = [a for a in await api.refusals(home_index) if a["subject"] == f"delivery:{booked.id}"]
    assert records, "refusal not audited"
    assert records[-1]["data"]["codes"][0] == code, records[-1]
    assert records[-1]["actor"].startswith("driver:")
    return body


async def test_expired_grant_is_refused_and_audited(harness: Harness, api: Api) -> None:
    booked = await api.book(1, hours=1)
    harness.clock.offset = timedelta(hours=2)
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 403, "grant_expired", booked, 1)


async def test_ask_before_the_window_opens_is_refused_outside_window(harness: Harness, api: Api) -> None:
    booked = await api.book(1, start=datetime.now(UTC) + timedelta(hours=3))
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 403, "outside_window", booked, 1)


async def test_driver_not_assigned_is_refused_wrong_driver(harness: Harness, api: Api) -> None:
    booked = await api.book(1, driver_index=0)
    r = await api.ask(await harness.driver(1), booked)
    await assert_refused(harness, api, r, 403, "wrong_driver", booked, 1)


async def test_scanning_another_package_is_refused_wrong_package(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    r = await api.ask(await harness.driver(0), booked, barcode="PKG-NOT-IN-THIS-DELIVERY")
    await assert_refused(harness, api, r, 403, "wrong_package", booked, 1)


async def test_replayed_grant_is_refused_and_audited(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    done = await api.complete(booked)
    assert done["state"] == "done"
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 409, "grant_used", booked, 1, unlocks=1)
    assert harness.gateway.state(booked.home.lock) == "locked"


async def test_revoked_grant_is_refused_and_audited(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    c = await harness.client.post(f"/v1/deliveries/{booked.id}/cancel", headers=harness.partner.headers)
    assert c.status_code == 200 and c.json()["status"] == "cancelled"
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 403, "grant_revoked", booked, 1)


async def test_household_that_opted_out_after_booking_is_not_entered(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    await api.rules(1, in_home_enabled=False)
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 403, "household_opted_out", booked, 1)


async def test_blackout_day_is_refused_and_audited(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    await api.rules(1, blackout_dates=[local_date(harness.clock(), "Europe/Berlin")])
    r = await api.ask(await harness.driver(0), booked)
    body = await assert_refused(harness, api, r, 403, "blackout_day", booked, 1)
    # The household's own day away: the driver did everything right, so the household's fallback says what happens.
    assert body["fallback"] == "doorstep"
    delivery = (await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)).json()
    assert (delivery["status"], delivery["fallback"]) == ("fallback", "doorstep")


async def test_a_wrong_package_on_a_blackout_day_gets_no_fallback(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    await api.rules(1, blackout_dates=[local_date(harness.clock(), "Europe/Berlin")])
    r = await api.ask(await harness.driver(0), booked, barcode="PKG-NOT-THIS-ONE")
    body = problem(r, 403, "wrong_package")
    assert body.get("fallback") is None


async def test_driver_five_km_away_is_refused_not_at_home(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    r = await api.ask(await harness.driver(0), booked, lat=booked.home.lat + 0.045)
    await assert_refused(harness, api, r, 403, "not_at_home", booked, 1)


async def test_lock_offline_is_refused_device_offline(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    await _lock_offline(harness, booked)
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 503, "device_offline", booked, 1)
    assert harness.commands_to(booked.home.camera, "start") == 0


async def _lock_offline(h: Harness, booked: Booked) -> None:
    """The lock drops off its network, as it would say so itself; the hub writes the row before the ask."""
    await h.gateway.set_available(booked.home.lock, False)
    hub = h.app.state.hub
    assert await eventually(lambda: hub.online.get(hub.by_address[booked.home.lock].device_id) is False)
    await hub.flush()


async def test_lock_offline_hands_the_package_to_the_households_fallback_and_the_delivery_records_it(
        harness: Harness, api: Api) -> None:
    await api.rules(1, fallback="reattempt")
    booked = await api.book(1)
    await _lock_offline(harness, booked)
    body = await assert_refused(harness, api, await api.ask(await harness.driver(0), booked), 503, "device_offline",
                                booked, 1)
    assert body["fallback"] == "reattempt"
    delivery = (await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)).json()
    assert (delivery["status"], delivery["fallback"]) == ("fallback", "reattempt")
    applied = [a for a in await api.audit(1) if a["action"] == "delivery.fallback"]
    assert [(a["subject"], a["data"]) for a in applied] == [
        (f"delivery:{booked.id}", {"fallback": "reattempt", "reason": "device_offline"})]
    # Asked again, the driver hears the same fallback, and it is applied only once.
    again = problem(await api.ask(await harness.driver(0), booked), 409, "delivery_not_active")
    assert again["fallback"] == "reattempt"
    assert len([a for a in await api.audit(1) if a["action"] == "delivery.fallback"]) == 1
    assert harness.commands_to(booked.home.camera, "start") == 0


async def test_wrong_driver_at_a_home_with_an_offline_lock_gets_no_fallback(harness: Harness, api: Api) -> None:
    booked = await api.book(1, driver_index=0)
    await _lock_offline(harness, booked)
    body = await assert_refused(harness, api, await api.ask(await harness.driver(1), booked), 403, "wrong_driver",
                                booked, 1)
    assert "fallback" not in body
    delivery = (await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)).json()
    assert (delivery["status"], delivery["fallback"]) == ("assigned", None)


async def test_xl_package_at_the_front_door_is_refused_package_too_large(harness: Harness, api: Api) -> None:
    booked = await api.book(1, size="XL", entry_point_id=api.home(1).front_door)
    assert booked.body["mode"] == "doorstep" and "package_too_large" in booked.body["ineligible_reasons"]
    r = await api.ask(await harness.driver(0), booked)
    await assert_refused(harness, api, r, 403, "package_too_large", booked, 1)


async def test_camera_that_never_records_stops_the_entry_before_the_alarm_or_lock(harness: Harness,
                                                                                  api: Api) -> None:
    home = api.home(0)
    assert home.alarm is not None
    harness.gateway.devices[home.camera].behaviour = Behaviour(camera_fails=True)
    booked = await api.book(0)
    r = await api.ask(await harness.driver(0), booked)
    body = problem(r, 503, "camera_not_confirmed")
    assert body["session_id"]
    assert harness.commands_to(home.camera, "start") == 1
    assert harness.commands_to(home.alarm, "disarm") == 0
    assert harness.commands_to(home.lock, "unlock") == 0
    assert harness.gateway.state(home.lock) == "locked" and harness.gateway.state(home.alarm) == "armed_away"
    aborted = [a for a in await api.audit(0) if a["action"] == "session.aborted"]
    assert [a["data"] for a in aborted] == [{"reason": "camera_not_confirmed"}]
    assert aborted[0]["subject"] == f"session:{body['session_id']}"


async def test_happy_path_opens_after_camera_and_alarm_then_locks_and_rearms(harness: Harness, api: Api) -> None:
    home = api.home(0)
    assert home.alarm is not None
    booked = await api.book(0)
    driver = await harness.driver(0)
    r = await api.ask(driver, booked)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["state"] == "open" and session["live"] is True
    assert harness.gateway.state(home.lock) == "unlocked"
    assert harness.gateway.state(home.alarm) == "disarmed"
    f = await driver.finish(session["id"])
    assert f.status_code == 200, f.text
    ended = await driver.until(session["id"], TERMINAL, timeout=10)
    assert ended["state"] == "done" and ended["live"] is False and ended["reason"] is None
    assert harness.gateway.state(home.lock) == "locked"
    assert harness.gateway.state(home.alarm) == "armed_away"
    # The devices' own log: each command waited for the previous device's confirmed state.
    mine = {home.camera: "camera", home.alarm: "alarm", home.lock: "lock"}
    trail = [f"{mine[a]}{'' if w.startswith('=') else ':'}{w}" for _, a, w in harness.gateway.log if a in mine]
    commands = [t for t in trail if ":" in t]
    assert commands == ["camera:start", "alarm:disarm", "lock:unlock", "lock:lock", "alarm:arm", "camera:stop"]
    assert trail.index("camera=recording") < trail.index("alarm:disarm")
    assert trail.index("alarm=disarmed") < trail.index("lock:unlock")
    assert trail.index("lock=locked") < trail.index("alarm:arm")
    again = await driver.finish(session["id"])
    problem(again, 409, "session_not_open")
    delivery = await harness.client.get(f"/v1/deliveries/{booked.id}", headers=harness.partner.headers)
    assert delivery.json()["status"] == "delivered"
    async with harness.app.state.sessions() as db:
        topics = set((await db.execute(select(OutboxMessage.topic).where(
            OutboxMessage.home_id == home.id, OutboxMessage.audience == "household"))).scalars())
    assert "delivery.completed" in topics


async def test_second_driver_at_a_busy_door_gets_409_and_may_enter_afterwards(harness: Harness, api: Api) -> None:
    first = await api.book(1, driver_index=0)
    second = await api.book(1, driver_index=1)
    driver, sid = await api.open_door(first)
    other = await harness.driver(1)
    r = await api.ask(other, second)
    problem(r, 409, "entry_in_progress")
    assert harness.commands_to(first.home.lock, "unlock") == 1
    codes = [a["data"]["codes"] for a in await api.refusals(1)]
    assert ["entry_in_progress"] in codes
    await driver.finish(sid)
    assert (await driver.until(sid, TERMINAL))["state"] == "done"
    # The refusal did not use up the second driver's grant.
    r = await api.ask(other, second)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text


async def test_drivers_racing_for_one_door_let_exactly_one_in_and_audit_every_refusal(
        harness: Harness, api: Api, database_url: str, request: pytest.FixtureRequest) -> None:
    postgres = database_url.startswith("postgresql")
    home = api.home(1)
    booked = [await api.book(1, driver_index=i) for i in range(3)]
    drivers = [await harness.driver(i) for i in range(3)]
    # Hold the home's audit head so that every ask gets past its "is the door busy?" check before any commits:
    # the race is then certain instead of depending on scheduling.
    async with harness.app.state.sessions() as holder:
        await holder.execute(select(AuditHead).where(AuditHead.home_id == home.id).with_for_update())
        asks = [asyncio.create_task(api.ask(d, b)) for d, b in zip(drivers, booked, strict=True)]
        if postgres:
            async def all_waiting() -> bool:
                # Statistics views are snapshotted per transaction; the holder's transaction stays open.
                await holder.execute(text("SELECT pg_stat_clear_snapshot()"))
                waiting = await holder.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"))
                return int(waiting.scalar_one()) >= len(asks)

            assert await api.eventually(all_waiting, timeout=10)
        else:
            await asyncio.sleep(0.3)
        await holder.commit()
    answers = await asyncio.gather(*asks)
    opened = [r for r in answers if r.status_code == 200]
    assert len(opened) == 1 and opened[0].json()["state"] == "open", [r.text for r in answers]
    for r in answers:
        if r is not opened[0]:
            problem(r, 409, "entry_in_progress")
    assert harness.commands_to(home.lock, "unlock") == 1
    refused = [a for a in await api.refusals(1) if a["data"]["codes"] == ["entry_in_progress"]]
    assert len(refused) == 2, refused


async def test_prefer_respond_async_answers_202_with_a_location_to_poll(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    driver = await harness.driver(0)
    r = await api.ask(driver, booked, respond_async=True)
    assert r.status_code == 202, r.text
    session = r.json()
    assert session["state"] == "camera_starting"
    assert r.headers["Location"] == f"/v1/driver/entries/{session['id']}"
    opened = await driver.until(session["id"], {"open"} | TERMINAL)
    assert opened["state"] == "open"
    polled = await harness.client.get(r.headers["Location"], headers=driver.headers)
    assert polled.status_code == 200 and polled.json()["id"] == session["id"]


async def test_ask_me_first_waits_for_the_household_and_opens_on_approval(harness: Harness, api: Api) -> None:
    home = api.home(1)
    driver, _, sid = await api.awaiting_approval(1)
    assert harness.commands_to(home.camera, "start") == 0 and harness.commands_to(home.lock, "unlock") == 0
    headers = await api.member(1)
    a = await harness.client.post(f"/v1/homes/{home.id}/sessions/{sid}/approve", headers=headers)
    assert a.status_code == 200, a.text
    assert a.json()["state"] not in ("awaiting_approval", *TERMINAL)
    assert (await driver.until(sid, {"open"} | TERMINAL))["state"] == "open"
    assert harness.commands_to(home.lock, "unlock") == 1
    again = await harness.client.post(f"/v1/homes/{home.id}/sessions/{sid}/approve", headers=headers)
    problem(again, 409, "session_not_awaiting_approval")
    actions = [x["action"] for x in await api.audit(1)]
    assert actions.index("session.awaiting_approval") < actions.index("session.approved")


async def test_ask_me_first_declined_aborts_without_unlocking(harness: Harness, api: Api) -> None:
    home = api.home(1)
    driver, _, sid = await api.awaiting_approval(1)
    d = await harness.client.post(f"/v1/homes/{home.id}/sessions/{sid}/decline", headers=await api.member(1))
    assert d.status_code == 200, d.text
    assert (d.json()["state"], d.json()["reason"]) == ("aborted", "approval_declined")
    assert (await driver.state(sid))["state"] == "aborted"
    assert harness.commands_to(home.lock, "unlock") == 0
    assert harness.commands_to(home.camera, "start") == 0
    assert harness.gateway.state(home.lock) == "locked"


async def test_delivery_approved_ahead_of_time_opens_without_waiting(harness: Harness, api: Api) -> None:
    home = api.home(1)
    await api.rules(1, ask_first=True)
    booked = await api.book(1)
    a = await harness.client.post(f"/v1/homes/{home.id}/deliveries/{booked.id}/approve",
                                  headers=await api.member(1))
    assert a.status_code == 200 and a.json()["approved"] is True, a.text
    r = await api.ask(await harness.driver(0), booked)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    assert "session.awaiting_approval" not in [x["action"] for x in await api.audit(1)]


async def test_another_household_cannot_approve_a_session(harness: Harness, api: Api) -> None:
    home = api.home(1)
    driver, _, sid = await api.awaiting_approval(1)
    stranger = await api.member(2)
    a = await harness.client.post(f"/v1/homes/{home.id}/sessions/{sid}/approve", headers=stranger)
    problem(a, 404, "not_found")
    a = await harness.client.post(f"/v1/homes/{api.home(2).id}/sessions/{sid}/approve", headers=stranger)
    problem(a, 404, "not_found")
    assert harness.commands_to(home.camera, "start") == 0
    assert (await driver.state(sid))["state"] == "awaiting_approval"


async def test_only_the_assigned_driver_can_finish_or_read_the_session(harness: Harness, api: Api) -> None:
    booked = await api.book(1)
    driver, sid = await api.open_door(booked)
    other = await harness.driver(1)
    problem(await other.finish(sid), 404, "not_found")
    problem(await harness.client.get(f"/v1/driver/entries/{sid}", headers=other.headers), 404, "not_found")
    assert (await driver.state(sid))["state"] == "open"
    assert harness.gateway.state(booked.home.lock) == "unlocked"
    assert (await driver.finish(sid)).status_code == 200
    assert (await driver.until(sid, TERMINAL))["state"] == "done"
    assert harness.gateway.state(booked.home.lock) == "locked"
