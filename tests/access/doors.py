"""Helpers for tests of who holds a door: deliveries booked through the partner API, asks, approvals and guest
grants over HTTP, and the sessions read back from the database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from threshold.access.models import EntrySession, Grant
from threshold.homes.models import HomeRules
from threshold.sim.driver import DriverApp
from threshold.sim.harness import Harness

HOME = 1  # a home without an alarm


async def ask_first(h: Harness, home_index: int = HOME) -> None:
    """Turn on "ask me first" for the home, with a wait for the answer no busy machine outlasts."""
    h.settings.approval_timeout = 600.0
    async with h.app.state.sessions() as db:
        rules = await db.get(HomeRules, h.world.homes[home_index].id)
        assert rules is not None
        rules.ask_first = True
        await db.commit()


async def book(h: Harness, driver_index: int, home_index: int = HOME) -> tuple[str, str]:
    """A delivery to the home's front door assigned to a driver; returns its id and barcode."""
    home = h.world.homes[home_index]
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(home, h.world.drivers[driver_index][0], barcode=barcode,
                               entry_point_id=home.front_door)
    assert r.status_code == 201, r.text
    return r.json()["id"], barcode


async def ask(h: Harness, driver_index: int, delivery: tuple[str, str],
              home_index: int = HOME) -> tuple[DriverApp, httpx.Response]:
    """The driver asks for entry standing at the door."""
    home = h.world.homes[home_index]
    driver = await h.driver(driver_index)
    return driver, await driver.ask(delivery[0], delivery[1], home.lat, home.lon)


async def decide(h: Harness, session_id: str, verb: str = "approve", home_index: int = HOME) -> httpx.Response:
    """The household approves (or declines) a waiting session through its API."""
    home = h.world.homes[home_index]
    return await h.client.post(f"/v1/homes/{home.id}/sessions/{session_id}/{verb}",
                               headers=await h.member_headers(home_index))


async def guest_grant(h: Harness, home_index: int = HOME, hours: float = 2.0, **changes: Any) -> dict[str, Any]:
    """A one-time guest grant for the front door, from a minute ago for `hours`; the answer holds the token."""
    home, now = h.world.homes[home_index], h.clock()
    body: dict[str, Any] = {"guest_name": "Dog walker", "entry_point_id": str(home.front_door),
                            "starts_at": (now - timedelta(minutes=1)).isoformat(),
                            "ends_at": (now + timedelta(hours=hours)).isoformat(), "timezone": "Europe/Berlin"}
    body.update(changes)
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(home_index),
                            json=body)
    assert r.status_code == 201, r.text
    grant: dict[str, Any] = r.json()
    return grant


async def guest_ask(h: Harness, token: str) -> httpx.Response:
    """A guest asks for entry with their link token."""
    return await h.client.post("/v1/guest/entries", json={"token": token})


async def guest_finish(h: Harness, token: str, session_id: str) -> httpx.Response:
    """The guest is done."""
    return await h.client.post(f"/v1/guest/entries/{session_id}/finish", json={"token": token})


async def sessions(h: Harness, home_index: int = HOME) -> list[EntrySession]:
    """The home's sessions, oldest first."""
    async with h.app.state.sessions() as db:
        q = select(EntrySession).where(EntrySession.home_id == h.world.homes[home_index].id)
        return list((await db.execute(q.order_by(EntrySession.requested_at))).scalars())


async def session(h: Harness, session_id: str) -> EntrySession:
    """One session as stored."""
    async with h.app.state.sessions() as db:
        row = await db.get(EntrySession, uuid.UUID(session_id))
        assert row is not None
        return row


async def grant_of(h: Harness, session_id: str) -> Grant:
    """The grant a session was opened under, as stored."""
    async with h.app.state.sessions() as db:
        row = await db.get(EntrySession, uuid.UUID(session_id))
        assert row is not None
        grant = await db.get(Grant, row.grant_id)
        assert grant is not None
        return grant


async def door_holders(h: Harness, home_index: int = HOME) -> list[EntrySession]:
    """The home's sessions that hold their door now."""
    return [s for s in await sessions(h, home_index) if s.holds_door]
