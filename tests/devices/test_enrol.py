"""Enrolment from MQTT discovery: `threshold devices discover/enrol`, the rules, the audit, the hub picking it up."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from cli_run import threshold_cli
from threshold.audit.models import AuditRecord
from threshold.db import make_engine, make_sessionmaker, utcnow
from threshold.devices.enrol import enrol
from threshold.devices.ports import DeviceKind, DiscoveredDevice
from threshold.errors import ThresholdError
from threshold.homes.models import Device
from threshold.sim import neighbourhood
from threshold.sim.mqtt_devices import MqttDevices

ROOT = Path(__file__).resolve().parents[2]


async def _world(url: str) -> neighbourhood.World:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as db:
        world = await neighbourhood.build(db, homes=2, drivers=1)
        await db.commit()
    await engine.dispose()
    return world


# The command line costs seconds per call; its rules are the service's, tested on both databases below.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_discover_and_enrol_from_the_command_line(mqtt_url: str, database_url: str,
                                                        tmp_path: Path) -> None:
    world = await _world(database_url)
    base, prefix = f"z2m-{uuid.uuid4().hex[:8]}", f"ha-{uuid.uuid4().hex[:8]}"
    devices = MqttDevices(mqtt_url, base=base, discovery_prefix=prefix, client_id=f"sim-{uuid.uuid4().hex[:6]}")
    devices.add("porch/lock", DeviceKind.LOCK)
    devices.add("porch/contact", DeviceKind.CONTACT)
    devices.add("hall/panel", DeviceKind.ALARM)
    await devices.connect()
    env = {**os.environ, "THRESHOLD_DATABASE_URL": database_url, "THRESHOLD_MODE": "test",
           "THRESHOLD_MQTT_URL": mqtt_url, "THRESHOLD_MQTT_BASE": base, "THRESHOLD_MQTT_DISCOVERY_PREFIX": prefix}
    try:
        code, out, err = await threshold_cli(env, tmp_path, "devices", "discover", "--json", "--seconds", "1")
        assert code == 0, err
        found = {d["address"]: d["kind"] for d in json.loads(out)}
        assert found == {"porch/lock": "lock", "porch/contact": "contact", "hall/panel": "alarm"}

        home = world.homes[1]
        code, out, err = await threshold_cli(env, tmp_path, "devices", "enrol", str(home.id), "porch/contact",
                                             "--entry-point", str(home.front_door), "--seconds", "1")
        assert code == 0, err
        device_id = uuid.UUID(json.loads(out)["device"])
        code, out, err = await threshold_cli(env, tmp_path, "devices", "enrol", str(home.id), "porch/contact",
                                             "--entry-point", str(home.front_door), "--kind", "contact")
        assert code == 1 and "device_already_enrolled" in err
        code, out, err = await threshold_cli({**env, "THRESHOLD_ALARM_CODE": "9876"}, tmp_path, "devices", "enrol",
                                             str(world.homes[0].id), "hall/panel", "--seconds", "1")
        assert code == 0, err
        code, out, err = await threshold_cli(env, tmp_path, "devices", "enrol", str(home.id), "nowhere/lock",
                                             "--seconds", "0.5")
        assert code == 2 and "was not discovered" in err
    finally:
        await devices.close()

    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as db:
        contact = await db.get(Device, device_id)
        assert contact is not None and contact.adapter == "mqtt" and contact.entry_point_id == home.front_door
        panel = (await db.execute(select(Device).where(Device.address == "hall/panel"))).scalar_one()
        assert panel.secret == "9876" and panel.kind == "alarm"
        records = (await db.execute(select(AuditRecord).where(AuditRecord.action == "device.enrolled"))).scalars()
        assert {r.data["address"] for r in records} == {"porch/contact", "hall/panel"}
    await engine.dispose()


async def test_enrolment_refusals_change_nothing(database_url: str) -> None:
    world = await _world(database_url)
    engine = make_engine(database_url)
    home = world.homes[0]
    cases = [
        (DiscoveredDevice("x/lock", DeviceKind.LOCK, "x", "zigbee2mqtt"), None, None, "entry_point_required"),
        (DiscoveredDevice("x/cam", DeviceKind.CAMERA, "x", "zigbee2mqtt"), home.front_door, None,
         "entry_point_not_used"),
        (DiscoveredDevice("x/panel", DeviceKind.ALARM, "x", "zigbee2mqtt"), None, None, "alarm_code_required"),
        (DiscoveredDevice("x/garage", DeviceKind.GARAGE, "x", "zigbee2mqtt"), home.front_door, None,
         "entry_point_mismatch"),
        (DiscoveredDevice("x/lock", DeviceKind.LOCK, "x", "zigbee2mqtt"), world.homes[1].front_door, None,
         "entry_point_required"),
        (DiscoveredDevice(home.lock, DeviceKind.LOCK, "x", "zigbee2mqtt"), home.front_door, None,
         "device_already_enrolled"),
    ]
    async with make_sessionmaker(engine)() as db:
        before = len((await db.execute(select(Device))).scalars().all())
        for found, entry, secret, code in cases:
            with pytest.raises(ThresholdError) as err:
                await enrol(db, home.id, found, now=utcnow(), entry_point_id=entry, secret=secret)
            assert err.value.code == code
        with pytest.raises(ThresholdError) as err:
            await enrol(db, uuid.uuid4(), cases[1][0], now=utcnow())
        assert err.value.code == "home_not_found"
        await db.rollback()
        assert len((await db.execute(select(Device))).scalars().all()) == before
    await engine.dispose()


async def test_a_running_hub_picks_up_an_enrolled_device(mqtt_url: str, database_url: str) -> None:
    from threshold.sim.harness import running

    async with running(database_url, mqtt=mqtt_url) as h:
        hub = h.app.state.hub
        home = h.world.homes[0]
        async with h.app.state.sessions() as db:
            await enrol(db, home.id, DiscoveredDevice("late/contact", DeviceKind.CONTACT, "late", "zigbee2mqtt"),
                        now=utcnow(), entry_point_id=home.front_door)
            await db.commit()
        assert "late/contact" not in hub.by_address
        assert await hub.refresh() == 1
        assert hub.by_address["late/contact"].kind is DeviceKind.CONTACT
        assert h.app.state.gateway.watching("late/contact")
