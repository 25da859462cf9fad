"""The Home Assistant adapter against a real Home Assistant running its `demo:` integration.

The demo's devices: locks lock.front_door (locked), lock.kitchen_door, lock.poorly_installed_door (jams whenever
it is locked) and lock.openable_lock, each taking two seconds to turn; alarm_control_panel.security (code 1234,
five seconds of arming); cameras camera.demo_camera*; cover.garage_door. Entities a test needs beyond those are
written into Home Assistant's state machine under names of the test's own, and removed afterwards.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import device_reports
import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.app import create_app
from threshold.db import make_engine, make_sessionmaker, migrate
from threshold.devices import ha_states
from threshold.devices.homeassistant import HomeAssistantAuthError, HomeAssistantGateway, discover
from threshold.devices.hub import DeviceEvent, DeviceHub, Registered
from threshold.devices.ports import DeviceCommand, DeviceKind, DeviceReport
from threshold.homes.models import Device
from threshold.models import Base
from threshold.notify.models import OutboxMessage
from threshold.sim import neighbourhood
from threshold.sim.driver import DriverApp, Partner, deliver
from threshold.sim.harness import quick_settings
from threshold.sim.neighbourhood import SimHome, World
from threshold.video.models import Clip

ROOT = Path(__file__).resolve().parents[2]
CODE = "1234"
# Only a guard against a hang: every wait ends as soon as what it waits for has happened.
PATIENCE = 20.0


@dataclass(frozen=True, slots=True)
class HomeAssistant:
    """A running Home Assistant: where it is and a long-lived token."""

    url: str
    token: str


@pytest.fixture(scope="session")
def ha() -> Iterator[HomeAssistant]:
    """THRESHOLD_TEST_HA_URL/TOKEN when set, else the Home Assistant that scripts/ensure-homeassistant.sh gives.

    Held for the whole session: the demo's devices are shared, so a second test session on the same machine
    (another checkout's `make test`, a second terminal) waits for this one rather than turning its locks.
    """
    url, token = os.environ.get("THRESHOLD_TEST_HA_URL"), os.environ.get("THRESHOLD_TEST_HA_TOKEN")
    if not (url and token):
        out = subprocess.run([str(ROOT / "scripts" / "ensure-homeassistant.sh")], capture_output=True, text=True,
                             cwd=ROOT, check=False, timeout=1200)
        values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        url, token = values.get("THRESHOLD_TEST_HA_URL"), values.get("THRESHOLD_TEST_HA_TOKEN")
        if out.returncode != 0 or not (url and token):
            pytest.fail(f"no Home Assistant for the tests: {out.stderr[-2000:]}")
    lock = Path(tempfile.gettempdir()) / f"threshold-ha-tests-{urlsplit(url).port}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield HomeAssistant(url, token)


@pytest.fixture
async def rest(ha: HomeAssistant) -> AsyncIterator[httpx.AsyncClient]:
    """Home Assistant's REST API, as the test's own hand on the devices."""
    async with httpx.AsyncClient(base_url=ha.url, headers={"Authorization": f"Bearer {ha.token}"},
                                 timeout=15) as client:
        yield client


class Reports(device_reports.Reports):
    """Everything a gateway reported, with a way to wait for what a test expects."""

    async def until(self, what: Callable[[], bool], why: str) -> None:
        """Return once `what()` holds."""
        await until(what, lambda: f"{why}; reports: {self.items[-20:]}")


async def until(what: Callable[[], bool], why: Callable[[], str]) -> None:
    """Return once `what()` holds; fail (rather than hang) if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not what():
        if loop.time() > deadline:
            pytest.fail(why())
        await asyncio.sleep(0.02)


@asynccontextmanager
async def gateway_on(url: str, token: str, **options: Any) -> AsyncIterator[tuple[HomeAssistantGateway, Reports]]:
    """A started gateway and what it reports."""
    reports = Reports()
    # A generous request timeout, so that a busy Home Assistant (just started, on a loaded machine) is not
    # mistaken for a dead one; the outage tests ask for a short one.
    gateway = HomeAssistantGateway(url, token, **{"frame_interval": 0.2, "request_timeout": 3.0, **options})
    await gateway.start(reports)
    try:
        yield gateway, reports
    finally:
        await gateway.stop()


@pytest.fixture
async def gateway(ha: HomeAssistant) -> AsyncIterator[tuple[HomeAssistantGateway, Reports]]:
    """A gateway connected to the test Home Assistant."""
    async with gateway_on(ha.url, ha.token) as pair:
        yield pair


async def state_of(rest: httpx.AsyncClient, entity_id: str) -> str:
    """The entity's state in Home Assistant right now."""
    resp = await rest.get(f"/api/states/{entity_id}")
    resp.raise_for_status()
    return str(resp.json()["state"])


async def put_state(rest: httpx.AsyncClient, entity_id: str, state: str, **attributes: Any) -> None:
    """Write a state straight into Home Assistant's state machine, as a misbehaving integration would."""
    (await rest.post(f"/api/states/{entity_id}", json={"state": state, "attributes": attributes})).raise_for_status()


async def restore(rest: httpx.AsyncClient, entity_id: str, want: str, service: str, **data: str) -> None:
    """Bring a demo device to a known state before a test depends on it."""
    if await state_of(rest, entity_id) == want:
        return
    domain = ha_states.domain(entity_id)
    resp = await rest.post(f"/api/services/{domain}/{service}", json={"entity_id": entity_id, **data})
    resp.raise_for_status()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while (current := await state_of(rest, entity_id)) != want:
        assert loop.time() < deadline, f"{entity_id} stuck in {current}, wanted {want}"
        await asyncio.sleep(0.1)


@pytest.fixture
async def scratch(rest: httpx.AsyncClient) -> AsyncIterator[Callable[[str], str]]:
    """Entity ids of this test's own (`lock` -> lock.threshold_test_1a2b...), removed from Home Assistant after."""
    made: list[str] = []

    def make(domain: str) -> str:
        made.append(f"{domain}.threshold_test_{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    for entity_id in made:
        await rest.delete(f"/api/states/{entity_id}")


async def test_discover_lists_the_demo_locks_alarm_cameras_and_garage_with_their_kinds(
        ha: HomeAssistant, rest: httpx.AsyncClient, scratch: Callable[[str], str]) -> None:
    back_door = scratch("binary_sensor")
    await put_state(rest, back_door, "off", device_class="door", friendly_name="Back door contact")
    found = {d.address: d for d in await discover(ha.url, ha.token)}
    kinds = {address: d.kind for address, d in found.items()}
    assert {
        "lock.front_door": DeviceKind.LOCK, "lock.kitchen_door": DeviceKind.LOCK,
        "lock.poorly_installed_door": DeviceKind.LOCK, "lock.openable_lock": DeviceKind.LOCK,
        "alarm_control_panel.security": DeviceKind.ALARM, "camera.demo_camera": DeviceKind.CAMERA,
        "camera.demo_camera_png": DeviceKind.CAMERA, "cover.garage_door": DeviceKind.GARAGE,
        back_door: DeviceKind.CONTACT,
    }.items() <= kinds.items()
    # Windows, a moisture sensor and a motion sensor are no way in.
    assert not {"cover.kitchen_window", "binary_sensor.movement_backyard", "binary_sensor.basement_floor_wet",
                "light.bed_light"} & kinds.keys()
    assert found["lock.front_door"].name == "Front Door"
    assert found[back_door].name == "Back door contact"
    assert {d.source for d in found.values()} == {"homeassistant"}


async def test_start_reports_every_device_available_in_threshold_words(
        ha: HomeAssistant, rest: httpx.AsyncClient) -> None:
    await restore(rest, "lock.front_door", "locked", "lock")
    await restore(rest, "camera.demo_camera", "streaming", "turn_on")
    async with gateway_on(ha.url, ha.token) as (gw, reports):
        assert reports.states("lock.front_door") == ["locked"]
        assert reports.states("camera.demo_camera") == ["recording"]  # Home Assistant says "streaming"
        assert any(r.available is True for r in reports.of("lock.front_door"))
        assert all(r.at.tzinfo is not None for r in reports.items)
        assert gw.connected and gw.known["alarm_control_panel.security"] is DeviceKind.ALARM
        assert "light.bed_light" not in {r.address for r in reports.items}


async def test_a_bad_token_is_refused_at_start(ha: HomeAssistant) -> None:
    with pytest.raises(HomeAssistantAuthError):
        async with gateway_on(ha.url, "not-a-token"):
            pass


async def test_unlock_then_lock_front_door_reports_the_confirmed_states(
        rest: httpx.AsyncClient, gateway: tuple[HomeAssistantGateway, Reports]) -> None:
    await restore(rest, "lock.front_door", "locked", "lock")
    gw, reports = gateway
    mark, sent = len(reports.items), datetime.now(UTC)
    await gw.send(DeviceCommand("lock.front_door", DeviceKind.LOCK, "unlock"))
    await reports.until(lambda: "unlocked" in reports.states("lock.front_door", mark), "never unlocked")
    await gw.send(DeviceCommand("lock.front_door", DeviceKind.LOCK, "lock"))
    await reports.until(lambda: reports.states("lock.front_door", mark)[-1:] == ["locked"], "never locked again")
    assert reports.states("lock.front_door", mark) == ["unlocking", "unlocked", "locking", "locked"]
    # Home Assistant's own timestamps, taken after the command: what the hub's stale-report filter needs.
    assert all(r.at >= sent for r in reports.of("lock.front_door", mark))
    assert gw.counters["command_refused"] == gw.counters["command_failed"] == 0


async def test_locking_the_poorly_installed_door_ends_jammed(gateway: tuple[HomeAssistantGateway, Reports]) -> None:
    gw, reports = gateway
    mark = len(reports.items)
    await gw.send(DeviceCommand("lock.poorly_installed_door", DeviceKind.LOCK, "lock"))
    await reports.until(lambda: "jammed" in reports.states("lock.poorly_installed_door", mark), "never jammed")
    assert reports.states("lock.poorly_installed_door", mark) == ["locking", "jammed"]


async def test_alarm_arms_and_disarms_with_the_code_and_a_wrong_code_changes_nothing(
        rest: httpx.AsyncClient, gateway: tuple[HomeAssistantGateway, Reports]) -> None:
    panel = "alarm_control_panel.security"
    await restore(rest, panel, "disarmed", "alarm_disarm", code=CODE)
    gw, reports = gateway
    mark = len(reports.items)
    with structlog.testing.capture_logs() as logs:
        await gw.send(DeviceCommand(panel, DeviceKind.ALARM, "arm", code="9876"))
        await until(lambda: gw.counters["command_refused"] == 1, lambda: "a wrong code was not refused")
    assert await state_of(rest, panel) == "disarmed"
    assert reports.states(panel, mark) == []
    assert "9876" not in repr(logs) and any(e["event"] == "homeassistant.command_refused" for e in logs)

    await gw.send(DeviceCommand(panel, DeviceKind.ALARM, "arm", code=CODE))
    await reports.until(lambda: "armed_away" in reports.states(panel, mark), "never armed")
    assert reports.states(panel, mark) == ["arming", "armed_away"]

    with structlog.testing.capture_logs() as logs:
        await gw.send(DeviceCommand(panel, DeviceKind.ALARM, "disarm", code="9876"))
        await until(lambda: gw.counters["command_refused"] == 2, lambda: "a wrong code was not refused")
    assert await state_of(rest, panel) == "armed_away"
    assert "9876" not in repr(logs)

    await gw.send(DeviceCommand(panel, DeviceKind.ALARM, "disarm", code=CODE))
    await reports.until(lambda: reports.states(panel, mark)[-1:] == ["disarmed"], "never disarmed")
    assert reports.states(panel, mark) == ["arming", "armed_away", "disarmed"]
    assert gw.connected


async def test_camera_reports_frame_heartbeats_once_started_and_goes_idle_when_stopped(
        ha: HomeAssistant, rest: httpx.AsyncClient) -> None:
    camera = "camera.demo_camera"
    await restore(rest, camera, "streaming", "turn_on")
    async with gateway_on(ha.url, ha.token) as (gw, reports):
        assert reports.states(camera) == ["recording"]
        assert not [r for r in reports.of(camera) if r.frame_at]  # no heartbeat before it is started
        mark = len(reports.items)
        await gw.send(DeviceCommand(camera, DeviceKind.CAMERA, "start"))
        await reports.until(lambda: len([r for r in reports.of(camera, mark) if r.frame_at]) >= 3, "no frames")
        await gw.send(DeviceCommand(camera, DeviceKind.CAMERA, "stop"))
        await reports.until(lambda: "idle" in reports.states(camera, mark), "camera never went idle")
    # Home Assistant now refuses snapshots of the camera it turned off: there is nothing to be a heartbeat.
    assert (await rest.get(f"/api/camera_proxy/{camera}")).status_code == 503
    await restore(rest, camera, "streaming", "turn_on")


async def test_a_camera_whose_snapshots_fail_sends_no_heartbeat(
        gateway: tuple[HomeAssistantGateway, Reports]) -> None:
    gw, reports = gateway
    missing = f"camera.threshold_test_{uuid.uuid4().hex[:10]}"
    await gw.send(DeviceCommand(missing, DeviceKind.CAMERA, "start"))
    await until(lambda: gw.counters["frames_failed"] >= 3, lambda: "snapshots were never tried")
    assert reports.of(missing) == []
    await gw.send(DeviceCommand(missing, DeviceKind.CAMERA, "stop"))


class Tap:
    """A DeviceGateway in front of another that keeps a copy of every report on its way to the hub."""

    def __init__(self, inner: HomeAssistantGateway, reports: Reports) -> None:
        self.inner, self.reports = inner, reports

    async def start(self, on_report: Callable[[DeviceReport], Awaitable[None]]) -> None:
        """Start the inner gateway, reporting to both."""
        async def both(report: DeviceReport) -> None:
            await self.reports(report)
            await on_report(report)

        await self.inner.start(both)

    async def send(self, command: DeviceCommand) -> None:
        """Pass the command on."""
        await self.inner.send(command)

    async def stop(self) -> None:
        """Stop the inner gateway."""
        await self.inner.stop()


@asynccontextmanager
async def hub_on(ha: HomeAssistant, tmp_path: Path, devices: dict[str, DeviceKind]
                 ) -> AsyncIterator[tuple[DeviceHub, Reports]]:
    """A started DeviceHub on an empty SQLite database and the Home Assistant adapter, knowing `devices`."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
    reports = Reports()
    hub = DeviceHub(Tap(HomeAssistantGateway(ha.url, ha.token, request_timeout=3.0), reports), sessions)
    home = uuid.uuid4()
    for address, kind in devices.items():
        hub.register(Registered(uuid.uuid4(), home, kind, address, None))
    await hub.start()
    try:
        yield hub, reports
    finally:
        await hub.stop()
        await engine.dispose()


async def test_states_outside_threshold_vocabulary_reach_the_hub_which_counts_them(
        ha: HomeAssistant, rest: httpx.AsyncClient, scratch: Callable[[str], str], tmp_path: Path) -> None:
    lock, contact = scratch("lock"), scratch("binary_sensor")
    await put_state(rest, lock, "locked")
    await put_state(rest, contact, "off", device_class="door")
    async with hub_on(ha, tmp_path, {lock: DeviceKind.LOCK, contact: DeviceKind.CONTACT}) as (hub, reports):
        events: list[DeviceEvent] = []

        async def listen(event: DeviceEvent) -> None:
            events.append(event)

        hub.listeners.append(listen)
        lock_id, contact_id = hub.by_address[lock].device_id, hub.by_address[contact].device_id
        assert hub.counters["report_malformed"] == 0
        await put_state(rest, lock, "exploded")
        await until(lambda: hub.counters["report_malformed"] == 1, lambda: f"not counted: {reports.items}")
        assert reports.states(lock)[-1] == "exploded"  # passed through, neither dropped nor made up
        await put_state(rest, contact, "on", device_class="door")
        await until(lambda: hub.state.get(contact_id) == "open", lambda: f"contact not open: {reports.items}")
        await put_state(rest, lock, "unavailable")
        await until(lambda: hub.online.get(lock_id) is False, lambda: f"lock still online: {reports.items}")
        assert (lock_id, "offline") in {(e.device_id, e.state) for e in events}
        assert "unlocked" not in reports.states(lock)


async def test_home_assistant_that_stops_answering_leaves_its_devices_unavailable_never_unlocked(
        ha: HomeAssistant, rest: httpx.AsyncClient) -> None:
    door = "lock.front_door"
    await restore(rest, door, "locked", "lock")
    async with Outage(ha.url) as outage, gateway_on(outage.url, ha.token, request_timeout=0.5) as (gw, reports):
        mark = len(reports.items)
        outage.pause(True)
        await reports.until(lambda: any(r.available is False for r in reports.of(door, mark)), "still available")
        assert not gw.connected
        assert all(r.available is False and r.state is None for r in reports.items[mark:])
        assert {r.address for r in reports.items[mark:]} == set(gw.known)
        outage.pause(False)
        await reports.until(lambda: gw.connected and "locked" in reports.states(door, mark), "never came back")
        assert any(r.available is True for r in reports.of(door, mark))
        assert "unlocked" not in reports.states(door, mark)
        assert gw.counters["disconnects"] >= 1


class Outage:
    """A TCP relay in front of Home Assistant that can go down (connections dropped and refused) and up."""

    def __init__(self, upstream: str) -> None:
        self.host, _, port = upstream.removeprefix("http://").partition(":")
        self.port = int(port)
        self.server: asyncio.Server | None = None
        self.listen_port = 0
        self.links: set[asyncio.StreamWriter] = set()
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def __aenter__(self) -> Outage:
        await self.up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.flowing.set()
        if self.server is not None:
            self.server.close()

    def pause(self, on: bool) -> None:
        """pause(True): connections stay open but nothing crosses, as a hung Home Assistant; pause(False) ends it."""
        if on:
            self.flowing.clear()
        else:
            self.flowing.set()

    @property
    def url(self) -> str:
        """Where the gateway should look for Home Assistant."""
        return f"http://127.0.0.1:{self.listen_port}"

    async def up(self) -> None:
        """Accept and relay connections (on the same port as before)."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.listen_port)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Refuse new connections and cut every open one, as a Home Assistant that died would."""
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with suppress(OSError):
                while data := await src.read(65536):
                    await self.flowing.wait()
                    dst.write(data)
                    await dst.drain()
            for end in (writer, up_writer):
                end.transport.abort()
                self.links.discard(end)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_devices_go_unavailable_when_home_assistant_goes_away_and_come_back_with_fresh_states(
        ha: HomeAssistant, rest: httpx.AsyncClient) -> None:
    door = "lock.front_door"
    await restore(rest, door, "locked", "lock")
    async with Outage(ha.url) as outage, gateway_on(outage.url, ha.token) as (gw, reports):
        assert gw.connected
        mark = len(reports.items)
        await outage.down()
        await reports.until(lambda: any(r.available is False for r in reports.of(door, mark)), "still available")
        # A command while Home Assistant is away is counted as failed, not raised into the hub.
        await gw.send(DeviceCommand(door, DeviceKind.LOCK, "unlock"))
        await until(lambda: gw.counters["command_failed"] == 1, lambda: f"not counted: {gw.counters}")
        back = len(reports.items)
        await outage.up()
        await reports.until(lambda: gw.connected and reports.states(door, back) == ["locked"], "never came back")
        assert any(r.available is True for r in reports.of(door, back))
        assert "unlocked" not in reports.states(door, mark)


@asynccontextmanager
async def app_on_home_assistant(ha: HomeAssistant, tmp_path: Path, devices: dict[str, str]
                                ) -> AsyncIterator[tuple[FastAPI, World, SimHome]]:
    """The whole app with the Home Assistant adapter, on a small neighbourhood whose second home (no alarm)
    has its `lock`, `camera` and `contact` in Home Assistant, as `devices` names them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'threshold.db'}"
    # The demo lock takes two seconds to turn, so the harness's one- and two-second bounds are too tight.
    settings = quick_settings(url, unlock_timeout=6.0, lock_timeout=6.0, camera_timeout=5.0,
                              ha_url=ha.url, ha_token=ha.token, clip_dir=str(tmp_path / "clips"),
                              clip_post_roll=0.5)
    gateway = HomeAssistantGateway(ha.url, ha.token, frame_interval=0.25, request_timeout=3.0)
    app = create_app(settings, gateway=gateway, apply_migrations=False)
    await migrate(url)
    async with app.state.sessions() as db:
        world = await neighbourhood.build(db, homes=2, drivers=1)
        home = world.homes[1]
        for role, entity_id in devices.items():
            await db.execute(update(Device).where(Device.address == getattr(home, role))
                             .values(address=entity_id, adapter="homeassistant"))
            setattr(home, role, entity_id)
        await db.commit()
    async with app.router.lifespan_context(app):
        yield app, world, home


async def stored_state(app: FastAPI, address: str) -> str | None:
    """The device's state as the hub last wrote it to the database."""
    async with app.state.sessions() as db:
        state: str | None = (await db.execute(select(Device.state).where(Device.address == address))).scalar()
        return state


async def clip_of(app: FastAPI, session_id: str | None) -> Clip | None:
    """The clip of a session, as stored."""
    async with app.state.sessions() as db:
        q = select(Clip).where(Clip.session_id == uuid.UUID(str(session_id)))
        return (await db.execute(q)).scalar_one_or_none()


async def test_an_in_home_delivery_runs_end_to_end_through_home_assistant(
        ha: HomeAssistant, rest: httpx.AsyncClient, scratch: Callable[[str], str], tmp_path: Path) -> None:
    await restore(rest, "lock.front_door", "locked", "lock")
    await restore(rest, "camera.demo_camera", "streaming", "turn_on")
    contact = scratch("binary_sensor")
    await put_state(rest, contact, "off", device_class="door")
    devices = {"lock": "lock.front_door", "camera": "camera.demo_camera", "contact": contact}
    async with app_on_home_assistant(ha, tmp_path, devices) as (app, world, home):
        events: list[tuple[str, str]] = []

        async def listen(event: DeviceEvent) -> None:
            events.append((event.kind.value, event.state))

        app.state.hub.listeners.append(listen)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threshold.test", timeout=30) as client:
            driver = DriverApp(client, world.drivers[0][1], world.password)
            await driver.sign_in()
            run = await deliver(Partner(client, world), driver, world.drivers[0][0], home)
        assert (run.outcome, run.reason) == ("completed", None), run
        assert await state_of(rest, "lock.front_door") == "locked"
        hub = app.state.hub
        assert hub.counters["report_malformed"] == 0 and hub.counters["camera_stalls"] == 0
        # The hub writes confirmed states behind, in batches: wait for the one that says "locked".
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while (stored := await stored_state(app, "lock.front_door")) != "locked":
            assert loop.time() < deadline, f"device row says {stored}"
            await asyncio.sleep(0.05)
        async with app.state.sessions() as db:
            topics = set((await db.execute(select(OutboxMessage.topic).where(
                OutboxMessage.home_id == home.id, OutboxMessage.audience == "household"))).scalars())
        assert "delivery.completed" in topics
        # The session was recorded from Home Assistant's camera stream, and the clip sealed.
        while (clip := await clip_of(app, run.session_id)) is None or clip.status == "recording":
            assert loop.time() < deadline + 20, "no sealed clip"
            await asyncio.sleep(0.1)
        assert clip.status == "sealed" and clip.codec == "h264" and (clip.duration or 0) > 1, clip.failure
    # What the hub confirmed, in order: recording first, then the door opened and closed again.
    confirmed = [e for e in events if e[1] in {"recording", "unlocked", "locked"}]
    assert confirmed[:3] == [("camera", "recording"), ("lock", "unlocked"), ("lock", "locked")], events
    await restore(rest, "camera.demo_camera", "streaming", "turn_on")


async def test_a_gateway_started_while_home_assistant_is_away_connects_once_it_answers(
        ha: HomeAssistant, rest: httpx.AsyncClient) -> None:
    await restore(rest, "lock.front_door", "locked", "lock")
    async with Outage(ha.url) as outage:
        await outage.down()
        async with gateway_on(outage.url, ha.token) as (gw, reports):
            assert not gw.connected and reports.items == []
            await outage.up()
            await reports.until(lambda: gw.connected and reports.states("lock.front_door") == ["locked"],
                                "never connected")
