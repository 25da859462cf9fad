"""Alerts a household can trust: no alarm while a relock is under way, one alarm per problem, reminders on a
schedule, an all-clear when the device says it is over, device notices told once, and lock now."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from api_helpers import Api, problem
from sqlalchemy import select, update

from threshold.access import alerts, reconcile
from threshold.access.models import Incident
from threshold.devices.simulated import Behaviour
from threshold.homes.models import Device
from threshold.notify.models import OutboxMessage
from threshold.sim.harness import Harness


async def _outbox(h: Harness, home_id: uuid.UUID, topic: str) -> list[OutboxMessage]:
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(OutboxMessage).where(
            OutboxMessage.home_id == home_id, OutboxMessage.topic == topic))).scalars())


async def _incidents(h: Harness, home_id: uuid.UUID) -> list[Incident]:
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(Incident).where(Incident.home_id == home_id)
                                      .order_by(Incident.opened_at))).scalars())


async def _turn(h: Harness) -> None:
    """One alerts turn, as the worker's loop runs it (device rows flushed first)."""
    await h.app.state.hub.flush()
    await h.app.state.runner.alerts()


async def _ops(h: Harness) -> dict[str, str]:
    r = await h.client.post("/v1/ops/token", json={"email": h.world.operator_email, "password": h.world.password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_relock_that_lands_is_a_notice_not_an_alarm(harness: Harness, api: Api) -> None:
    home = api.home(2)
    await harness.gateway.set_state(home.lock, "unlocked")

    async def noticed() -> bool:
        return bool(await _outbox(harness, home.id, "door.relocked"))

    assert await api.eventually(noticed, timeout=10)
    assert harness.gateway.state(home.lock) == "locked"
    assert not await _outbox(harness, home.id, "door.found_open")
    assert not await _incidents(harness, home.id)
    actions = [a["action"] for a in await api.audit(2) if a["actor"] == "reconciler"]
    assert actions[:2] == ["door.found_open", "door.relocked"]


async def test_a_door_just_relocked_by_its_session_is_left_to_it(harness: Harness, api: Api) -> None:
    """The race behind the false alarm: the session ended with its lock confirmed, the device row still says
    unlocked (rows are written behind), and the reconciler looks in between."""
    booked = await api.book(0)
    assert (await api.complete(booked))["state"] == "done"
    home = api.home(0)
    lock_id = harness.app.state.hub.by_address[home.lock].device_id
    async with harness.app.state.sessions() as db:
        await db.execute(update(Device).where(Device.id == lock_id).values(state="unlocked"))
        await db.commit()
        commands = await reconcile.orphan_doors(db, harness.clock(), timedelta(seconds=5))
        await db.commit()
    assert commands == []
    assert not await _outbox(harness, home.id, "door.found_open")
    assert "door.found_open" not in [a["action"] for a in await api.audit(0)]


async def test_a_door_that_stays_open_is_one_alarm_with_reminders_then_an_all_clear(harness: Harness,
                                                                                   api: Api) -> None:
    home = api.home(2)
    harness.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    await harness.gateway.set_state(home.lock, "unlocked")

    async def awaiting() -> bool:
        async with harness.app.state.sessions() as db:
            row = await db.get(Device, harness.app.state.hub.by_address[home.lock].device_id)
            return row is not None and row.relock_due_at is not None and row.state == "jammed"

    assert await api.eventually(awaiting, timeout=10)
    assert not await _outbox(harness, home.id, "door.found_open")
    # Past the relock deadline and still not locked: now it is an alarm, once, whoever looks how often.
    harness.clock.offset += reconcile.relock_window(harness.settings) + timedelta(seconds=1)
    for _ in range(3):
        await _turn(harness)
        await harness.app.state.runner.reconcile()
    alarms = await _outbox(harness, home.id, "door.found_open")
    assert sorted(m.audience for m in alarms) == ["household", "operator"]
    [inc] = await _incidents(harness, home.id)
    assert inc.kind == "door_found_open" and inc.resolved_at is None and inc.next_reminder_at is not None
    assert inc.next_reminder_at == alerts.next_reminder(inc.opened_at, 0)
    # The schedule: nothing before the first reminder is due, exactly one when it is, the next one later.
    await _turn(harness)
    assert not await _outbox(harness, home.id, "incident.reminder")
    harness.clock.offset += alerts.REMIND_AFTER[0]
    await _turn(harness)
    await _turn(harness)
    reminders = await _outbox(harness, home.id, "incident.reminder")
    assert [m.payload["reminder"] for m in reminders] == [1]
    assert reminders[0].payload["next_at"] == alerts.next_reminder(inc.opened_at, 1).isoformat()
    # Someone frees the lock and it locks: the all-clear, once, to both audiences; the reminders stop.
    harness.gateway.devices[home.lock].behaviour = Behaviour()
    await harness.gateway.set_state(home.lock, "locked")

    async def cleared() -> bool:
        return len(await _outbox(harness, home.id, "incident.resolved")) == 2

    assert await api.eventually(cleared, timeout=10)
    await _turn(harness)
    assert len(await _outbox(harness, home.id, "incident.resolved")) == 2
    [inc] = await _incidents(harness, home.id)
    assert inc.resolved_at is not None and inc.resolved_how == "locked" and inc.next_reminder_at is None
    harness.clock.offset += timedelta(hours=5)
    await _turn(harness)
    assert len(await _outbox(harness, home.id, "incident.reminder")) == 1
    assert "incident.resolved" in [a["action"] for a in await api.audit(2)]


async def test_an_unsecured_entry_gets_its_all_clear_when_the_lock_is_freed(harness: Harness, api: Api) -> None:
    sid = await api.leave_unsecured(3)
    home = api.home(3)
    [inc] = [i for i in await _incidents(harness, home.id) if i.kind == "unsecured"]
    assert str(inc.session_id) == sid and inc.device_id is not None
    [alarm] = [m for m in await _outbox(harness, home.id, "door.unsecured") if m.audience == "household"]
    assert alarm.payload["incident"] == str(inc.id)
    harness.gateway.devices[home.lock].behaviour = Behaviour()
    await harness.gateway.set_state(home.lock, "locked")

    async def cleared() -> bool:
        return bool(await _outbox(harness, home.id, "incident.resolved"))

    assert await api.eventually(cleared, timeout=10)
    r = await api.close_incident(3, str(inc.id), "lock freed")
    assert r.status_code == 200, r.text
    # Closing after the all-clear sends no second one.
    assert len(await _outbox(harness, home.id, "incident.resolved")) == 2


async def test_lock_now_is_confirmed_by_the_lock_and_audited(harness: Harness, api: Api) -> None:
    home, headers = api.home(1), await api.member(1)
    await harness.gateway.set_state(home.lock, "unlocked")
    doors = (await harness.client.get(f"/v1/homes/{home.id}/doors", headers=headers)).json()
    front = next(d for d in doors if d["device_id"] == str(harness.app.state.hub.by_address[home.lock].device_id))
    r = await harness.client.post(f"/v1/homes/{home.id}/doors/{front['entry_point_id']}/lock", headers=headers,
                                  json={"reason": "leaving for work"})
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] is True and r.json()["state"] == "locked"
    records = [a for a in await api.audit(1) if a["action"].startswith("device.command")]
    assert [a["action"] for a in records][-2:] == ["device.command_sent", "device.command_confirmed"]
    assert records[-2]["data"]["reason"] == "leaving for work"
    assert records[-2]["actor"].startswith("member:")


async def test_lock_now_is_refused_while_a_driver_is_inside(harness: Harness, api: Api) -> None:
    booked = await api.book(0)
    driver, sid = await api.open_door(booked)
    home, headers = api.home(0), await api.member(0)
    doors: list[dict[str, Any]] = (await harness.client.get(f"/v1/homes/{home.id}/doors", headers=headers)).json()
    busy = next(d for d in doors if d["session_id"] == sid)
    assert busy["inside"] and busy["inside"].startswith("Driver ")
    r = await harness.client.post(f"/v1/homes/{home.id}/doors/{busy['entry_point_id']}/lock", headers=headers)
    body = problem(r, 409, "entry_in_progress")
    assert "inside now" in body["detail"] and body["session_id"] == sid
    refused = [a for a in await api.audit(0) if a["action"] == "device.command_refused"]
    assert refused and refused[-1]["data"]["reason"] == "entry_in_progress"
    await driver.finish(sid)


async def test_operators_send_only_securing_commands_with_a_reason(harness: Harness, api: Api) -> None:
    ops = await _ops(harness)
    home = api.home(1)
    lock_id = harness.app.state.hub.by_address[home.lock].device_id
    url = f"/v1/ops/devices/{lock_id}/commands"
    problem(await harness.client.post(url, headers=ops, json={"action": "unlock", "reason": "x"}), 422,
            "action_not_allowed")
    problem(await harness.client.post(url, headers=ops, json={"action": "lock", "reason": "  "}), 422,
            "reason_required")
    r = await harness.client.post(url, headers=ops, json={"action": "lock", "reason": "customer called"})
    assert r.status_code == 200 and r.json()["confirmed"] is True, r.text
    assert harness.commands_to(home.lock, "unlock") == 0
    problem(await harness.client.post(f"/v1/ops/devices/{uuid.uuid4()}/commands", headers=ops,
                                      json={"action": "lock", "reason": "x"}), 404, "device_not_found")
    member = await api.member(1)
    problem(await harness.client.post(url, headers=member, json={"action": "lock", "reason": "x"}), 401,
            "token_invalid")


async def test_an_operator_retries_a_failed_rearm(harness: Harness, api: Api) -> None:
    index = next(i for i, h in enumerate(harness.world.homes) if h.alarm)
    home = api.home(index)
    assert home.alarm is not None
    harness.gateway.devices[home.alarm].behaviour = Behaviour(rearm_fails=True)
    booked = await api.book(index)
    await api.complete(booked)

    async def opened() -> bool:
        return any(i.kind == "alarm_not_rearmed" for i in await _incidents(harness, home.id))

    assert await api.eventually(opened, timeout=15)
    [inc] = [i for i in await _incidents(harness, home.id) if i.kind == "alarm_not_rearmed"]
    harness.gateway.devices[home.alarm].behaviour = Behaviour()
    ops = await _ops(harness)
    problem(await harness.client.post(f"/v1/ops/incidents/{inc.id}/rearm", headers=ops, json={"reason": ""}),
            422, "reason_required")
    r = await harness.client.post(f"/v1/ops/incidents/{inc.id}/rearm", headers=ops, json={"reason": "retry"})
    assert r.status_code == 200 and r.json()["confirmed"] is True, r.text

    async def cleared() -> bool:
        return bool(await _outbox(harness, home.id, "incident.resolved"))

    assert await api.eventually(cleared, timeout=10)


async def test_a_device_offline_and_a_low_battery_are_told_once(harness: Harness, api: Api) -> None:
    home = api.home(4)
    await harness.gateway.set_available(home.camera, False)
    camera_id = harness.app.state.hub.by_address[home.camera].device_id

    async def offline() -> bool:
        async with harness.app.state.sessions() as db:
            row = await db.get(Device, camera_id)
            return row is not None and not row.online

    await harness.app.state.hub.flush()
    assert await api.eventually(offline, timeout=10)
    await _turn(harness)
    assert not await _outbox(harness, home.id, "device.offline")  # a blip is not worth a message
    harness.clock.offset += alerts.OFFLINE_GRACE + timedelta(seconds=1)
    for _ in range(3):
        await _turn(harness)
    [told] = await _outbox(harness, home.id, "device.offline")
    assert told.payload["device_kind"] == "camera" and "paused" in told.payload["meaning"]
    await harness.gateway.set_available(home.camera, True)

    async def back() -> bool:
        await _turn(harness)
        return bool(await _outbox(harness, home.id, "device.online"))

    assert await api.eventually(back, timeout=10)
    async with harness.app.state.sessions() as db:
        await db.execute(update(Device).where(Device.id == camera_id).values(battery=12))
        await db.commit()
    for _ in range(3):
        await _turn(harness)
    assert len(await _outbox(harness, home.id, "device.battery_low")) == 1


async def test_a_door_last_seen_open_that_goes_silent_is_still_an_alarm(harness: Harness, api: Api) -> None:
    home = api.home(2)
    lock_id = harness.app.state.hub.by_address[home.lock].device_id
    harness.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    await harness.gateway.set_state(home.lock, "unlocked")

    async def jammed() -> bool:
        async with harness.app.state.sessions() as db:
            row = await db.get(Device, lock_id)
            return row is not None and row.relock_due_at is not None and row.state == "jammed"

    assert await api.eventually(jammed, timeout=10)
    # The relock jammed, then the lock drops off the network before its deadline: still an open door.
    await harness.gateway.set_available(home.lock, False)

    async def silent() -> bool:
        async with harness.app.state.sessions() as db:
            row = await db.get(Device, lock_id)
            return row is not None and not row.online

    assert await api.eventually(silent, timeout=10)
    await harness.app.state.runner.reconcile()
    harness.clock.offset += reconcile.relock_window(harness.settings) + timedelta(seconds=1)
    await _turn(harness)
    [inc] = await _incidents(harness, home.id)
    assert inc.kind == "door_found_open" and inc.detail["online"] is False
    # Closing it is refused while the door is not confirmed secured, as for any door incident.
    r = await harness.client.post(f"/v1/homes/{home.id}/incidents/{inc.id}/close", headers=await api.member(2),
                                  json={"note": "looked"})
    problem(r, 409, "door_not_secured")


async def test_an_incident_from_before_the_alerts_gets_no_late_all_clear(harness: Harness, api: Api) -> None:
    home = api.home(1)
    async with harness.app.state.sessions() as db:
        db.add(Incident(home_id=home.id, kind="unsecured", status="open", opened_at=harness.clock(),
                        device_id=harness.app.state.hub.by_address[home.lock].device_id, detail={}))
        await db.commit()
    await _turn(harness)
    assert not await _outbox(harness, home.id, "incident.resolved")
    assert not await _outbox(harness, home.id, "incident.reminder")


async def test_refused_commands_are_on_record(harness: Harness, api: Api) -> None:
    ops = await _ops(harness)
    home = next(h for h in harness.world.homes if h.contact)
    index = harness.world.homes.index(home)
    lock_id = harness.app.state.hub.by_address[home.lock].device_id
    url = f"/v1/ops/devices/{lock_id}/commands"
    problem(await harness.client.post(url, headers=ops, json={"action": "unlock", "reason": "try"}), 422,
            "action_not_allowed")
    problem(await harness.client.post(url, headers=ops, json={"action": "lock", "reason": "x" * 301}), 422,
            "reason_invalid")
    assert home.contact is not None
    await harness.gateway.set_state(home.contact, "open")
    contact_id = harness.app.state.hub.by_address[home.contact].device_id

    async def leaf_open() -> bool:
        async with harness.app.state.sessions() as db:
            row = await db.get(Device, contact_id)
            return row is not None and row.state == "open"

    assert await api.eventually(leaf_open, timeout=10)
    problem(await harness.client.post(url, headers=ops, json={"action": "lock", "reason": "night"}), 409,
            "door_open")
    refused = [a["data"]["reason"] for a in await api.audit(index) if a["action"] == "device.command_refused"]
    assert refused == ["action_not_allowed", "door_open"]
    assert harness.commands_to(home.lock, "unlock") == 0
