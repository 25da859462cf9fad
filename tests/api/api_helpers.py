"""Helpers for the HTTP tests: deliveries made through the partner API, refusals read back from the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from threshold.devices.simulated import Behaviour
from threshold.sim.driver import TERMINAL, DriverApp
from threshold.sim.harness import Harness
from threshold.sim.neighbourhood import SimHome
from threshold.sim.outcome import eventually as eventually

PROBLEM = "application/problem+json"


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the response is RFC 9457 problem+json with this status and stable code; returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    return body


@dataclass(slots=True)
class Booked:
    """A delivery created through the partner API."""

    id: str
    barcode: str
    home: SimHome
    body: dict[str, Any]


class Api:
    """The people of the harness's neighbourhood, talking to threshold over HTTP."""

    eventually = staticmethod(eventually)

    def __init__(self, h: Harness) -> None:
        self.h = h

    def home(self, index: int) -> SimHome:
        """A simulated home by index (homes[0] has an alarm, homes[1] has none)."""
        return self.h.world.homes[index]

    async def book(self, home_index: int = 0, driver_index: int | None = 0, *, start: datetime | None = None,
                   hours: float = 2.0, size: str = "M", entry_point_id: uuid.UUID | None = None) -> Booked:
        """Create a delivery (assigned to a driver unless `driver_index` is None); fails the test unless 201."""
        home = self.home(home_index)
        barcode = f"PKG-{uuid.uuid4().hex[:10]}"
        driver_id = self.h.world.drivers[driver_index][0] if driver_index is not None else None
        r = await self.h.partner.create(home, driver_id, barcode=barcode, start=start, hours=hours, size=size,
                                        entry_point_id=entry_point_id)
        assert r.status_code == 201, r.text
        return Booked(r.json()["id"], barcode, home, r.json())

    async def ask(self, driver: DriverApp, booked: Booked, *, barcode: str | None = None,
                  lat: float | None = None, lon: float | None = None, respond_async: bool = False) -> httpx.Response:
        """The driver asks for entry at the booked home (standing at the door unless told otherwise)."""
        home = booked.home
        return await driver.ask(booked.id, barcode or booked.barcode, home.lat if lat is None else lat,
                                home.lon if lon is None else lon, respond_async=respond_async)

    async def awaiting_approval(self, home_index: int = 1) -> tuple[DriverApp, Booked, str]:
        """An "ask me first" home: book, ask, and assert the session waits for the household (202)."""
        await self.rules(home_index, ask_first=True)
        booked = await self.book(home_index)
        driver = await self.h.driver(0)
        r = await self.ask(driver, booked)
        assert r.status_code == 202 and r.json()["state"] == "awaiting_approval", r.text
        return driver, booked, r.json()["id"]

    async def close_incident(self, home_index: int, incident_id: str, note: str) -> httpx.Response:
        """A member closes an incident, trying again while the door's confirmation is still on its way (device
        rows are written behind); returns the last answer."""
        home, headers = self.home(home_index), await self.member(home_index)
        answers: list[httpx.Response] = []

        async def closed() -> bool:
            answers.append(await self.h.client.post(f"/v1/homes/{home.id}/incidents/{incident_id}/close",
                                                    headers=headers, json={"note": note}))
            return answers[-1].status_code == 200

        await eventually(closed, timeout=5, step=0.1)
        return answers[-1]

    async def open_door(self, booked: Booked, driver_index: int = 0) -> tuple[DriverApp, str]:
        """Run a delivery up to an open door; returns the driver and the session id."""
        driver = await self.h.driver(driver_index)
        r = await self.ask(driver, booked)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "open", r.json()
        return driver, r.json()["id"]

    async def complete(self, booked: Booked, driver_index: int = 0) -> dict[str, Any]:
        """Run a delivery to its end: open, finish, wait for a terminal state."""
        driver, sid = await self.open_door(booked, driver_index)
        assert (await driver.finish(sid)).status_code == 200
        return await driver.until(sid, TERMINAL, timeout=15)

    async def leave_unsecured(self, home_index: int) -> str:
        """Run a delivery whose lock jams on every relock, to an unsecured end; returns the session id."""
        self.h.gateway.devices[self.home(home_index).lock].behaviour = Behaviour(jam_on_lock=99)
        driver, sid = await self.open_door(await self.book(home_index))
        await driver.finish(sid)
        assert (await driver.until(sid, TERMINAL, timeout=15))["state"] == "unsecured"
        return sid

    async def member(self, home_index: int = 0) -> dict[str, str]:
        """Bearer headers for a member of the home's household (issued at the app's current time)."""
        return await self.h.member_headers(home_index)

    async def audit(self, home_index: int = 0) -> list[dict[str, Any]]:
        """The home's audit chain as its household reads it."""
        home = self.home(home_index)
        r = await self.h.client.get(f"/v1/homes/{home.id}/audit", headers=await self.member(home_index),
                                    params={"limit": 1000})
        assert r.status_code == 200, r.text
        records: list[dict[str, Any]] = r.json()
        return records

    async def refusals(self, home_index: int = 0) -> list[dict[str, Any]]:
        """The home's `entry.refused` audit records."""
        return [a for a in await self.audit(home_index) if a["action"] == "entry.refused"]

    async def rules(self, home_index: int = 0, **changes: Any) -> dict[str, Any]:
        """Change the home's rules through the household API; returns the stored rules."""
        home, headers = self.home(home_index), await self.member(home_index)
        rules = (await self.h.client.get(f"/v1/homes/{home.id}/rules", headers=headers)).json()
        rules.update(changes)
        r = await self.h.client.put(f"/v1/homes/{home.id}/rules", headers=headers, json=rules)
        assert r.status_code == 200, r.text
        stored: dict[str, Any] = r.json()
        return stored

    async def household_deliveries(self, home_index: int = 0) -> list[dict[str, Any]]:
        """The home's deliveries as its household sees them."""
        home = self.home(home_index)
        r = await self.h.client.get(f"/v1/homes/{home.id}/deliveries", headers=await self.member(home_index))
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        return found
