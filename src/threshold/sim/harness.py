"""An in-process threshold with simulated devices, for the headless demo, scenarios and tests."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from threshold.app import create_app
from threshold.config import Settings
from threshold.db import migrate
from threshold.devices.ports import DeviceKind
from threshold.devices.simulated import SimulatedGateway
from threshold.sim import neighbourhood
from threshold.sim.driver import DriverApp, Partner
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
async def running(database_url: str | None = None, homes: int = 6, drivers: int = 3,
                  **overrides: object) -> AsyncIterator[Harness]:
    """Start an app on a fresh neighbourhood; yields a Harness. SQLite in a temp dir unless a URL is given."""
    with tempfile.TemporaryDirectory(prefix="threshold-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'threshold.db'}"
        settings = quick_settings(url, **overrides)
        gateway = SimulatedGateway(frame_interval=0.25)
        clock = Clock()
        # Migrated here, once; the app need not do it again at start-up.
        app = create_app(settings, gateway=gateway, clock=clock, apply_migrations=False)
        await migrate(url)
        async with app.state.sessions() as db:
            world = await neighbourhood.build(db, homes=homes, drivers=drivers)
            await db.commit()
        for home in world.homes:
            gateway.add(home.lock, DeviceKind.LOCK)
            gateway.add(home.camera, DeviceKind.CAMERA)
            if home.alarm:
                gateway.add(home.alarm, DeviceKind.ALARM)
            if home.garage_door:
                gateway.add(home.garage_door, DeviceKind.GARAGE)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://threshold.test",
                                         timeout=30) as client:
                yield Harness(app, gateway, world, client, clock, settings)
