"""The driver app in Debian's Chromium on a phone: a driver delivers inside through the app while the household
watches the steps arrive live and then plays the clip; refusals in words; every page accessible (axe-core)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pages import accessible, phone, plays_its_clip
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from threshold.access.models import EntrySession
from threshold.homes.models import HomeRules
from threshold.sim.neighbourhood import SimHome

if TYPE_CHECKING:
    from conftest import Portal

PHONE: ViewportSize = {"width": 390, "height": 844}


async def driver_signs_in(page: Page, portal: Portal, index: int = 0) -> None:
    """Sign a driver in through the driver app's form (checked for accessibility)."""
    await page.goto(f"{portal.base_url}/driver")
    await expect(page).to_have_url(f"{portal.base_url}/driver/signin?next=/driver")
    await accessible(page)
    await page.get_by_label("Email").fill(portal.h.world.drivers[index][1])
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/driver")
    await expect(page.get_by_role("heading", name="Today's stops")).to_be_visible()


async def member_signs_in(page: Page, portal: Portal, home_index: int) -> None:
    """Sign a household member in through the portal's form."""
    await page.goto(f"{portal.base_url}/signin")
    await page.get_by_label("Email").fill(portal.h.world.homes[home_index].member_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/portal")


async def book(portal: Portal, home: SimHome, barcode: str, driver_index: int = 0) -> str:
    """A delivery for the home, assigned to the driver; its id."""
    r = await portal.h.partner.create(home, portal.h.world.drivers[driver_index][0], barcode=barcode)
    assert r.status_code == 201, r.text
    delivery_id: str = r.json()["id"]
    return delivery_id


async def test_a_driver_delivers_inside_while_the_household_watches_live_then_plays_the_clip(
        page: Page, browser: Browser, video_portal: Portal) -> None:
    h = video_portal.h
    home = h.world.homes[1]  # a home without an alarm: fewer steps, same story
    delivery_id = await book(video_portal, home, "PKG-DRV-E2E-1")
    await member_signs_in(page, video_portal, 1)

    async with phone(browser, at=home) as driver:
        await driver_signs_in(driver, video_portal)
        await accessible(driver)
        stop = driver.get_by_role("listitem").filter(has_text="Place parcels on the hall table.")
        await expect(stop).to_contain_text("In-home, Front door")
        await stop.get_by_role("link", name="Open this stop").click()
        await expect(driver).to_have_url(f"{video_portal.base_url}/driver/stops/{delivery_id}")
        await expect(driver.get_by_role("status")).to_have_text("Location found.")
        await accessible(driver)
        await driver.get_by_label("Package barcode").fill("PKG-DRV-E2E-1")
        await driver.get_by_role("button", name="Ask for entry").click()
        await driver.wait_for_url(f"{video_portal.base_url}/driver/entries/*")
        session_id = driver.url.rsplit("/", 1)[1]
        await driver.evaluate("window.stayed = true")  # gone if the page reloads

        # The household opens the same entry while it is live.
        await page.goto(f"{video_portal.base_url}/portal/homes/{home.id}/sessions/{session_id}")
        timeline = page.locator("#timeline")
        await expect(timeline).to_contain_text("Door unlocked")
        await expect(timeline).not_to_contain_text("Door locked")

        steps = driver.locator("#timeline")
        await expect(steps).to_contain_text("Camera recording")
        await expect(steps).to_contain_text("Door unlocked")
        await expect(driver.locator("#state")).to_have_text("Door unlocked")
        assert await driver.evaluate("window.stayed === true")
        await accessible(driver)
        await driver.get_by_role("button", name="Finished: lock up").click()
        await expect(driver.locator("#state")).to_have_text("Done: door locked", timeout=15_000)
        await expect(steps).to_contain_text("Door locked")
        await expect(driver.get_by_role("link", name="Back to your stops")).to_be_visible()
        await accessible(driver)

        # No reload on the household's side: the steps arrived over server-sent events.
        await expect(timeline).to_contain_text("Done inside and out of the door")
        await expect(timeline).to_contain_text("Door locked", timeout=15_000)
        await expect(page.locator("#state")).to_have_text("Done: door locked", timeout=15_000)

        await driver.get_by_role("link", name="Back to your stops").click()
        await expect(driver.get_by_text("No stops for you today.")).to_be_visible()

    await plays_its_clip(page, h, session_id)


async def test_refusals_are_in_words_with_what_to_do_and_every_state_is_accessible(
        browser: Browser, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[0]
    delivery_id = await book(portal, home, "PKG-DRV-REFUSE-1")
    async with phone(browser) as driver:  # location not allowed
        await driver_signs_in(driver, portal)
        await driver.get_by_label("Minutes away").select_option("10")
        await driver.get_by_role("button", name="On my way").click()
        await expect(driver.get_by_role("status")).to_contain_text("has been told you are on the way")
        await accessible(driver)

        await driver.goto(f"{portal.base_url}/driver/stops/{delivery_id}")
        await driver.get_by_label("Package barcode").fill("PKG-DRV-REFUSE-1")
        await driver.get_by_role("button", name="Ask for entry").click()
        alert = driver.get_by_role("alert")
        await expect(alert).to_contain_text("did not share its location")
        await expect(alert).to_contain_text("Allow location for this site")
        await accessible(driver)

        await driver.context.grant_permissions(["geolocation"])
        await driver.context.set_geolocation({"latitude": home.lat, "longitude": home.lon})
        await driver.goto(f"{portal.base_url}/driver/stops/{delivery_id}")
        await expect(driver.get_by_role("status")).to_have_text("Location found.")
        barcode = driver.get_by_label("Package barcode")
        await barcode.fill("PKG-NOT-THIS-ONE")
        await barcode.press("Enter")
        await expect(driver.get_by_role("alert")).to_contain_text("This barcode does not belong to this stop.")
        await expect(barcode).to_have_attribute("aria-invalid", "true")
        await expect(driver.locator("#e-barcode")).to_contain_text("Check the label")
        await accessible(driver)

        await driver.goto(f"{portal.base_url}/driver/stops/{uuid.uuid4()}")
        await expect(driver.get_by_role("heading", name="Not found")).to_be_visible()
        await accessible(driver)
        await driver.get_by_role("button", name="Sign out").click()
        await expect(driver).to_have_url(f"{portal.base_url}/driver/signin")
    async with portal.h.app.state.sessions() as db:
        assert (await db.execute(select(EntrySession))).first() is None


async def test_a_driver_waits_for_the_households_yes_and_the_door_opens_on_the_page(browser: Browser,
                                                                                    portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[1]
    async with h.app.state.sessions() as db:
        rules = await db.get(HomeRules, home.id)
        assert rules is not None
        rules.ask_first = True
        await db.commit()
    delivery_id = await book(portal, home, "PKG-DRV-ASK-1")
    async with phone(browser, at=home) as driver:
        await driver_signs_in(driver, portal)
        await driver.goto(f"{portal.base_url}/driver/stops/{delivery_id}")
        await expect(driver.get_by_role("status")).to_have_text("Location found.")
        await driver.get_by_label("Package barcode").fill("PKG-DRV-ASK-1")
        await driver.get_by_role("button", name="Ask for entry").click()
        await driver.wait_for_url(f"{portal.base_url}/driver/entries/*")
        session_id = driver.url.rsplit("/", 1)[1]
        await expect(driver.locator("#state")).to_have_text("Waiting for the household to let you in…")
        await expect(driver.get_by_role("button", name="Finished: lock up")).to_have_count(0)
        await accessible(driver)
        await driver.evaluate("window.stayed = true")
        r = await h.client.post(f"/v1/homes/{home.id}/sessions/{session_id}/approve",
                                headers=await h.member_headers(1))
        assert r.status_code == 200, r.text
        # The page was not reloaded: the new state and the button arrived with the steps.
        await expect(driver.locator("#state")).to_have_text("Door unlocked")
        await expect(driver.get_by_role("button", name="Finished: lock up")).to_be_visible()
        assert await driver.evaluate("window.stayed === true")
        await driver.get_by_role("button", name="Finished: lock up").click()
        await expect(driver.locator("#state")).to_have_text("Done: door locked", timeout=15_000)
