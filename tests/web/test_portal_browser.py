"""The household portal in Debian's Chromium: sign in on a phone, every page accessible (axe-core), settings
saved, a delivery's steps appearing live while the driver works, and the clip playing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pages import accessible, plays_its_clip
from playwright.async_api import Page, expect

from threshold.sim.driver import DriverApp

if TYPE_CHECKING:
    from conftest import Portal


async def sign_in(page: Page, portal: Portal, home_index: int = 0) -> None:
    """Sign a household member in through the form."""
    home = portal.h.world.homes[home_index]
    await page.goto(f"{portal.base_url}/portal")
    await expect(page).to_have_url(f"{portal.base_url}/signin?next=/portal")
    await page.get_by_label("Email").fill(home.member_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/portal")


async def test_a_member_signs_in_sees_device_health_and_every_page_is_accessible(page: Page,
                                                                                   portal: Portal) -> None:
    await page.goto(f"{portal.base_url}/signin")
    await accessible(page)
    await page.get_by_label("Email").fill(portal.h.world.homes[0].member_email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    await accessible(page)  # the error state too

    await sign_in(page, portal)
    await expect(page.get_by_role("heading", name="Home 1")).to_be_visible()
    await expect(page.get_by_role("cell", name="online").first).to_be_visible()
    await accessible(page)
    await page.get_by_role("link", name="Home 1").click()
    await expect(page.get_by_role("heading", name="Entries")).to_be_visible()
    await accessible(page)
    await page.goto(f"{portal.base_url}/signup")
    await accessible(page)


async def test_settings_are_reachable_by_keyboard_and_saved(page: Page, portal: Portal) -> None:
    await sign_in(page, portal)
    await page.goto(f"{portal.base_url}/portal/settings/notifications")
    await accessible(page)
    sms = page.get_by_role("group", name="Delivered inside (with the clip)").get_by_label("SMS")
    await sms.focus()
    await page.keyboard.press("Space")
    await expect(sms).to_be_checked()
    await page.get_by_role("button", name="Save").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_role("group", name="Delivered inside (with the clip)").get_by_label("SMS")) \
        .to_be_checked()


async def test_the_household_watches_a_delivery_step_by_step_then_plays_its_clip(page: Page,
                                                                                  video_portal: Portal) -> None:
    h = video_portal.h
    home = h.world.homes[1]  # a home without an alarm: fewer steps, same story
    await sign_in(page, video_portal, 1)
    driver = DriverApp(h.client, h.world.drivers[0][1], h.world.password)
    await driver.sign_in()
    r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-E2E-1")
    r = await driver.ask(r.json()["id"], "PKG-E2E-1", home.lat, home.lon)
    session_id = r.json()["id"]
    assert r.json()["state"] == "open", r.text

    await page.goto(f"{video_portal.base_url}/portal/homes/{home.id}/sessions/{session_id}")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("Door unlocked")
    await expect(timeline).not_to_contain_text("Door locked")
    await expect(page.get_by_role("img", name="Live view of the entry camera")).to_be_visible()
    assert (await driver.finish(session_id)).status_code == 200
    # No reload: the steps arrive over server-sent events.
    await expect(timeline).to_contain_text("Done inside and out of the door")
    await expect(timeline).to_contain_text("Door locked", timeout=15_000)
    await expect(page.locator("#state")).to_have_text("Done: door locked", timeout=15_000)

    # The clip is sealed after the post-roll; then the page offers it.
    await plays_its_clip(page, h, session_id)
    video = page.get_by_label("Recording of the entry")
    assert await video.evaluate("v => v.duration") > 1
