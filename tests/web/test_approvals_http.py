"""Approving from the portal while someone else holds the door: the household is told so, and nothing opens for
the driver meanwhile."""

from __future__ import annotations

import re

from doorway import HOME, driver_asks, one_time_guest
from pages import client, hidden

from threshold.sim.harness import Harness


async def test_a_yes_at_a_busy_door_tells_the_household_and_opens_nothing_for_the_driver(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    _, waiting = await driver_asks(h, ask_first=True)
    assert waiting.status_code == 202, waiting.text
    token = await one_time_guest(h)
    inside = await h.client.post("/v1/guest/entries", json={"token": token})
    assert inside.status_code == 200 and inside.json()["state"] == "open", inside.text
    async with client(h) as b:
        page = await b.get("/signin")
        r = await b.post("/signin", data={"email": home.member_email, "password": h.world.password,
                                          "pre": hidden(page.text, "pre"), "next": "/portal"})
        assert r.status_code == 303, r.text
        listing = await b.get(f"/portal/homes/{home.id}")
        assert "Someone is waiting for you at the door" in listing.text
        sid = waiting.json()["id"]
        r = await b.post(f"/portal/homes/{home.id}/sessions/{sid}/approve", data={"csrf": hidden(listing.text, "csrf")})
        assert r.status_code == 303 and r.headers["location"].endswith("?decided=busy"), r.text
        said = re.sub(r"\s+", " ", (await b.get(r.headers["location"])).text)
        assert "someone else is using this door right now" in said
    assert h.commands_to(home.lock, "unlock") == 1
