"""The household's entry page in Chromium, on a phone and a desktop: the live view while the driver is inside,
then, without a reload, the sealed clip in its place (the live picture's request ended), the sentence and the
state in words, the technical detail one click away, and every state accessible (axe-core)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from pages import DESKTOP, PHONE, accessible, sized
from playwright.async_api import Browser, Request, ViewportSize, expect
from sqlalchemy import update
from test_portal_browser import sign_in

from threshold.deliveries.models import Driver
from threshold.sim.driver import DriverApp
from threshold.sim.outcome import eventually

if TYPE_CHECKING:
    from conftest import Portal



@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_entry_page_swaps_the_live_view_for_the_sealed_clip_without_a_reload(
        browser: Browser, video_portal: Portal, viewport: ViewportSize) -> None:
    h = video_portal.h
    home = h.world.homes[1]
    driver_id, email = h.world.drivers[0]
    async with h.app.state.sessions() as db:
        await db.execute(update(Driver).where(Driver.id == driver_id).values(name="Ana Lima"))
        await db.commit()
    driver = DriverApp(h.client, email, h.world.password)
    await driver.sign_in()
    r = await h.partner.create(home, driver_id, barcode="PKG-SWAP-1")
    r = await driver.ask(r.json()["id"], "PKG-SWAP-1", home.lat, home.lon)
    session_id = r.json()["id"]
    assert r.json()["state"] == "open", r.text

    async with sized(browser, viewport) as page:
        live_ended = asyncio.Event()

        def ended(request: Request) -> None:
            if request.url.endswith(f"/sessions/{session_id}/live"):
                live_ended.set()

        page.on("requestfailed", ended)
        page.on("requestfinished", ended)
        await sign_in(page, video_portal, 1)
        await page.goto(f"{video_portal.base_url}/portal/homes/{home.id}/sessions/{session_id}")
        live = page.get_by_role("img", name="Live view of the entry camera")
        await expect(live).to_be_visible()
        await expect(page.locator("#story")).to_contain_text("Driver Ana from")
        await expect(page.locator("#story")).to_contain_text("is inside now")
        await expect(page.locator("#timeline")).to_contain_text("Door unlocked")
        await accessible(page)
        # A reload would lose this mark: the swap must happen in the page as it stands.
        await page.evaluate("() => { window.notReloaded = true; }")

        assert (await driver.finish(session_id)).status_code == 200
        await expect(page.locator("#timeline")).to_contain_text("Door locked", timeout=15_000)
        video = page.get_by_label("Recording of the entry")
        await expect(video).to_be_visible(timeout=30_000)
        await expect(live).to_have_count(0)
        await expect(page.get_by_text("Recording now")).to_have_count(0)
        await expect(page.locator("#state")).to_have_text("Done: door locked")
        await expect(page.locator("#story")).to_contain_text("left 1 package, and locked it at")
        assert await page.evaluate("() => window.notReloaded === true")
        assert await eventually(live_ended.is_set, timeout=10), "the live picture's request never ended"
        await accessible(page)

        # The code's own words are there for whoever asks, one click away.
        details = page.locator("details.technical")
        await expect(details.get_by_text("lock.unlocked")).to_be_hidden()
        await details.locator("summary").click()
        await expect(details.get_by_text("lock.unlocked").first).to_be_visible()
        # The records followed the entry too: its last facts arrived after the page was loaded.
        await expect(details.get_by_text("session.done").first).to_be_visible()
        await expect(details.get_by_text("clip.sealed").first).to_be_visible()
        await accessible(page)

        await video.evaluate("v => { v.muted = true; return v.play(); }")
        await page.wait_for_function("() => document.querySelector('video').currentTime > 0.5", timeout=15_000)
