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


# A token is renewed this long before it expires (or a fifth of its life, when that is shorter).
RENEW_BEFORE = 60.0
# How long deliver() keeps trying to end a session it opened (finish, then wait for a terminal state).
FINISH_DEADLINE = 120.0


class DriverApp:
    """The driver's side: sign in, ask for entry, finish, follow the session.

    The token is renewed before it expires, and a request refused `token_expired` signs in again and is sent
    once more, so a driver app keeps working for as long as the demo runs.
    """

    def __init__(self, client: httpx.AsyncClient, email: str, password: str) -> None:
        self.client, self.email, self.password = client, email, password
        self.headers: dict[str, str] = {}
        self.renew_at = 0.0  # loop time after which the token is renewed before use
        self.sign_ins = 0

    async def sign_in(self) -> None:
        """Get a bearer token (and note when to renew it)."""
        r = await self.client.post("/v1/driver/token", json={"email": self.email, "password": self.password})
        r.raise_for_status()
        body = r.json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        life = float(body.get("expires_in") or 900)
        self.renew_at = asyncio.get_running_loop().time() + life - min(RENEW_BEFORE, life / 5)
        self.sign_ins += 1

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if not self.headers or asyncio.get_running_loop().time() >= self.renew_at:
            await self.sign_in()
        extra = kwargs.pop("headers", {})
        r = await self.client.request(method, url, headers={**extra, **self.headers}, **kwargs)
        if r.status_code == 401 and _code(r) == "token_expired":
            # Expired between the check and the server's: a refused request changed nothing, so send it again.
            await self.sign_in()
            r = await self.client.request(method, url, headers={**extra, **self.headers}, **kwargs)
        return r

    async def ask(self, delivery_id: str, barcode: str, lat: float, lon: float,
                  respond_async: bool = False) -> httpx.Response:
        """Ask for entry at the door."""
        headers = {"Prefer": "respond-async"} if respond_async else {}
        return await self._send("POST", "/v1/driver/entries", headers=headers, json={
            "delivery_id": delivery_id, "barcode": barcode, "lat": lat, "lon": lon})

    async def state(self, session_id: str) -> dict[str, Any]:
        """The session as the driver sees it."""
        r = await self._send("GET", f"/v1/driver/entries/{session_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    async def finish(self, session_id: str) -> httpx.Response:
        """Say the package is placed."""
        return await self._send("POST", f"/v1/driver/entries/{session_id}/finish")

    async def until(self, session_id: str, states: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the session reaches one of `states`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            body = await self.state(session_id)
            if body["state"] in states or loop.time() > end:
                return body
            await asyncio.sleep(0.05)

    async def close_out(self, session_id: str, state: str = "open",
                        deadline: float = FINISH_DEADLINE) -> dict[str, Any]:
        """Finish an open session and follow it to a terminal state, retrying a failed finish until `deadline`.

        A door must never wait for the auto-lock because one request failed: errors on the way (a refused
        token, a server error, a dropped connection) are retried; a session that ends by itself ends it too.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        pause = 0.1
        last: dict[str, Any] = {"state": state, "reason": None}
        while True:
            try:
                finished = True
                if last["state"] == "open":
                    r = await self.finish(session_id)
                    # 409: no longer open (it moved on by itself); anything else failing is tried again.
                    finished = r.status_code < 400 or r.status_code == 409
                if finished:
                    last = await self.until(session_id, TERMINAL, timeout=min(30.0, max(0.0, end - loop.time())))
                else:
                    last = await self.state(session_id)
            except httpx.HTTPError:
                pass  # the connection or the server failed this time; the next try asks again
            if last["state"] in TERMINAL or loop.time() > end:
                return last
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def _code(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


async def deliver(partner: Partner, driver: DriverApp, driver_id: uuid.UUID, home: SimHome,
                  dwell: float = 0.1, barcode_override: str | None = None) -> Run:
    """Run one in-home delivery end to end and say how it ended; a session it opened is always ended."""
    run = Run()
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await partner.create(home, driver_id, barcode=barcode)
    if r.status_code != 201:
        run.outcome, run.status, run.reason = "error", r.status_code, _code(r)
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
    if session["state"] not in TERMINAL:
        # Open: finish it. Still on the way (a slow device): the session's own deadlines end it; wait for that.
        session = await driver.close_out(run.session_id, session["state"])
    run.outcome = {"done": "completed"}.get(session["state"], session["state"])
    run.reason = session.get("reason")
    return run
