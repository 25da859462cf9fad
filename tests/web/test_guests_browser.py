"""Guest access in Debian's Chromium on a phone: the household sets a repeating schedule with the date pickers and
sees the calendar and the link; the guest, in a browser of their own, is refused outside the schedule with the
next visit shown, then opens the door on time and watches the steps; the household revokes the link. axe-core
checks every page on the way."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pages import accessible, phone
from playwright.async_api import Browser, Page, expect

from threshold.web.schedule_form import DAY_NAMES

if TYPE_CHECKING:
    from conftest import Portal

BERLIN = ZoneInfo("Europe/Berlin")
HOME = 1  # a home without an alarm, with a front door and a garage


async def sign_in(page: Page, portal: Portal) -> None:
    """Sign the household in through the form."""
    await page.goto(f"{portal.base_url}/signin")
    await page.get_by_label("Email").fill(portal.h.world.homes[HOME].member_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/portal")


async def test_a_household_sets_a_guest_schedule_and_the_guest_gets_in_only_on_time(
        page: Page, portal: Portal, browser: Browser) -> None:
    h = portal.h
    h.settings.public_url = portal.base_url  # the link a household sends must reach this server
    home = h.world.homes[HOME]
    today = h.clock().astimezone(BERLIN).date()
    visit_day = today + timedelta(days=1)
    weekday = DAY_NAMES[visit_day.weekday()]

    await sign_in(page, portal)
    await page.goto(f"{portal.base_url}/portal/homes/{home.id}/guests")
    await expect(page.get_by_text("No guests yet.")).to_be_visible()
    await accessible(page)
    await page.get_by_role("link", name="Give a guest access").click()
    await expect(page.get_by_role("heading", name="Give a guest access")).to_be_visible()
    await accessible(page)

    # Only the chosen kind of schedule is shown.
    await page.get_by_label("Once").check()
    await expect(page.locator("#repeat")).to_be_hidden()
    await expect(page.locator("#f-once_date")).to_be_visible()
    await page.get_by_label("Repeating").check()
    await expect(page.locator("#once")).to_be_hidden()

    await page.get_by_label("Guest's name").fill("Pet sitter")
    await page.get_by_label("Entry point").select_option(label="Front door")
    await page.get_by_role("group", name="On these days").get_by_label(weekday).check()
    await page.locator("#f-repeat_from").fill("10:00")
    await page.locator("#f-repeat_to").fill("11:00")
    await page.get_by_label("Starting on").fill(today.isoformat())
    await page.get_by_label("Until").fill((today - timedelta(days=1)).isoformat())
    await page.get_by_role("button", name="Give access").click()
    # The server refuses the whole form and says why next to the field.
    until = page.get_by_label("Until")
    await expect(until).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-until")).to_have_text("The until date must be after the starting date.")
    await expect(page.get_by_label("Guest's name")).to_have_value("Pet sitter")
    await accessible(page)

    await until.fill((today + timedelta(days=14)).isoformat())
    # The preview (htmx, on change) shows the schedule in words and the visits on a calendar.
    preview = page.locator("#preview")
    await expect(preview).to_contain_text(f"{weekday}s, 10:00-11:00")
    await expect(preview.locator("td.visit").first).to_contain_text("visit at 10:00")
    await accessible(page)
    await page.get_by_role("button", name="Give access").click()

    await expect(page.get_by_role("heading", name="Pet sitter has access")).to_be_visible()
    await expect(page.get_by_text("This link is shown only once.")).to_be_visible()
    await expect(page.locator("table.cal").first).to_be_visible()
    await expect(page.locator("table.cal td.visit").first).to_contain_text("10:00")
    link = await page.get_by_label("Pet sitter's link").input_value()
    assert link.startswith(f"{portal.base_url}/g/")
    await accessible(page)

    # The guest, in a browser of their own, before their time.
    async with phone(browser) as guest:
        guest.context.set_default_timeout(15_000)
        await guest.goto(link)
        await expect(guest.get_by_role("heading", name="Home 2")).to_be_visible()
        day = f"{weekday[:3]} {visit_day.day} "
        await expect(guest.get_by_role("status")).to_contain_text(f"Your access is {weekday}s, 10:00-11:00")
        await expect(guest.get_by_role("status")).to_contain_text(f"Next: {day}")
        await expect(guest.get_by_role("button", name="Open the door")).to_have_count(0)
        await accessible(guest)

        # On time: the door opens and the steps arrive live.
        start = datetime.combine(visit_day, datetime.min.time().replace(hour=10, minute=5), BERLIN)
        h.clock.offset += start - h.clock()
        await guest.reload()
        await guest.get_by_role("button", name="Open the door").click()
        timeline = guest.locator("#timeline")
        await expect(timeline).to_contain_text("Door unlocked")
        await expect(guest.locator("#state")).to_have_text("open")
        await accessible(guest)
        await guest.get_by_role("button", name="I'm done: lock up").click()
        await expect(timeline).to_contain_text("Door locked")
        await expect(guest.locator("#state")).to_have_text("done")
        assert h.gateway.state(home.lock) == "locked"

        # The household sees the guest and revokes the link; it stops working at once.
        await page.goto(f"{portal.base_url}/portal/homes/{home.id}/guests")
        await expect(page.get_by_text("Active")).to_be_visible()
        await page.get_by_text("Calendar").click()
        await expect(page.locator("table.cal").first).to_be_visible()
        await accessible(page)
        await page.get_by_role("button", name="Revoke Pet sitter").click()
        await expect(page.get_by_role("status")).to_contain_text("Access revoked")
        await expect(page.get_by_text("Revoked", exact=True)).to_be_visible()
        await accessible(page)
        await guest.goto(link)
        await expect(guest.get_by_role("heading", name="This link no longer works")).to_be_visible()
        await accessible(guest)
