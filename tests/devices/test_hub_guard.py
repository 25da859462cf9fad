"""The hub's last check before a door opens: the home's camera sent a frame under two seconds ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threshold.devices.hub import DeviceEvent
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually


def _ids(h: Harness, *addresses: str) -> list[str]:
    return [str(h.app.state.hub.by_address[a].device_id) for a in addresses]


async def test_no_unlock_leaves_while_the_camera_is_not_watching(harness: Harness) -> None:
    hub, home = harness.app.state.hub, harness.world.homes[0]
    lock_id, camera_id = _ids(harness, home.lock, home.camera)
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
    lock_id, camera_id = _ids(harness, home.lock, home.camera)
    camera = hub.by_address[home.camera].device_id
    await hub.send_to(camera_id, "start")
    assert await eventually(lambda: hub.frame_fresh(camera, datetime.now(UTC))), "no fresh frame after start"
    await hub.send_to(lock_id, "unlock")
    assert harness.commands_to(home.lock, "unlock") == 1
    await hub.send_to(lock_id, "lock")
    # The camera freezes (frames stop) and the watchdog has not ticked yet: the hub still refuses. The hub reads
    # the wall clock itself, so the frozen camera's last frame is aged by hand.
    harness.gateway.devices[home.camera].state = "idle"
    hub.last_frame[camera] -= timedelta(seconds=2.1)
    await hub.send_to(lock_id, "unlock")
    assert harness.commands_to(home.lock, "unlock") == 1
    assert hub.counters["unlock_blocked_camera"] == 1
