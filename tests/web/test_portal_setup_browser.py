"""The household in Debian's Chromium: enrols through the forms on a phone, keeps the rules by keyboard, and sees
a new entry appear on the home page while the driver works, with every page accessible (axe-core)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pages import accessible
from playwright.async_api import Page, expect
from test_portal_browser import sign_in

from threshold.sim.driver import DriverApp

if TYPE_CHECKING:
    from conftest import Portal


async def enrol_through_the_forms(page: Page, base: str) -> None:
    """Sign up a household, enrol a home with its front door, and add its lock: as a person would."""
    await page.goto(f"{base}/signup")
    await page.get_by_label("Household name").fill("The Nakamuras")
    await page.get_by_label("Your name").fill("Yui Nakamura")
    await page.get_by_label("Email").fill("yui@example.com")
    await page.get_by_label("Password (at least 12 characters)").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("link", name="Enrol a home").click()
    await accessible(page)
    await page.get_by_label("Name of the home (for you)").fill("Canal flat")
    await page.get_by_label("Street address (for drivers)").fill("12 Canal Street, Manchester M1 3HE")
    await page.get_by_label("Time zone").fill("Europe/London")
    await page.get_by_label("Latitude").fill("53.4774")
    await page.get_by_label("Longitude").fill("north")
    await page.get_by_role("button", name="Enrol the home").click()
    await expect(page.locator("#e-lon")).to_have_text("Give a number in decimal degrees, such as 52.52.")
    await expect(page.get_by_label("Longitude")).to_have_attribute("aria-invalid", "true")
    await accessible(page)  # the error state too
    await page.get_by_label("Longitude").fill("-2.2374")
    await page.get_by_role("button", name="Enrol the home").click()
    await expect(page.get_by_role("status")).to_contain_text("The home is enrolled")
    await accessible(page)
    await page.get_by_label("What it is").select_option("lock")
    await page.get_by_label("Its name in zigbee2mqtt, or its Home Assistant entity id").fill("canal_front_lock")
    await page.get_by_label("At which way in (locks, garage doors, contacts)").select_option(label="Front door")
    await page.get_by_role("button", name="Add the device").click()
    await expect(page.get_by_role("status")).to_contain_text("Door lock added")


async def test_a_household_enrols_a_home_and_sets_its_rules_by_keyboard(page: Page, portal: Portal) -> None:
    base = portal.base_url
    await enrol_through_the_forms(page, base)
    await page.get_by_role("link", name="Canal flat").click()
    await expect(page.get_by_role("heading", name="Canal flat")).to_be_visible()
    await accessible(page)
    await page.get_by_role("link", name="Rules").click()
    await accessible(page)
    in_home = page.get_by_label("In-home delivery: a driver may put packages inside")
    await in_home.focus()
    await page.keyboard.press("Space")
    await expect(in_home).to_be_checked()
    await page.get_by_label("Add a date").fill("2020-01-01")
    await page.get_by_role("button", name="Save the rules").click()
    await expect(page.locator("#e-blackout")).to_have_text("Choose today or a later day.")
    await accessible(page)
    await page.get_by_label("Add a date").fill("2099-12-24")
    await page.get_by_label("Bring it back another day").check()
    await page.get_by_role("button", name="Save the rules").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_label("Thu 24 Dec 2099")).to_be_checked()
    await expect(page.get_by_label("Bring it back another day")).to_be_checked()
    await page.get_by_role("link", name="Canal flat").click()
    await page.get_by_role("link", name="Audit trail").click()
    await expect(page.get_by_role("status")).to_contain_text("Chain intact: all 3 records checked")
    await expect(page.get_by_role("cell", name="rules changed")).to_be_visible()
    await accessible(page)


async def test_a_new_entry_appears_on_the_home_page_without_reloading(page: Page, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[0]
    await sign_in(page, portal)
    await page.goto(f"{portal.base_url}/portal/homes/{home.id}")
    await expect(page.get_by_text("No entries yet.")).to_be_visible()
    driver = DriverApp(h.client, h.world.drivers[0][1], h.world.password)
    await driver.sign_in()
    created = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-LIVE-HOME")
    r = await driver.ask(created.json()["id"], "PKG-LIVE-HOME", home.lat, home.lon)
    assert r.json()["state"] == "open"
    rows = page.locator("#entry-list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Door unlocked: someone is inside")
    assert (await driver.finish(r.json()["id"])).status_code == 200
    await expect(rows.first).to_contain_text("Done: door locked")
    await accessible(page)


async def test_a_new_household_enrols_and_sets_a_guest_schedule(page: Page, portal: Portal) -> None:
    await enrol_through_the_forms(page, portal.base_url)
    await page.get_by_role("link", name="Canal flat").click()
    await page.get_by_role("link", name="Guests").click()
    await expect(page.get_by_text("No guests yet.")).to_be_visible()
    await page.get_by_role("link", name="Give a guest access").click()
    await page.get_by_label("Repeating").check()
    await page.get_by_label("Guest's name").fill("Dog walker")
    await page.get_by_label("Entry point").select_option(label="Front door")
    days = page.get_by_role("group", name="On these days")
    for day in ("Monday", "Wednesday", "Friday"):
        await days.get_by_label(day).check()
    await page.locator("#f-repeat_from").fill("12:00")
    await page.locator("#f-repeat_to").fill("12:45")
    today = portal.h.clock().date()
    await page.get_by_label("Starting on").fill((today + timedelta(days=1)).isoformat())
    await page.get_by_label("Until").fill((today + timedelta(days=60)).isoformat())
    await expect(page.locator("#preview")).to_contain_text("Mondays, Wednesdays and Fridays, 12:00-12:45")
    await page.get_by_role("button", name="Give access").click()
    await expect(page.get_by_role("heading", name="Dog walker has access")).to_be_visible()
    assert "/g/" in await page.get_by_label("Dog walker's link").input_value()
    await accessible(page)
    await page.get_by_role("link", name="Back to the guests").click()
    await expect(page.get_by_text("Dog walker").first).to_be_visible()
    await expect(page.get_by_text("Mondays, Wednesdays and Fridays, 12:00-12:45")).to_be_visible()
