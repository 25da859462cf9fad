"""The approval banner in Chromium, on a phone and a desktop: who waits at the door (driver's first name and
partner), with which package, until when in the home's zone and how long is left, axe-clean; "Let them in" works.
And a guest at a busy door reads why, and tries again."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from pages import PHONE, accessible, loopback_only, phone
from playwright.async_api import Browser, ViewportSize, expect

from threshold import times
from threshold.access.models import EntrySession
from threshold.deliveries.models import Delivery, Driver, Partner
from threshold.homes.models import Home, HomeRules
from threshold.sim.driver import TERMINAL, DriverApp

if TYPE_CHECKING:
    from conftest import Portal

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
HOME = 1  # a home without an alarm


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_approval_banner_says_who_with_what_and_how_long_and_lets_them_in(
        browser: Browser, portal: Portal, viewport: ViewportSize) -> None:
    h, home = portal.h, portal.h.world.homes[HOME]
    h.settings.approval_timeout = 600.0  # the household's answer must not race the clock on a busy machine
    async with h.app.state.sessions() as db:
        rules = await db.get(HomeRules, home.id)
        assert rules is not None
        rules.ask_first = True
        await db.commit()
    barcode = f"PKG-{uuid.uuid4().hex[:6]}4821"
    r = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode, size="M")
    assert r.status_code == 201, r.text
    driver = DriverApp(h.client, h.world.drivers[0][1], h.world.password)
    await driver.sign_in()
    asked = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
    assert asked.status_code == 202 and asked.json()["state"] == "awaiting_approval", asked.text
    session_id = asked.json()["id"]
    async with h.app.state.sessions() as db:
        row = await db.get(EntrySession, uuid.UUID(session_id))
        person = await db.get(Driver, h.world.drivers[0][0])
        stored = await db.get(Home, home.id)
        assert row is not None and row.deadline is not None and person is not None and stored is not None
        delivery = await db.get(Delivery, uuid.UUID(r.json()["id"]))
        assert delivery is not None
        partner = await db.get(Partner, delivery.partner_id)
        assert partner is not None
        who = f"{person.name.split()[0]} from {partner.name}"
        until = times.clock(row.deadline, stored.timezone)

    context = await browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    await context.route("**/*", loopback_only)
    try:
        page = await context.new_page()
        await page.goto(f"{portal.base_url}/signin?next=/portal/homes/{home.id}")
        await page.get_by_label("Email").fill(home.member_email)
        await page.get_by_label("Password").fill(h.world.password)
        await page.get_by_role("button", name="Sign in").click()
        banner = page.locator(".approvals")
        await expect(banner).to_contain_text(f"{who} asks to come in with 1 package (M), barcode ending 4821")
        await expect(banner.locator("time")).to_have_text(until)
        await expect(banner.get_by_role("timer")).to_have_text(re.compile(r"^[0-9]+:[0-5][0-9] left$"))
        await accessible(page)
        # The message's link leads to the entry's page: the same details there.
        await banner.get_by_role("link", name=re.compile("^See the entry")).click()
        await expect(page.get_by_role("heading", name="Waiting for your answer")).to_be_visible()
        await expect(page.locator(".who")).to_have_text(who)
        await expect(page.get_by_role("timer")).to_have_text(re.compile(r"^[0-9]+:[0-5][0-9] left$"))
        await expect(page.locator(".package")).to_have_text("1 package (M), barcode ending 4821")
        await accessible(page)
        await page.goto(f"{portal.base_url}/portal/homes/{home.id}")
        await banner.get_by_role("button", name=re.compile("^Let them in")).click()
        await expect(page.get_by_text("You let the driver in")).to_be_visible()
        await accessible(page)
    finally:
        await context.close()
    assert (await driver.until(session_id, {"open"} | TERMINAL, timeout=20))["state"] == "open"
    assert (await driver.finish(session_id)).status_code == 200
    assert (await driver.until(session_id, TERMINAL, timeout=20))["state"] == "done"


async def test_a_guest_at_a_busy_door_reads_why_and_tries_again(browser: Browser, portal: Portal) -> None:
    h, home = portal.h, portal.h.world.homes[HOME]
    now = h.clock()
    made = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(HOME), json={
        "guest_name": "Dog walker", "entry_point_id": str(home.front_door),
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat(),
        "timezone": "Europe/Berlin"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    barcode = f"PKG-{uuid.uuid4().hex[:8]}"
    r = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode, entry_point_id=home.front_door)
    driver = DriverApp(h.client, h.world.drivers[0][1], h.world.password)
    await driver.sign_in()
    inside = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
    assert inside.status_code == 200 and inside.json()["state"] == "open", inside.text
    async with phone(browser) as page:
        await page.goto(f"{portal.base_url}/g/{token}")
        await page.get_by_role("button", name="Open the door").click()
        await expect(page.get_by_role("alert")).to_have_text(re.compile("Someone else is using this door right now"))
        await accessible(page)
        assert (await driver.finish(inside.json()["id"])).status_code == 200
        assert (await driver.until(inside.json()["id"], TERMINAL, timeout=20))["state"] == "done"
        await page.get_by_role("button", name="Try again").click()
        await expect(page).to_have_url(re.compile(f"/g/{token}/entries/"))
        await accessible(page)
