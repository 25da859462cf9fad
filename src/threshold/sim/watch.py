"""Scenarios for the safety watch: a door reopened, a driver who lingers, an offline lock, a garage left open.

Each passes only on its safe outcome, with the household (and the operator where it matters) told through
the outbox and every step in the home's audit chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from threshold.deliveries.models import Delivery
from threshold.devices.simulated import Behaviour
from threshold.homes.models import Device
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness
from threshold.sim.neighbourhood import SimHome
from threshold.sim.outcome import (
    Result,
    audited,
    common,
    enter,
    eventually,
    expect_unsecured,
    incidents,
    refusal_audited,
    told,
)


async def _alerted(h: Harness, res: Result, home: SimHome, session_id: str | None, where: str) -> None:
    """A door opened that nobody unlocked: one open door_reopened incident, people told, the chain says so."""
    found = await eventually(lambda: _has_incident(h, home, "door_reopened"))
    res.expect(found, f"{where}: no door_reopened incident")
    reopened = await incidents(h, home.id, "door_reopened")
    res.facts[f"{where}_incidents"] = [(i.kind, i.status, str(i.session_id) if i.session_id else None)
                                       for i in reopened]
    res.expect(len(reopened) == 1 and reopened[0].status == "open", f"{where}: expected one open incident")
    if reopened:
        expected = uuid.UUID(session_id) if session_id else None
        res.expect(reopened[0].session_id == expected, f"{where}: incident not tied to the last session")
    res.expect(await told(h, home.id, "door.reopened"), f"{where}: household not told")
    res.expect(await told(h, home.id, "door.reopened", "operator"), f"{where}: operator not told")
    res.expect(await audited(h, home.id, "door.reopened"), f"{where}: not audited")


async def _has_incident(h: Harness, home: SimHome, kind: str) -> bool:
    return bool(await incidents(h, home.id, kind))


async def door_reopened(h: Harness) -> Result:
    """The door opens after the delivery ended, or with no session at all: an incident, people told, audited."""
    res = Result("door-reopened")
    home, stranger = h.world.homes[2], h.world.homes[3]
    contact, strangers = home.contact, stranger.contact
    assert contact is not None and strangers is not None
    driver, sid = await enter(h, res, home)
    if sid is None:
        return res
    # The driver opens the door, goes in and pulls it shut: normal while the session holds it unlocked.
    await h.gateway.set_state(contact, "open")
    await h.gateway.set_state(contact, "closed")
    seen = await eventually(lambda: audited(h, home.id, "door.closed", f"session:{sid}"))
    res.expect(seen, "the driver's opening and closing were not recorded on the session")
    await driver.finish(sid)
    end = await driver.until(sid, TERMINAL)
    res.facts.update(session=end["state"], reason=end.get("reason"))
    res.expect(end["state"] == "done", f"session ended {end['state']} ({end.get('reason')})")
    res.expect(not await incidents(h, home.id, "door_reopened"), "the driver's own entry raised an alert")

    await h.gateway.set_state(contact, "open")
    await _alerted(h, res, home, sid, "after_delivery")
    await h.gateway.set_state(strangers, "open")
    await _alerted(h, res, stranger, None, "no_session")

    # Shutting the door is recorded on the incident; the incident stays open until a person closes it.
    await h.gateway.set_state(contact, "closed")
    res.expect(await eventually(lambda: audited(h, home.id, "door.closed")), "closing not recorded")
    await common(h, res, 2)
    return res


async def driver_lingers(h: Harness) -> Result:
    """The driver stays past the dwell limit: people told, door locked, alarm re-armed, ended driver_lingered."""
    res = Result("driver-lingers")
    home = h.world.homes[0]
    assert home.alarm is not None
    # The runner reads the dwell limit from the live settings at each step; a short one keeps this quick.
    saved, h.settings.dwell_limit = h.settings.dwell_limit, 1.0
    try:
        driver, sid = await enter(h, res, home)
        if sid is None:
            return res
        end = await driver.until(sid, TERMINAL, timeout=15)
    finally:
        h.settings.dwell_limit = saved
    res.facts.update(session=end["state"], reason=end.get("reason"))
    res.expect(end["state"] == "done" and end.get("reason") == "driver_lingered",
               f"session ended {end['state']} ({end.get('reason')})")
    res.expect(h.gateway.state(home.lock) == "locked", "door not locked")
    res.expect(h.gateway.state(home.alarm) == "armed_away", "alarm not re-armed")
    res.expect(await told(h, home.id, "driver.lingered"), "household not told")
    res.expect(await told(h, home.id, "driver.lingered", "operator"), "operator not told")
    res.expect(await audited(h, home.id, "driver.lingered", f"session:{sid}"), "lingering not audited")
    late = await driver.finish(sid)
    res.expect(late.status_code == 409, f"finishing after the limit answered {late.status_code}")
    await common(h, res)
    return res


async def lock_offline(h: Harness) -> Result:
    """A lock offline before the driver arrives refuses entry with the household's fallback; one that drops
    off mid-session ends the session unsecured at once, with an incident."""
    res = Result("lock-offline")
    await _before_arrival(h, res)
    await _mid_session(h, res)
    await common(h, res, 4)
    return res


async def _before_arrival(h: Harness, res: Result) -> None:
    home = h.world.homes[0]
    assert home.alarm is not None
    await _rules(h, 0, fallback="locker")
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    created = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode)
    res.expect(created.status_code == 201, f"delivery not created: {created.text}")
    delivery_id = created.json()["id"]
    await h.gateway.set_available(home.lock, False)
    res.expect(await eventually(lambda: _offline(h, home.lock)), "the lock's row never went offline")
    r = await (await h.driver()).ask(delivery_id, barcode, home.lat, home.lon)
    body = r.json()
    res.facts.update(status=r.status_code, code=body.get("code"), fallback=body.get("fallback"))
    res.expect(r.headers.get("content-type", "").startswith("application/problem+json"), "not problem+json")
    res.expect(r.status_code == 503 and body.get("code") == "device_offline", f"got {r.status_code} {body}")
    res.expect(body.get("fallback") == "locker", "the household's fallback is not in the refusal")
    res.expect(h.commands_to(home.camera, "start") == 0, "the camera was started")
    res.expect(h.commands_to(home.alarm, "disarm") == 0, "the alarm was disarmed")
    res.expect(h.commands_to(home.lock, "unlock") == 0, "an unlock was sent")
    res.expect(await refusal_audited(h, home.id, "device_offline"), "refusal not audited")
    async with h.app.state.sessions() as db:
        d = await db.get(Delivery, uuid.UUID(delivery_id))
    res.expect(d is not None and (d.status, d.fallback) == ("fallback", "locker"),
               f"delivery does not record the fallback: {d and (d.status, d.fallback)}")
    res.expect(await audited(h, home.id, "delivery.fallback", f"delivery:{delivery_id}"), "fallback not audited")
    res.expect(await told(h, home.id, "delivery.fallback"), "household not told of the fallback")


async def _mid_session(h: Harness, res: Result) -> None:
    home = h.world.homes[4]
    h.gateway.devices[home.lock].behaviour = Behaviour(offline_on="lock")
    driver, sid = await enter(h, res, home, home.front_door)
    if sid is None:
        return
    await driver.finish(sid)
    end = await driver.until(sid, TERMINAL, timeout=15)
    res.facts.update(mid_session=end["state"], mid_session_reason=end.get("reason"))
    res.expect(end["state"] == "unsecured" and end.get("reason") == "lock_offline",
               f"mid-session: ended {end['state']} ({end.get('reason')})")
    res.expect(h.commands_to(home.lock, "lock") == 1, "an offline lock was sent retries it cannot hear")
    await expect_unsecured(h, res, home.id, "mid-session")


async def _offline(h: Harness, address: str) -> bool:
    async with h.app.state.sessions() as db:
        return (await db.execute(select(Device.online).where(Device.address == address))).scalar_one() is False


async def _rules(h: Harness, home_index: int, **changes: Any) -> None:
    home, headers = h.world.homes[home_index], await h.member_headers(home_index)
    rules = (await h.client.get(f"/v1/homes/{home.id}/rules", headers=headers)).json()
    (await h.client.put(f"/v1/homes/{home.id}/rules", headers=headers, json={**rules, **changes})).raise_for_status()


async def garage_left_open(h: Harness) -> Result:
    """A garage door that will not close: retries, an unsecured incident, people told at once. And a garage
    opened after a normal delivery is the same alert as a reopened door."""
    res = Result("garage-left-open")
    await _garage_reopened(h, res)
    home = h.world.homes[1]
    assert home.garage is not None and home.garage_door is not None
    h.gateway.devices[home.garage_door].behaviour = Behaviour(stuck_open=True)
    driver, sid = await enter(h, res, home, home.garage)
    if sid is None:
        return res
    await driver.finish(sid)
    end = await driver.until(sid, TERMINAL, timeout=15)
    closes = h.commands_to(home.garage_door, "close")
    res.facts.update(session=end["state"], reason=end.get("reason"), close_commands=closes)
    res.expect(end["state"] == "unsecured", f"session ended {end['state']} ({end.get('reason')})")
    res.expect(closes == 1 + h.settings.lock_retries, f"closing was not retried: {closes} commands")
    await expect_unsecured(h, res, home.id)
    res.expect(not await incidents(h, home.id, "door_reopened"), "one stuck door raised two incidents")
    # A door stopped part-way is left to the person on its incident: no more closing against an obstruction.
    await h.app.state.hub.flush()
    await h.app.state.runner.reconcile()
    res.expect(h.commands_to(home.garage_door, "close") == closes, "the reconciler drove the stuck door again")
    await common(h, res, 1)
    return res


async def _garage_reopened(h: Harness, res: Result) -> None:
    home = h.world.homes[5]
    garage_door = home.garage_door
    assert home.garage is not None and garage_door is not None
    driver, sid = await enter(h, res, home, home.garage)
    if sid is None:
        return
    await driver.finish(sid)
    end = await driver.until(sid, TERMINAL)
    res.expect(end["state"] == "done", f"garage delivery ended {end['state']} ({end.get('reason')})")
    res.expect(not await incidents(h, home.id), "a normal garage delivery raised an incident")
    await h.gateway.set_state(garage_door, "open")
    await _alerted(h, res, home, sid, "garage")

    async def closed() -> bool:
        return garage_door is not None and h.gateway.state(garage_door) == "closed"

    res.expect(await eventually(closed), "the reconciler did not close the garage again")


SCENARIOS: dict[str, Callable[[Harness], Awaitable[Result]]] = {
    "door-reopened": door_reopened, "driver-lingers": driver_lingers, "lock-offline": lock_offline,
    "garage-left-open": garage_left_open,
}
