"""A simulated partner and driver that run deliveries through the public HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from threshold.access import machine
from threshold.sim.neighbourhood import SimHome, World

# Session states a driver's app stops waiting at.
TERMINAL = {s.value for s in machine.TERMINAL}


@dataclass(slots=True)
class Run:
    """What happened to one delivery, from the driver's side."""

    delivery_id: str | None = None
    session_id: str | None = None
    outcome: str = "pending"  # completed | refused | aborted | interrupted | unsecured | error
    reason: str | None = None
    status: int | None = None
    trail: list[str] = field(default_factory=list)


class Partner:
    """The partner's side: create and assign deliveries with an API key."""

    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client, self.world = client, world
        self.headers = {"Authorization": f"Bearer {world.api_key}"}

    async def create(self, home: SimHome, driver_id: uuid.UUID | None, *, barcode: str | None = None,
                     start: datetime | None = None, hours: float = 2.0, size: str = "M",
                     key: str | None = None, entry_point_id: uuid.UUID | None = None) -> httpx.Response:
        """Create a delivery for `home` (optionally already assigned to a driver)."""
        start = start or datetime.now(UTC) - timedelta(minutes=10)
        body: dict[str, Any] = {
            "home_id": str(home.id), "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=hours)).isoformat(),
            "packages": [{"barcode": barcode or f"PKG-{uuid.uuid4().hex[:10]}", "size": size, "weight_g": 1200}],
        }
        if driver_id:
            body["driver_id"] = str(driver_id)
        if entry_point_id:
            body["entry_point_id"] = str(entry_point_id)
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        return await self.client.post("/v1/deliveries", json=body, headers=headers)


class DriverApp:
    """The driver's side: sign in, ask for entry, finish, follow the session."""

    def __init__(self, client: httpx.AsyncClient, email: str, password: str) -> None:
        self.client, self.email, self.password = client, email, password
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> None:
        """Get a bearer token."""
        r = await self.client.post("/v1/driver/token", json={"email": self.email, "password": self.password})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def ask(self, delivery_id: str, barcode: str, lat: float, lon: float,
                  respond_async: bool = False) -> httpx.Response:
        """Ask for entry at the door."""
        headers = dict(self.headers)
        if respond_async:
            headers["Prefer"] = "respond-async"
        return await self.client.post("/v1/driver/entries", headers=headers, json={
            "delivery_id": delivery_id, "barcode": barcode, "lat": lat, "lon": lon})

    async def state(self, session_id: str) -> dict[str, Any]:
        """The session as the driver sees it."""
        r = await self.client.get(f"/v1/driver/entries/{session_id}", headers=self.headers)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    async def finish(self, session_id: str) -> httpx.Response:
        """Say the package is placed."""
        return await self.client.post(f"/v1/driver/entries/{session_id}/finish", headers=self.headers)

    async def until(self, session_id: str, states: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the session reaches one of `states`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            body = await self.state(session_id)
            if body["state"] in states or loop.time() > end:
                return body
            await asyncio.sleep(0.05)


async def deliver(partner: Partner, driver: DriverApp, driver_id: uuid.UUID, home: SimHome,
                  dwell: float = 0.1, barcode_override: str | None = None) -> Run:
    """Run one in-home delivery end to end and say how it ended."""
    run = Run()
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await partner.create(home, driver_id, barcode=barcode)
    if r.status_code != 201:
        run.outcome, run.status, run.reason = "error", r.status_code, r.json().get("code")
        return run
    run.delivery_id = r.json()["id"]
    r = await driver.ask(run.delivery_id, barcode_override or barcode, home.lat, home.lon)
    run.status = r.status_code
    if r.status_code >= 400:
        body = r.json()
        run.outcome, run.reason = "refused", body.get("code")
        run.session_id = body.get("session_id")
        return run
    session = r.json()
    run.session_id = session["id"]
    if session["state"] != "open":
        session = await driver.until(run.session_id, {"open"} | TERMINAL)
    if session["state"] == "open":
        await asyncio.sleep(dwell)
        await driver.finish(run.session_id)
        session = await driver.until(run.session_id, TERMINAL)
    run.outcome = {"done": "completed"}.get(session["state"], session["state"])
    run.reason = session.get("reason")
    return run
