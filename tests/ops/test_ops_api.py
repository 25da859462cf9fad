"""The operators' JSON API on both databases: only an active operator's token, incidents across homes
acknowledged and closed (audited, an unsecured door only once locked), live sessions, device health."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from threshold.audit.models import AuditRecord
from threshold.devices.simulated import Behaviour
from threshold.homes.models import Device
from threshold.ops.models import Operator
from threshold.sim.driver import TERMINAL, deliver
from threshold.sim.harness import Harness
from threshold.sim.outcome import Result, enter, eventually, expect_unsecured


async def ops_headers(h: Harness) -> dict[str, str]:
    """Bearer headers for the world's operator."""
    r = await h.client.post("/v1/ops/token", json={"email": h.world.operator_email, "password": h.world.password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with a stable code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


async def actions(h: Harness, home_id: uuid.UUID, action: str) -> list[AuditRecord]:
    """The home's audit records of one action."""
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(AuditRecord).where(AuditRecord.home_id == home_id,
                                                                 AuditRecord.action == action))).scalars())


async def unsecured(h: Harness, home_index: int) -> None:
    """A delivery whose lock jams on every relock ends unsecured, with an open incident."""
    home = h.world.homes[home_index]
    h.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    run = await deliver(h.partner, await h.driver(), h.world.drivers[0][0], home)
    assert run.outcome == "unsecured", run
    res = Result("ops-api")
    await expect_unsecured(h, res, home.id)
    assert res.ok, res.failures


async def test_only_an_active_operators_token_reads_the_console(harness: Harness) -> None:
    h = harness
    for headers in ({}, await h.member_headers(0), (await h.driver()).headers):
        for path in ("/v1/ops/overview", "/v1/ops/incidents", "/v1/ops/sessions/live", "/v1/ops/devices"):
            assert (await h.client.get(path, headers=headers)).status_code == 401, (path, headers)
    ops = await ops_headers(h)
    assert (await h.client.get("/v1/ops/overview", headers=ops)).json() == {
        "live_sessions": 0, "open_incidents": 0, "unacknowledged": 0, "devices_offline": 0, "dead_letters": 0}
    async with h.app.state.sessions() as db:
        await db.execute(update(Operator).where(Operator.email == h.world.operator_email).values(active=False))
        await db.commit()
    problem(await h.client.get("/v1/ops/overview", headers=ops), 401, "operator_inactive")


async def test_an_operator_acknowledges_and_closes_an_unsecured_door_once_it_is_locked(harness: Harness) -> None:
    h = harness
    home = h.world.homes[1]
    await unsecured(h, 1)
    ops = await ops_headers(h)
    me = (await h.client.post("/v1/ops/token", json={"email": h.world.operator_email,
                                                     "password": h.world.password})).json()["subject"]
    [found] = (await h.client.get("/v1/ops/incidents", headers=ops)).json()
    assert (found["kind"], found["status"], found["home"]["label"], found["acknowledged_by"]) == (
        "unsecured", "open", "Home 2", None)
    url = f"/v1/ops/incidents/{found['id']}"
    overview = (await h.client.get("/v1/ops/overview", headers=ops)).json()
    assert (overview["open_incidents"], overview["unacknowledged"]) == (1, 1)

    acked = (await h.client.post(f"{url}/acknowledge", headers=ops)).json()
    assert acked["acknowledged_by"] == f"operator:{me}" and acked["status"] == "open"
    again = (await h.client.post(f"{url}/acknowledge", headers=ops)).json()
    assert again["acknowledged_at"] == acked["acknowledged_at"]
    assert [(r.actor, r.subject) for r in await actions(h, home.id, "incident.acknowledged")] == [
        (f"operator:{me}", f"incident:{found['id']}")]
    assert (await h.client.get("/v1/ops/overview", headers=ops)).json()["unacknowledged"] == 0

    problem(await h.client.post(f"{url}/close", headers=ops, json={"note": "  "}), 422, "note_required")
    problem(await h.client.post(f"{url}/close", headers=ops, json={"note": "x" * 1001}), 422, "validation_failed")
    problem(await h.client.post(f"{url}/close", headers=ops, json={"note": "checked"}), 409, "door_not_secured")
    assert (await h.client.get(url, headers=ops)).json()["status"] == "open"
    assert await actions(h, home.id, "incident.closed") == []

    h.gateway.devices[home.lock].behaviour = Behaviour()
    await h.gateway.set_state(home.lock, "locked")

    async def closed() -> bool:
        r = await h.client.post(f"{url}/close", headers=ops, json={"note": "Neighbour locked it"})
        return r.status_code == 200

    # The lock's confirmation reaches the device row shortly after the lock says so.
    assert await eventually(closed, timeout=5, step=0.2)
    body = (await h.client.get(url, headers=ops)).json()
    assert (body["status"], body["close_note"], body["closed_by"]) == ("closed", "Neighbour locked it",
                                                                       f"operator:{me}")
    assert [(r.actor, r.data) for r in await actions(h, home.id, "incident.closed")] == [
        (f"operator:{me}", {"note": "Neighbour locked it"})]
    problem(await h.client.post(f"{url}/close", headers=ops, json={"note": "again"}), 409, "incident_closed")
    problem(await h.client.post(f"{url}/acknowledge", headers=ops), 409, "incident_closed")
    assert (await h.client.get("/v1/ops/incidents", headers=ops)).json() == []
    assert [i["id"] for i in (await h.client.get("/v1/ops/incidents?status=closed", headers=ops)).json()] == [
        found["id"]]
    problem(await h.client.get("/v1/ops/incidents?status=maybe", headers=ops), 422, "validation_failed")
    problem(await h.client.get(f"/v1/ops/incidents/{uuid.uuid4()}", headers=ops), 404, "incident_not_found")
    problem(await h.client.post(f"/v1/ops/incidents/{uuid.uuid4()}/acknowledge", headers=ops), 404,
            "incident_not_found")


async def test_live_sessions_and_device_health_across_homes(harness: Harness) -> None:
    h = harness
    ops = await ops_headers(h)
    home, other = h.world.homes[0], h.world.homes[2]
    res = Result("ops-live")
    driver, sid = await enter(h, res, home)
    assert sid is not None, res.failures
    [live] = (await h.client.get("/v1/ops/sessions/live", headers=ops)).json()
    assert (live["id"], live["state"], live["home"]["label"], live["actor_kind"]) == (sid, "open", "Home 1",
                                                                                      "driver")
    await driver.finish(sid)
    assert (await driver.until(sid, TERMINAL))["state"] == "done"
    assert (await h.client.get("/v1/ops/sessions/live", headers=ops)).json() == []

    await h.gateway.set_available(other.camera, False)

    async def offline() -> bool:
        r = await h.client.get("/v1/ops/devices", headers=ops, params={"problem": "offline"})
        return [d["home"]["label"] for d in r.json()] == ["Home 3"]

    assert await eventually(offline, timeout=5, step=0.1)
    async with h.app.state.sessions() as db:
        # No simulated device reports a weak battery; the row holds what a real one would have reported.
        await db.execute(update(Device).where(Device.address == other.contact).values(battery=12))
        await db.commit()
    every = (await h.client.get("/v1/ops/devices", headers=ops)).json()
    assert [(d["kind"], d["problems"]) for d in every[:2]] == [("camera", ["offline"]), ("contact", ["low_battery"])]
    assert all(d["problems"] == [] for d in every[2:]) and "secret" not in every[0]
    assert (await h.client.get("/v1/ops/overview", headers=ops)).json()["devices_offline"] == 1
    low = (await h.client.get("/v1/ops/devices", headers=ops, params={"problem": "low_battery"})).json()
    assert [(d["home"]["label"], d["battery"]) for d in low] == [("Home 3", 12)]
    # A day on, the devices that reported today (the entry's, the camera that dropped off) have been silent too
    # long; devices that never reported since they were enrolled are not called stale.
    h.clock.offset += timedelta(hours=25)
    ops = await ops_headers(h)
    stale = (await h.client.get("/v1/ops/devices", headers=ops, params={"problem": "stale"})).json()
    assert {d["home"]["label"] for d in stale} == {"Home 1", "Home 3"}
    problem(await h.client.get("/v1/ops/devices", headers=ops, params={"problem": "on_fire"}), 422,
            "validation_failed")
