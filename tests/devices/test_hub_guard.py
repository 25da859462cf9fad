"""The hub's last check before a door opens: the home's camera sent a frame under two seconds ago."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from threshold.devices.hub import DeviceEvent
from threshold.homes.models import Device
from threshold.sim.harness import Harness


async def _ids(h: Harness, *addresses: str) -> list[str]:
    async with h.app.state.sessions() as db:
        rows = {d.address: str(d.id) for d in (await db.execute(select(Device))).scalars()}
    return [rows[a] for a in addresses]


async def test_no_unlock_leaves_while_the_camera_is_not_watching(harness: Harness) -> None:
    hub, home = harness.app.state.hub, harness.world.homes[0]
    lock_id, camera_id = await _ids(harness, home.lock, home.camera)
    events: list[DeviceEvent] = []

    async def listen(event: DeviceEvent) -> None:
        events.append(event)

    hub.listeners.append(listen)
    await hub.send_to(lock_id, "unlock")  # the camera is idle: no frame at all
    assert harness.commands_to(home.lock, "unlock") == 0
    assert hub.counters["unlock_blocked_camera"] == 1
    assert any(e.state == "stalled" and str(e.device_id) == camera_id for e in events)
    assert harness.gateway.state(home.lock) == "locked"


async def test_an_unlock_goes_out_while_frames_are_fresh_and_stops_once_they_stale(harness: Harness) -> None:
    hub, home = harness.app.state.hub, harness.world.homes[2]
    lock_id, camera_id = await _ids(harness, home.lock, home.camera)
    await hub.send_to(camera_id, "start")
    for _ in range(100):
        if hub.frame_fresh(hub.by_address[home.camera].device_id, datetime.now(UTC)):
            break
        await asyncio.sleep(0.05)
    await hub.send_to(lock_id, "unlock")
    assert harness.commands_to(home.lock, "unlock") == 1
    await hub.send_to(lock_id, "lock")
    # The camera freezes (frames stop) and the watchdog has not ticked yet: the hub still refuses.
    harness.gateway.devices[home.camera].state = "idle"
    hub.last_frame[hub.by_address[home.camera].device_id] -= timedelta(seconds=2.1)
    await hub.send_to(lock_id, "unlock")
    assert harness.commands_to(home.lock, "unlock") == 1
    assert hub.counters["unlock_blocked_camera"] == 1
