"""The guest page after a refusal that may pass: true words, and a "Try again" button (a POST with the page's
token) that works once the door is free. A driver waiting for the household's yes keeps no guest out."""

from __future__ import annotations

import uuid

import httpx
from doorway import HOME, driver_asks, one_time_guest
from pages import client, hidden

from threshold.access.models import EntrySession
from threshold.devices.simulated import Behaviour
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually

WAIT = 20.0  # generous: device reports arrive asynchronously on a busy machine
BUSY = "Someone else is using this door right now"


async def press(guest: httpx.AsyncClient, token: str, page: httpx.Response) -> httpx.Response:
    """Press the page's door button (Open the door, or Try again)."""
    return await guest.post(f"/g/{token}/open", data={"pre": hidden(page.text, "pre")})


async def test_a_busy_door_says_so_and_try_again_opens_it_once_free(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    token = await one_time_guest(h)
    driver, r = await driver_asks(h)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    async with client(h) as guest:
        refused = await press(guest, token, await guest.get(f"/g/{token}"))
        assert refused.status_code == 409 and BUSY in refused.text
        assert "Try again" in refused.text and 'action="/g/' in refused.text
        assert (await driver.finish(r.json()["id"])).status_code == 200

        async def door_free() -> bool:
            async with h.app.state.sessions() as db:
                row = await db.get(EntrySession, uuid.UUID(r.json()["id"]))
                return row is not None and not row.live

        assert await eventually(door_free, timeout=WAIT)
        again = await press(guest, token, refused)
        assert again.status_code == 303, again.text
        assert again.headers["location"].startswith(f"/g/{token}/entries/")
    assert h.commands_to(home.lock, "unlock") == 2


async def test_a_driver_waiting_for_approval_keeps_no_guest_out(harness: Harness) -> None:
    h = harness
    token = await one_time_guest(h)
    _, r = await driver_asks(h, ask_first=True)
    assert r.status_code == 202 and r.json()["state"] == "awaiting_approval", r.text
    async with client(h) as guest:
        opened = await press(guest, token, await guest.get(f"/g/{token}"))
        assert opened.status_code == 303, opened.text
        assert BUSY not in opened.text


async def test_a_device_hiccup_offers_try_again_and_the_visit_is_not_used_up(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    token = await one_time_guest(h)
    h.gateway.devices[home.camera].behaviour = Behaviour(camera_fails=True)
    async with client(h) as guest:
        refused = await press(guest, token, await guest.get(f"/g/{token}"))
        assert refused.status_code == 503
        assert "The camera did not start recording, so the door stayed locked." in refused.text
        assert "Try again" in refused.text and "has been used" not in refused.text
        h.gateway.devices[home.camera].behaviour = Behaviour()
        again = await press(guest, token, refused)
        assert again.status_code == 303, again.text
    assert h.commands_to(home.lock, "unlock") == 1


async def test_a_used_one_time_link_offers_no_retry(harness: Harness) -> None:
    h = harness
    token = await one_time_guest(h)
    async with client(h) as guest:
        opened = await press(guest, token, await guest.get(f"/g/{token}"))
        assert opened.status_code == 303
        entry = await guest.get(opened.headers["location"])
        sid = opened.headers["location"].rsplit("/", 1)[1]
        assert (await guest.post(f"/g/{token}/entries/{sid}/finish",
                                 data={"pre": hidden(entry.text, "pre")})).status_code == 303

        async def ended() -> bool:
            async with h.app.state.sessions() as db:
                row = await db.get(EntrySession, uuid.UUID(sid))
                return row is not None and not row.live

        assert await eventually(ended, timeout=WAIT)
        page = await guest.get(f"/g/{token}")
        assert "for one visit, and it has been used" in page.text
        assert "Try again" not in page.text and "Open the door" not in page.text
