"""The driver app's words and times: a refusal the household caused tells the driver the household's fallback,
and every time is the stop's home's local time with its zone."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from pages import client
from sqlalchemy import update
from test_driver_http import at_home, book, settle, sign_in

from threshold.homes.models import Home, HomeRules
from threshold.sim.harness import Harness
from threshold.times import clock, zone

BERLIN = "Europe/Berlin"  # the simulated neighbourhood's zone


async def set_rules(h: Harness, home_index: int, **values: object) -> None:
    """Change a home's rules in place (what the rules page would save)."""
    async with h.app.state.sessions() as db:
        await db.execute(update(HomeRules).where(HomeRules.home_id == h.world.homes[home_index].id).values(**values))
        await db.commit()


@pytest.mark.parametrize(("fallback", "words"), [
    ("doorstep", "Leave it at the door"),
    ("locker", "Take it to the household's parcel locker."),
    ("reattempt", "Keep it in the van: it will be delivered again on another day."),
])
async def test_a_blackout_day_tells_the_driver_the_households_fallback(harness: Harness, fallback: str,
                                                                       words: str) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    today = datetime.now(UTC).astimezone(zone(BERLIN)).date().isoformat()
    await set_rules(h, 1, blackout_dates=[today], fallback=fallback)
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
    assert r.status_code == 403
    assert "The household does not take deliveries today." in r.text
    assert f"What to do instead:</strong> {words}" in html.unescape(r.text)
    if fallback != "reattempt":
        assert "in the van" not in r.text
    if fallback == "doorstep":
        # The stop can be finished the household's way: the delivery took its fallback.
        assert "Done: left at the door" in r.text


async def test_a_wrong_barcode_on_a_blackout_day_is_not_an_instruction_to_leave_the_package(
        harness: Harness) -> None:
    h = harness
    delivery_id, _ = await book(h, 1)
    today = datetime.now(UTC).astimezone(zone(BERLIN)).date().isoformat()
    await set_rules(h, 1, blackout_dates=[today], fallback="doorstep")
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": "NOT-THIS-ONE", "csrf": csrf,
                                                                    **at_home(h, 1)})
    assert r.status_code == 403
    assert "Leave it at the door" not in r.text


async def test_the_driver_app_reads_every_time_in_the_homes_zone(harness: Harness) -> None:
    h = harness
    home = h.world.homes[1]
    async with h.app.state.sessions() as db:
        await db.execute(update(Home).where(Home.id == home.id).values(timezone="America/New_York"))
        await db.commit()
    delivery_id, barcode = await book(h, 1)
    async with client(h) as b:
        csrf = await sign_in(b, h)
        stops = (await b.get("/driver")).text
        assert re.search(r"\d\d:\d\d\u2013\d\d:\d\d E[SD]T", stops)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
        assert r.status_code == 303, r.text
        session_id = r.headers["location"].rsplit("/", 1)[1]
        await settle(h, session_id, frozenset({"open"}))
        page = (await b.get(f"/driver/entries/{session_id}")).text
    shown = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert shown
    for at, text in shown:
        assert text == clock(at, "America/New_York", seconds=True, named=False), (at, text)
        assert text != clock(at, "UTC", seconds=True, named=False)
    assert re.search(r"Times in E[SD]T\.", page)
    assert "Door unlocked" in page
