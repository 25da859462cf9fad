"""The demo's driver story in Debian's Chromium, on a phone and on a desktop without any location: from the front
page's barcode to a door opened and locked again, with the demo location button."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pages import accessible, loopback_only
from playwright.async_api import Browser, ViewportSize, expect

from threshold.sim.portal_seed import keep_demo_stops, seed_demo_driver

if TYPE_CHECKING:
    from conftest import Portal

VIEWPORTS: dict[str, ViewportSize] = {"phone": {"width": 390, "height": 844},
                                      "desktop": {"width": 1280, "height": 800}}


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
async def test_a_demo_driver_delivers_inside_with_the_front_pages_barcode_and_the_demo_location(
        browser: Browser, portal: Portal, viewport: str) -> None:
    h = portal.h
    async with h.app.state.sessions() as db:
        await seed_demo_driver(db, h.world, homes=1)
        await db.commit()
    h.app.state.demo_world = h.world
    await keep_demo_stops(h.app.state.sessions, h.partner, h.world)
    home = h.world.homes[h.world.human_homes[0]]
    # No location permission: a desktop browser has none to give.
    context = await browser.new_context(viewport=VIEWPORTS[viewport])
    context.set_default_timeout(10_000)
    await context.route("**/*", loopback_only)
    try:
        page = await context.new_page()
        await page.goto(f"{portal.base_url}/")
        await expect(page).to_have_url(f"{portal.base_url}/demo")
        stops = page.get_by_role("region", name="Your stops as the driver")
        await expect(stops).to_contain_text(home.address)
        barcode = (await stops.locator("code.barcode").first.text_content() or "").strip()
        assert barcode.startswith("YOU-"), barcode
        await accessible(page)

        await page.get_by_role("button", name="Continue as a driver").click()
        await expect(page).to_have_url(f"{portal.base_url}/driver")
        stop = page.get_by_role("listitem").filter(has_text=home.address)
        await stop.get_by_role("link", name="Open this stop").click()
        await expect(page.get_by_role("heading", name=home.address)).to_be_visible()
        await page.get_by_role("button", name="Use the demo location").click()
        await expect(page.get_by_role("status")).to_have_text("Using the demo location: you are at the home.")
        await accessible(page)
        await page.get_by_label("Package barcode").fill(barcode)
        await page.get_by_role("button", name="Ask for entry").click()
        await page.wait_for_url(f"{portal.base_url}/driver/entries/*")
        await expect(page.locator("#state")).to_have_text("Door unlocked", timeout=15_000)
        await accessible(page)
        await page.get_by_role("button", name="Finished: lock up").click()
        await expect(page.locator("#state")).to_have_text("Done: door locked", timeout=15_000)
        assert h.gateway.state(home.lock) == "locked"
    finally:
        await context.close()
