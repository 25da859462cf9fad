"""An in-process threshold with simulated devices, for the headless demo, scenarios and tests."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from threshold.app import create_app
from threshold.config import Settings
from threshold.db import migrate
from threshold.devices.broker import Broker, EmbeddedBroker, MosquittoProcess
from threshold.devices.ports import DeviceKind
from threshold.devices.simulated import Behaviour, SimulatedGateway
from threshold.homes.models import Device
from threshold.notify.mailcatcher import MailCatcher
from threshold.sim import neighbourhood
from threshold.sim.camera_streams import CameraStreams
from threshold.sim.driver import DriverApp, Partner
from threshold.sim.mqtt_devices import MqttDevices
from threshold.sim.neighbourhood import World


@dataclass(slots=True)
class Clock:
    """Wall clock with an offset that scenarios and tests can move forward."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass(slots=True)
class Harness:
    """A running app, its simulated world and HTTP clients for its people."""

    app: FastAPI
    gateway: SimulatedGateway
    world: World
    client: httpx.AsyncClient
    clock: Clock
    settings: Settings
    mail: MailCatcher
    broker: Broker | None = None  # set when the harness started the broker itself (it may stop it)
    streams: CameraStreams | None = None  # the simulated cameras' video, when the harness records

    @property
    def partner(self) -> Partner:
        """The partner's API client."""
        return Partner(self.client, self.world)

    async def driver(self, index: int = 0) -> DriverApp:
        """A signed-in driver app."""
        app = DriverApp(self.client, self.world.drivers[index][1], self.world.password)
        await app.sign_in()
        return app

    async def member_headers(self, home_index: int = 0) -> dict[str, str]:
        """Bearer headers for a member of a home's household."""
        r = await self.client.post("/v1/household/token", json={
            "email": self.world.homes[home_index].member_email, "password": self.world.password})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def commands_to(self, address: str, action: str) -> int:
        """How many times a device was sent `action`."""
        return sum(1 for _, a, act in self.gateway.log if a == address and act == action)

    async def add_device(self, home_id: uuid.UUID, kind: DeviceKind, address: str,
                         entry_point_id: uuid.UUID | None = None, behaviour: Behaviour | None = None) -> uuid.UUID:
        """Enrol one more device while running and put it in its house; returns its id once the hub has heard it."""
        async with self.app.state.sessions() as db:
            device = Device(home_id=home_id, entry_point_id=entry_point_id, kind=kind.value, address=address)
            db.add(device)
            await db.commit()
            device_id = device.id
        hub = self.app.state.hub
        await hub.refresh()
        self.gateway.add(address, kind, behaviour)
        await self.gateway.set_available(address, True)  # a device joining the network says it is there
        deadline = asyncio.get_running_loop().time() + 10
        while hub.state.get(device_id) != self.gateway.state(address):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the hub never heard {address}")
            await asyncio.sleep(0.02)
        return device_id


def quick_settings(database_url: str, **overrides: object) -> Settings:
    """Settings with short device timeouts, so that failure paths finish in seconds."""
    values: dict[str, object] = dict(
        mode="test", database_url=database_url, camera_timeout=2.0, alarm_timeout=2.0, unlock_timeout=2.0,
        lock_timeout=1.0, arm_timeout=2.0, dwell_limit=30.0, lock_retries=2, approval_timeout=5.0,
        entry_wait_seconds=10.0, sweep_interval=0.1, reconcile_interval=5.0,
        secret_key="harness-secret-" + "x" * 32)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(database_url: str | None = None, homes: int = 6, drivers: int = 3, mqtt: str | None = None,
                  video: bool = False, **overrides: object) -> AsyncIterator[Harness]:
    """Start an app on a fresh neighbourhood; yields a Harness. SQLite in a temp dir unless a URL is given.

    `mqtt` chooses how devices are reached: None keeps them in-process; "embedded" (amqtt) or "mosquitto"
    starts a broker here; anything else is a broker URL. With a broker, the simulated devices speak
    zigbee2mqtt on it and the app uses the production MQTT adapter, under topics of their own.
    Notifications go by SMTP to a mail catcher started here (SMS as mail too). With `video`, simulated cameras
    stream real video and every session is recorded with ffmpeg.
    """
    # A late write by a task the app already let go of (an SQLite journal) must not fail a test's teardown.
    with tempfile.TemporaryDirectory(prefix="threshold-", ignore_cleanup_errors=True) as tmp:
        async with AsyncExitStack() as stack:
            broker: Broker | None = None
            if mqtt in ("embedded", "mosquitto"):
                broker = EmbeddedBroker() if mqtt == "embedded" else MosquittoProcess()
                await broker.start()
                stack.push_async_callback(broker.stop)
            broker_url = broker.url if broker else mqtt
            mail = MailCatcher()
            await mail.start()
            stack.push_async_callback(mail.stop)
            overrides = {"smtp_host": "127.0.0.1", "smtp_port": mail.port, "sms_via_mail": True, **overrides}
            streams = None
            if video:
                streams = CameraStreams()
                await streams.start()
                stack.push_async_callback(streams.stop)
                overrides = {"sim_camera_url": f"http://{streams.host}:{streams.port}",
                             "clip_dir": str(Path(tmp) / "clips"), "clip_post_roll": 1.0, "video": True, **overrides}
            else:
                overrides = {"video": False, **overrides}
            tag = uuid.uuid4().hex[:8]
            if broker_url:
                overrides = {"mqtt_url": broker_url, "mqtt_base": f"z2m-{tag}", "mqtt_discovery_prefix": f"ha-{tag}",
                             "mqtt_client_id": f"threshold-{tag}", **overrides}
            url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'threshold.db'}"
            settings = quick_settings(url, **overrides)
            devices = (MqttDevices(broker_url, base=settings.mqtt_base, discovery_prefix=settings.mqtt_discovery_prefix,
                                   client_id=f"sim-{tag}", frame_interval=0.25)
                       if broker_url else SimulatedGateway(frame_interval=0.25))
            clock = Clock()
            # Migrated here, once; the app need not do it again at start-up.
            app = create_app(settings, gateway=None if broker_url else devices, clock=clock, apply_migrations=False)
            await migrate(url)
            async with app.state.sessions() as db:
                world = await neighbourhood.build(db, homes=homes, drivers=drivers)
                await db.commit()
            install(devices, world)
            if isinstance(devices, MqttDevices):
                await devices.connect()
                stack.push_async_callback(devices.close)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://threshold.test",
                                             timeout=30) as client:
                    yield Harness(app, devices, world, client, clock, settings, mail, broker, streams)


def install(devices: SimulatedGateway, world: World) -> None:
    """Put every device of the simulated world into the simulated houses."""
    for home in world.homes:
        devices.add(home.lock, DeviceKind.LOCK)
        devices.add(home.camera, DeviceKind.CAMERA)
        if home.alarm:
            devices.add(home.alarm, DeviceKind.ALARM)
        if home.garage_door:
            devices.add(home.garage_door, DeviceKind.GARAGE)
        if home.contact:
            devices.add(home.contact, DeviceKind.CONTACT)
