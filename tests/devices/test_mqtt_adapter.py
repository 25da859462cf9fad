"""The MQTT adapter on a real broker: zigbee2mqtt traffic, discovery, outages, shards, and the hub behind it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiomqtt
import pytest
from device_reports import Reports

from threshold.devices.broker import MosquittoProcess
from threshold.devices.hub import DeviceEvent, DeviceHub
from threshold.devices.mqtt import BrokerAddress, MqttGateway
from threshold.devices.ports import DeviceCommand, DeviceKind
from threshold.sim.driver import TERMINAL, DriverApp, deliver
from threshold.sim.harness import Harness, running
from threshold.sim.mqtt_devices import MqttDevices

if TYPE_CHECKING:
    from conftest import Names  # tests/devices/conftest.py

LOCK, CAMERA, ALARM, GARAGE, CONTACT = (DeviceKind.LOCK, DeviceKind.CAMERA, DeviceKind.ALARM, DeviceKind.GARAGE,
                                        DeviceKind.CONTACT)


def js(body: object) -> bytes:
    """A JSON payload."""
    return json.dumps(body).encode()


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll until `check` holds; fail the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def plain_client(url: str) -> aiomqtt.Client:
    """A bare MQTT 3.1.1 client, as any other publisher on the broker would be."""
    b = BrokerAddress.parse(url)
    return aiomqtt.Client(b.host, b.port, identifier=f"plain-{uuid.uuid4().hex[:10]}")


@asynccontextmanager
async def gateway(url: str, names: Names, reports: Reports, role: str = "gw",
                  **options: object) -> AsyncIterator[MqttGateway]:
    """A started MqttGateway under the test's own topics."""
    gw = MqttGateway(url, base=names.base, discovery_prefix=names.prefix, client_id=names.client(role),
                     **options)  # type: ignore[arg-type]
    await gw.start(reports)
    assert gw.connected
    try:
        yield gw
    finally:
        await gw.stop()


@asynccontextmanager
async def listening(url: str, topic: str) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Every (topic, payload) published on `topic` (a filter) while the block runs."""
    seen: list[tuple[str, bytes]] = []
    async with plain_client(url) as client:
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for m in client.messages:
                seen.append((m.topic.value, bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b""))

        task = asyncio.create_task(pump())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def sim(url: str, names: Names, devices: dict[str, DeviceKind]) -> AsyncIterator[MqttDevices]:
    """Simulated zigbee2mqtt devices on the broker, announced (discovery, availability, state)."""
    sim_devices = MqttDevices(url, base=names.base, discovery_prefix=names.prefix, client_id=names.client("sim"),
                              frame_interval=0.1)
    for address, kind in devices.items():
        sim_devices.add(address, kind)
    await sim_devices.connect()
    try:
        yield sim_devices
    finally:
        await sim_devices.close()


# --- zigbee2mqtt traffic --------------------------------------------------------------------------------------


async def test_zigbee2mqtt_state_availability_and_frame_messages_become_reports(
        any_broker: tuple[str, str], names: Names) -> None:
    url, protocol = any_broker
    reports = Reports()
    async with gateway(url, names, reports) as gw, plain_client(url) as pub:
        assert gw.protocol == protocol
        lock, cam = "porch/front lock", "porch/camera"
        await pub.publish(f"{names.base}/bridge/devices", js([{"friendly_name": lock}]), qos=1)
        await pub.publish(f"{names.base}/{lock}/set", js({"state": "LOCK"}), qos=1)  # someone's command
        await pub.publish(f"{names.base}/{lock}", js({"lock_state": "locked", "battery": 80,
                                                      "last_seen": "2025-03-01T10:00:00Z"}), qos=1)
        await pub.publish(f"{names.base}/{lock}/availability", js({"state": "offline"}), qos=1)
        await pub.publish(f"{names.base}/{cam}/frame", js({"frame_at": "2025-03-01T10:00:01Z"}), qos=1)
        await until(lambda: len(reports.items) >= 3, "three reports")
        state, avail, frame = reports.items
        assert (state.address, state.state, state.battery) == (lock, "locked", 80)
        assert state.at == datetime(2025, 3, 1, 10, tzinfo=UTC)
        assert (avail.address, avail.available, avail.state) == (lock, False, None)
        assert (frame.address, frame.frame_at) == (cam, datetime(2025, 3, 1, 10, 0, 1, tzinfo=UTC))
        assert len(reports.items) == 3  # bridge and /set traffic produced nothing
        assert gw.counters["malformed"] == 0


async def test_commands_land_on_the_set_topic_as_zigbee2mqtt_json(any_broker: tuple[str, str], names: Names) -> None:
    url, protocol = any_broker
    reports = Reports()
    async with gateway(url, names, reports) as gw, listening(url, f"{names.base}/#") as seen:
        assert gw.protocol == protocol
        await gw.send(DeviceCommand("house/front lock", LOCK, "unlock"))
        await gw.send(DeviceCommand("garage", GARAGE, "open"))
        await gw.send(DeviceCommand("panel", ALARM, "disarm", "2468"))
        await gw.send(DeviceCommand("panel", ALARM, "arm"))
        await gw.send(DeviceCommand("cam", CAMERA, "start"))
        await until(lambda: len(seen) >= 5, "five commands on the broker")
        assert [(t, json.loads(p)) for t, p in seen] == [
            (f"{names.base}/house/front lock/set", {"state": "UNLOCK"}),
            (f"{names.base}/garage/set", {"state": "OPEN"}),
            (f"{names.base}/panel/set", {"state": "DISARM", "code": "2468"}),
            (f"{names.base}/panel/set", {"state": "ARM_AWAY"}),
            (f"{names.base}/cam/set", {"state": "START"}),
        ]
        assert gw.counters["commands"] == 5
        # The gateway hears its own /set traffic and ignores it.
        assert reports.items == []
        assert gw.counters["malformed"] == 0


@pytest.mark.parametrize(("suffix", "payload"), [
    ("", b"not json"), ("", b"\xff\xfe"), ("", js([{"lock_state": "locked"}])),
    ("", js({"lock_state": "locked", "battery": 140})), ("", js({"lock_state": "locked", "battery": "full"})),
    ("", js({"lock_state": "locked", "last_seen": "a while ago"})), ("", js({"lock_state": 3})),
    ("/availability", b"maybe"), ("/frame", js({"frame_at": "now-ish"})),
])
async def test_a_malformed_message_is_counted_dropped_and_the_next_one_still_read(
        mqtt_url: str, names: Names, suffix: str, payload: bytes) -> None:
    reports = Reports()
    async with gateway(mqtt_url, names, reports) as gw, plain_client(mqtt_url) as pub:
        await pub.publish(f"{names.base}/front{suffix}", payload, qos=1)
        await pub.publish(f"{names.base}/front", js({"lock_state": "unlocked"}), qos=1)
        await until(lambda: len(reports.items) >= 1, "the good message's report")
        assert [(r.address, r.state) for r in reports.items] == [("front", "unlocked")]
        assert gw.counters["malformed"] == 1
        assert gw.connected


@pytest.mark.parametrize(("topic", "payload"), [
    pytest.param("{prefix}/binary_sensor/n/door/config", js({"state_topic": "d", "device_class": ["door"]}),
                 id="list-device-class"),
    pytest.param("{base}/front", b"[" * 100_000, id="deeply-nested-json"),
])
async def test_the_gateway_survives_payloads_that_break_the_json_reader(
        mqtt_url: str, names: Names, topic: str, payload: bytes) -> None:
    reports = Reports()
    async with gateway(mqtt_url, names, reports) as gw, plain_client(mqtt_url) as pub:
        await pub.publish(topic.format(prefix=names.prefix, base=names.base), payload, qos=1)
        await pub.publish(f"{names.base}/front", js({"lock_state": "unlocked"}), qos=1)
        await until(lambda: len(reports.items) >= 1, "the good message's report", timeout=2.0)
        assert gw.counters["malformed"] == 1


async def test_bridge_offline_makes_every_zigbee2mqtt_device_unavailable(mqtt_url: str, names: Names) -> None:
    reports = Reports()
    async with gateway(mqtt_url, names, reports) as gw, plain_client(mqtt_url) as pub:
        gw.watch(["hall/lock"])
        await pub.publish(f"{names.base}/front", js({"lock_state": "locked"}), qos=1)
        await pub.publish(f"{names.base}/bridge/state", b"online", qos=1)
        await pub.publish(f"{names.base}/bridge/state", js({"state": "offline"}), qos=1)
        await until(lambda: len(reports.items) >= 3, "unavailability of both devices")
        assert {(r.address, r.available) for r in reports.items[1:]} == {("front", False), ("hall/lock", False)}
        assert gw.counters["bridge_offline"] == 1


async def test_a_stopped_gateway_is_not_connected_and_refuses_commands(mqtt_url: str, names: Names) -> None:
    async with gateway(mqtt_url, names, Reports()) as gw:
        pass
    assert not gw.connected
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(gw.send(DeviceCommand("front", LOCK, "lock")), 1.0)
    assert gw.counters["command_no_broker"] == 1


# --- discovery ------------------------------------------------------------------------------------------------

KINDS = {"front/lock": LOCK, "porch/camera": CAMERA, "hall/alarm": ALARM, "garage/door": GARAGE, "back/door": CONTACT}
INITIAL = {"front/lock": "locked", "porch/camera": "idle", "hall/alarm": "armed_away", "garage/door": "closed",
           "back/door": "closed"}


async def test_simulated_zigbee2mqtt_devices_are_discovered_reported_and_commanded(mqtt_url: str,
                                                                                   names: Names) -> None:
    reports = Reports()
    async with sim(mqtt_url, names, KINDS) as devices, gateway(mqtt_url, names, reports) as gw:
        await until(lambda: len(gw.discovered) == len(KINDS), "every device discovered")
        assert {a: d.kind for a, d in gw.discovered.items()} == KINDS
        assert {d.source for d in gw.discovered.values()} == {"zigbee2mqtt"}
        assert gw.topics == {}  # read the zigbee2mqtt way: commands go to <base>/<name>/set
        await until(lambda: all(reports.state(a) == s for a, s in INITIAL.items()), "the retained states")
        assert all(any(r.available for r in reports.of(a)) for a in KINDS)
        assert [r.battery for r in reports.of("front/lock") if r.state] == [87]

        mark = len(reports.items)
        await gw.send(DeviceCommand("front/lock", LOCK, "unlock"))
        await gw.send(DeviceCommand("garage/door", GARAGE, "open"))
        await gw.send(DeviceCommand("hall/alarm", ALARM, "disarm", "1234"))
        await until(lambda: (reports.state("front/lock", mark), reports.state("garage/door", mark),
                             reports.state("hall/alarm", mark)) == ("unlocked", "open", "disarmed"),
                    "the devices' answers")
        assert devices.state("front/lock") == "unlocked"
        assert [r.state for r in reports.of("front/lock", mark)] == ["unlocking", "unlocked"]
        assert gw.counters["malformed"] == 0


def foreign_config(tag: str, **extra: object) -> dict[str, object]:
    """A discovery config of a garage door that is not behind zigbee2mqtt: topics and payloads of its own."""
    return {"name": "Garage", "unique_id": f"garage-{tag}", "device_class": "garage",
            "state_topic": f"home-{tag}/garage/state", "command_topic": f"home-{tag}/garage/cmd",
            "availability_topic": f"home-{tag}/garage/avail", **extra}


@asynccontextmanager
async def foreign_garage(url: str, names: Names, reports: Reports,
                         **extra: object) -> AsyncIterator[tuple[MqttGateway, aiomqtt.Client, str]]:
    """A gateway that discovered a foreign garage door (announced after it connected); yields its address."""
    config_topic = f"{names.prefix}/cover/{names.tag}/garage/config"
    async with gateway(url, names, reports) as gw, plain_client(url) as pub:
        await pub.publish(config_topic, js(foreign_config(names.tag, **extra)), qos=1, retain=True)
        try:
            await until(lambda: gw.counters["discovered"] == 1, "the garage discovered and subscribed to")
            yield gw, pub, f"home-{names.tag}/garage/state"
        finally:
            await pub.publish(config_topic, b"", qos=1, retain=True)


async def test_a_discovered_foreign_device_is_read_and_commanded_on_its_own_topics(mqtt_url: str,
                                                                                   names: Names) -> None:
    reports = Reports()
    home = f"home-{names.tag}/garage"
    async with foreign_garage(mqtt_url, names, reports, payload_open="OPEN_IT",
                              payload_close="CLOSE_IT") as (gw, pub, address), \
            listening(mqtt_url, f"{home}/cmd") as seen:
        device = gw.discovered[address]
        assert (device.kind, device.name, device.source) == (GARAGE, "Garage", "mqtt-discovery")
        for payload in (b"open", b"closed"):
            await pub.publish(f"{home}/state", payload, qos=1)
        await pub.publish(f"{home}/avail", b"offline", qos=1)
        await until(lambda: len(reports.items) >= 3, "the garage's reports")
        assert [(r.address, r.state, r.available) for r in reports.items] == [
            (address, "open", None), (address, "closed", None), (address, None, False)]
        await gw.send(DeviceCommand(address, GARAGE, "open"))
        await gw.send(DeviceCommand(address, GARAGE, "close"))
        await until(lambda: len(seen) >= 2, "the garage's commands")
        assert seen == [(f"{home}/cmd", b"OPEN_IT"), (f"{home}/cmd", b"CLOSE_IT")]
        assert gw.counters["malformed"] == 0


async def test_a_foreign_device_announces_availability_with_its_own_words(mqtt_url: str, names: Names) -> None:
    reports = Reports()
    async with foreign_garage(mqtt_url, names, reports, pl_avail="Online", pl_not_avail="Offline") as (gw, pub, _):
        await pub.publish(f"home-{names.tag}/garage/avail", b"Offline", qos=1)
        await pub.publish(f"home-{names.tag}/garage/state", b"open", qos=1)
        await until(lambda: any(r.state for r in reports.items), "the garage's state")
        assert [r.available for r in reports.items if r.state is None] == [False]
        assert gw.counters["malformed"] == 0


async def test_a_foreign_device_without_payloads_gets_home_assistant_defaults(mqtt_url: str, names: Names) -> None:
    async with foreign_garage(mqtt_url, names, Reports()) as (gw, _, address), \
            listening(mqtt_url, f"home-{names.tag}/garage/cmd") as seen:
        await gw.send(DeviceCommand(address, GARAGE, "open"))
        await until(lambda: len(seen) >= 1, "the garage's command")
        assert seen == [(f"home-{names.tag}/garage/cmd", b"OPEN")]


# --- outages and shards ---------------------------------------------------------------------------------------


async def test_a_broker_outage_makes_devices_unavailable_until_they_report_again(names: Names) -> None:
    broker = MosquittoProcess()
    await broker.start()
    reports = Reports()
    kinds = {"front/lock": LOCK, "porch/camera": CAMERA, "back/door": CONTACT}
    try:
        async with sim(broker.url, names, kinds), gateway(broker.url, names, reports, connect_timeout=2.0) as gw:
            gw.watch(["silent/lock"])  # registered with the hub but never heard from
            await until(lambda: all(reports.state(a) for a in kinds), "the first states")
            mark = len(reports.items)
            await broker.stop()
            everyone = {*kinds, "silent/lock"}
            await until(lambda: {r.address for r in reports.items[mark:] if r.available is False} == everyone,
                        "every device reported unavailable")
            assert not gw.connected
            assert gw.counters["disconnects"] == 1
            assert all(r.state is None for r in reports.items[mark:])

            await broker.start()
            await until(lambda: gw.connected, "the gateway reconnected", timeout=8.0)
            await until(lambda: all(reports.state(a, mark) == INITIAL[a] for a in kinds)
                        and all(any(r.available for r in reports.of(a, mark)) for a in kinds),
                        "states and availability announced again", timeout=8.0)
            assert gw.protocol == "5"
    finally:
        await broker.stop()


async def test_two_shards_split_the_fleet_without_overlap_or_gap(mqtt_url: str, names: Names) -> None:
    fleet = [f"house-{i}/lock" for i in range(40)]
    first, second = Reports(), Reports()
    async with gateway(mqtt_url, names, first, "gw0", shard=(0, 2)) as a, \
            gateway(mqtt_url, names, second, "gw1", shard=(1, 2)) as b, plain_client(mqtt_url) as pub:
        for name in fleet:
            await pub.publish(f"{names.base}/{name}", js({"lock_state": "locked"}), qos=1)
        await until(lambda: len({r.address for r in first.items} | {r.address for r in second.items}) == len(fleet),
                    "every device heard by one shard")
        heard = ({r.address for r in first.items}, {r.address for r in second.items})
        assert heard[0] | heard[1] == set(fleet)
        assert not heard[0] & heard[1]
        assert heard[0] and heard[1]
        assert heard[0] == {n for n in fleet if a.owns(n)}
        assert all(a.owns(n) != b.owns(n) for n in (f"device-{i}" for i in range(1000)))


# --- the hub behind the adapter -------------------------------------------------------------------------------


async def open_entry(h: Harness, home_index: int = 0) -> tuple[str, DriverApp]:
    """Book a delivery and let the driver in; returns the open session's id and the driver app."""
    home = h.world.homes[home_index]
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode)
    assert r.status_code == 201, r.text
    driver = await h.driver()
    r = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "open", r.json()
    return r.json()["id"], driver


async def settle(h: Harness, home_index: int = 0) -> None:
    """Wait until the home's camera is idle again, so no command is in flight when the harness stops."""
    await until(lambda: h.gateway.state(h.world.homes[home_index].camera) == "idle", "the camera stopped")


async def test_unknown_malformed_and_out_of_order_reports_are_counted_and_move_nothing(mqtt_url: str) -> None:
    async with running(mqtt=mqtt_url, homes=2, drivers=1) as h:
        hub: DeviceHub = h.app.state.hub
        gw: MqttGateway = h.app.state.gateway
        assert isinstance(gw, MqttGateway) and gw.protocol == h.settings.mqtt_protocol
        home = h.world.homes[0]
        lock = hub.by_address[home.lock].device_id
        sid, driver = await open_entry(h)
        await until(lambda: hub.state.get(lock) == "unlocked" and not hub.commanded_at.get(lock), "door unlocked")
        events: list[DeviceEvent] = []

        async def keep(event: DeviceEvent) -> None:
            events.append(event)

        hub.listeners.append(keep)
        before = Counter(hub.counters)
        base, now = h.settings.mqtt_base, datetime.now(UTC)
        async with plain_client(mqtt_url) as pub:
            await pub.publish(f"{base}/{home.lock}", js({"lock_state": "banana", "last_seen": now.isoformat()}), qos=1)
            stale = (now - timedelta(hours=1)).isoformat()
            await pub.publish(f"{base}/{home.lock}", js({"lock_state": "locked", "last_seen": stale}), qos=1)
            await pub.publish(f"{base}/nobody-{uuid.uuid4().hex[:6]}", js({"lock_state": "locked"}), qos=1)
        grown = ("report_malformed", "report_out_of_order", "report_unknown_device")
        await until(lambda: all(hub.counters[c] == before[c] + 1 for c in grown), "all three counted")
        assert [e for e in events if e.device_id == lock] == []
        assert hub.state[lock] == "unlocked"
        assert (await driver.state(sid))["state"] == "open"
        assert hub.counters["report_failed"] == 0
        await driver.finish(sid)
        assert (await driver.until(sid, TERMINAL, timeout=10))["state"] == "done"
        assert h.gateway.state(home.lock) == "locked"
        await settle(h)


def garbage(base: str, prefix: str, lock: str, camera: str, seed: int = 11) -> list[tuple[str, bytes]]:
    """Messages that say nothing valid: wrong encodings, shapes, words, numbers, times and topics."""
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat()
    fixed = [
        (f"{base}/{lock}", b"not json"), (f"{base}/{lock}", b"\xff\xfe\xfd"), (f"{base}/{lock}", b""),
        (f"{base}/{lock}", js([1, 2, 3])), (f"{base}/{lock}", js({"lock_state": "banana", "last_seen": now})),
        (f"{base}/{lock}", js({"lock_state": 7})), (f"{base}/{lock}", js({"battery": -5})),
        (f"{base}/{lock}", js({"lock_state": "locked", "last_seen": "tuesday"})),
        (f"{base}/{lock}/availability", b"perhaps"), (f"{base}/{camera}", js({"state": "dancing"})),
        (f"{base}/{camera}/frame", js({"frame_at": "later"})), (f"{base}/{camera}/frame", b"{"),
        (f"{base}/bridge/state", b"{"), (f"{base}/bridge/state", b"confused"),
        (f"{prefix}/lock/x/config", b"{"), (f"{prefix}/lock/x/y/z/config", js({"state_topic": "a"})),
        (f"{prefix}/lock/x/config", js({"name": "no state topic"})), (f"{prefix}/light/x/config", js({"a": 1})),
        (f"{base}/stranger", js({"lock_state": "unlocked"})), (f"{base}/{lock}", b"x" * 200_000),
    ]
    noise = [(f"{base}/{rng.choice([lock, camera, 'ghost'])}{rng.choice(['', '/availability', '/frame'])}",
              rng.randbytes(rng.randint(1, 64))) for _ in range(200)]
    return fixed + noise


async def test_a_flood_of_garbage_never_stops_the_hub_delivering(mqtt_url: str) -> None:
    async with running(mqtt=mqtt_url, homes=2, drivers=1) as h:
        hub: DeviceHub = h.app.state.hub
        gw: MqttGateway = h.app.state.gateway
        home, base = h.world.homes[0], h.settings.mqtt_base
        before = Counter(gw.counters)
        unknown = hub.counters["report_unknown_device"]
        flood = garbage(base, h.settings.mqtt_discovery_prefix, home.lock, home.camera)
        async with plain_client(mqtt_url) as pub:
            for topic, payload in flood:
                await pub.publish(topic, payload, qos=1)
            await pub.publish(f"{base}/sentinel", js({"lock_state": "locked"}), qos=1)
        await until(lambda: gw.counters["messages"] - before["messages"] == len(flood) + 1
                    and hub.counters["report_unknown_device"] >= unknown + 2, "the flood read to its end", timeout=60.0)
        assert gw.counters["malformed"] - before["malformed"] >= 150
        assert hub.counters["report_failed"] == 0
        assert gw.connected
        run = await deliver(h.partner, await h.driver(), h.world.drivers[0][0], home)
        assert run.outcome == "completed", run
        await settle(h)
