"""The hub's last check before a door opens: the camera that records the door's entry point sent a frame under
two seconds ago."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from threshold.devices.hub import DeviceEvent, DeviceHub, Registered
from threshold.devices.ports import DeviceCommand, DeviceKind, ReportHandler
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


class _Sent:
    """A gateway that only remembers what it was told to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def start(self, on_report: ReportHandler) -> None:
        """Nothing to connect."""

    async def send(self, command: DeviceCommand) -> None:
        """Remember the command."""
        self.sent.append((command.address, command.action))

    async def stop(self) -> None:
        """Nothing to stop."""


@dataclass(slots=True)
class _House:
    """A hub over one home with a front door and a garage, each with its own camera, and a home-wide camera."""

    hub: DeviceHub
    gateway: _Sent
    devices: dict[str, Registered]
    events: list[DeviceEvent]

    async def unlock(self, door: str) -> bool:
        """Send the door its opening command; True when it left for the device."""
        reg = self.devices[door]
        action = "open" if reg.kind is DeviceKind.GARAGE else "unlock"
        before = len(self.gateway.sent)
        await self.hub.send_to(str(reg.device_id), action)
        return len(self.gateway.sent) > before

    def fresh(self, camera: str) -> None:
        """The camera records and has just sent a frame."""
        reg = self.devices[camera]
        self.hub.state[reg.device_id] = "recording"
        self.hub.cameras.frame(reg.device_id, datetime.now(UTC))

    def stalled(self) -> list[str]:
        """The devices said to have stalled, by name."""
        names = {reg.device_id: name for name, reg in self.devices.items()}
        return [names[e.device_id] for e in self.events if e.state == "stalled"]


def _house(names: list[str]) -> _House:
    """Register the named devices, in this order (the hub once kept whichever camera came last)."""
    home, front, garage = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    where = {"front_lock": (DeviceKind.LOCK, front), "front_camera": (DeviceKind.CAMERA, front),
             "garage_door": (DeviceKind.GARAGE, garage), "garage_camera": (DeviceKind.CAMERA, garage),
             "home_camera": (DeviceKind.CAMERA, None)}
    gateway = _Sent()
    hub = DeviceHub(gateway, async_sessionmaker())
    devices = {}
    for name in names:
        kind, entry = where[name]
        devices[name] = Registered(uuid.uuid4(), home, kind, name, None, entry)
        hub.register(devices[name])
    events: list[DeviceEvent] = []

    async def listen(event: DeviceEvent) -> None:
        events.append(event)

    hub.listeners.append(listen)
    return _House(hub, gateway, devices, events)


ALL = ["front_lock", "front_camera", "garage_door", "garage_camera", "home_camera"]


@pytest.mark.parametrize("order", [ALL, ALL[::-1]], ids=["garage-camera-last", "front-camera-last"])
async def test_a_fresh_camera_at_another_entry_point_does_not_let_the_door_open(order: list[str]) -> None:
    house = _house(order)
    house.fresh("garage_camera")
    house.fresh("home_camera")
    assert not await house.unlock("front_lock")
    # The door's own camera is the one said to have stalled: the garage's session, if any, goes on.
    assert house.stalled() == ["front_camera"]
    assert await house.unlock("garage_door")
    house.fresh("front_camera")
    assert await house.unlock("front_lock")
    assert house.hub.counters["unlock_blocked_camera"] == 1


async def test_a_home_wide_camera_guards_a_door_whose_entry_point_has_no_camera_of_its_own() -> None:
    house = _house(["home_camera", "front_lock", "garage_door", "garage_camera"])
    assert not await house.unlock("front_lock")
    assert house.stalled() == ["home_camera"]
    house.fresh("home_camera")
    assert await house.unlock("front_lock")
    # The garage has a camera of its own: the home-wide camera's frames do not open it.
    assert not await house.unlock("garage_door")
    assert house.stalled() == ["home_camera", "garage_camera"]


async def test_a_door_that_no_camera_records_never_opens() -> None:
    house = _house(["front_lock", "garage_camera"])
    house.fresh("garage_camera")
    assert not await house.unlock("front_lock")
    assert house.gateway.sent == []
    assert house.stalled() == []
    assert house.hub.counters["unlock_blocked_camera"] == 1


async def test_the_watchdog_stalls_each_frozen_camera_and_only_it() -> None:
    house = _house(ALL)
    house.fresh("front_camera")
    house.fresh("garage_camera")
    # The front camera's last frame is three seconds old; the garage camera's is fresh.
    front = house.devices["front_camera"].device_id
    house.hub.last_frame[front] -= timedelta(seconds=3)
    await house.hub.cameras.tick(datetime.now(UTC))
    await house.hub.cameras.tick(datetime.now(UTC))
    assert house.stalled() == ["front_camera"]
