"""Helpers for tests at a door: a one-time guest, and a driver asking at the same door (maybe of an "ask me first"
household)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from threshold.homes.models import HomeRules
from threshold.sim.harness import Harness

HOME = 1  # a home without an alarm


async def one_time_guest(h: Harness) -> str:
    """A one-time guest for the front door, from a minute ago for two hours; returns the link token."""
    home, now = h.world.homes[HOME], h.clock()
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(HOME), json={
        "guest_name": "Dog walker", "entry_point_id": str(home.front_door),
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat(),
        "timezone": "Europe/Berlin"})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def driver_asks(h: Harness, ask_first: bool = False) -> tuple[Any, httpx.Response]:
    """Driver 0 asks at the front door of the home with a fresh delivery."""
    home = h.world.homes[HOME]
    if ask_first:
        h.settings.approval_timeout = 600.0  # the household's answer must not race the clock on a busy machine
        async with h.app.state.sessions() as db:
            rules = await db.get(HomeRules, home.id)
            assert rules is not None
            rules.ask_first = True
            await db.commit()
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode, entry_point_id=home.front_door)
    assert r.status_code == 201, r.text
    driver = await h.driver(0)
    return driver, await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
