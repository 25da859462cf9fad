"""The pages that had inline scripts, in Debian's Chromium under the strict Content-Security-Policy: none reports a
violation, and what their scripts did still works (schedule fields follow the chosen kind, the guest link copies,
the home's spot fills from the phone, the driver's location goes with the ask)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pages import phone
from playwright.async_api import Browser, ConsoleMessage, Page, expect

if TYPE_CHECKING:
    from conftest import Portal  # tests/web/conftest.py

BERLIN = ZoneInfo("Europe/Berlin")  # the simulated homes' time zone
# Runs in every new document before its own scripts: the browser's own report of each blocked load or inline use.
WATCH = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.cspViolations.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline'));
});
"""


class Violations:
    """Every CSP violation a page reports: its console's refusals and the documents' own violation events."""

    def __init__(self) -> None:
        self.console: list[str] = []

    async def watch(self, page: Page) -> Page:
        """Start listening on this page (before it loads anything)."""
        await page.add_init_script(WATCH)

        def heard(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                self.console.append(message.text)

        page.on("console", heard)
        return page

    async def on(self, page: Page) -> list[str]:
        """What was refused so far (the current document's events and every console refusal)."""
        events: list[str] = await page.evaluate("window.cspViolations || []")
        return [*self.console, *events]


async def member_signs_in(page: Page, portal: Portal, home_index: int) -> None:
    """Sign a household member in through the portal's form."""
    await page.goto(f"{portal.base_url}/signin")
    await page.get_by_label("Email").fill(portal.h.world.homes[home_index].member_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/portal")


async def test_the_watch_sees_an_inline_script_the_policy_blocks(page: Page, portal: Portal) -> None:
    seen = Violations()
    await seen.watch(page)
    await page.goto(f"{portal.base_url}/signin")
    assert await seen.on(page) == []
    await page.evaluate("""() => { const s = document.createElement('script');
                                   s.textContent = 'window.ranInline = true'; document.body.append(s); }""")
    await page.wait_for_function("window.cspViolations.length > 0")
    assert (await seen.on(page))[-1] == "script-src-elem blocked inline"
    assert await page.evaluate("window.ranInline === undefined")


async def test_the_guest_form_and_the_link_page_work_with_no_violation(page: Page, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[1]
    seen = Violations()
    await seen.watch(page)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.base_url)
    await member_signs_in(page, portal, 1)
    await page.goto(f"{portal.base_url}/portal/homes/{home.id}/guests/new")

    # The moved script: only the chosen kind of schedule is shown.
    await page.get_by_label("Once").check()
    await expect(page.locator("#repeat")).to_be_hidden()
    await expect(page.locator("#once")).to_be_visible()
    await page.get_by_label("Repeating").check()
    await expect(page.locator("#once")).to_be_hidden()
    await page.get_by_label("Once").check()
    await page.get_by_label("Guest's name").fill("Window cleaner")
    await page.get_by_label("Entry point").select_option(label="Front door")
    day = h.clock().astimezone(BERLIN).date() + timedelta(days=1)
    await page.get_by_label("Date").fill(day.isoformat())
    await page.locator("#f-once_from").fill("10:00")
    await page.locator("#f-once_to").fill("11:00")
    # htmx still posts and swaps the preview (no eval, no inline style needed).
    await expect(page.locator("#preview")).to_contain_text("10:00")
    assert await seen.on(page) == []

    await page.get_by_role("button", name="Give access").click()
    await expect(page.get_by_role("heading", name="Window cleaner has access")).to_be_visible()
    link = await page.get_by_label("Window cleaner's link").input_value()
    copy = page.get_by_role("button", name="Copy link")
    await expect(copy).to_be_visible()  # shown by the moved script, where the clipboard exists
    await copy.click()
    await expect(page.get_by_role("status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == link
    assert await seen.on(page) == []


async def test_the_home_form_takes_the_phones_location_with_no_violation(browser: Browser, portal: Portal) -> None:
    here = portal.h.world.homes[0]
    seen = Violations()
    async with phone(browser, at=here) as page:
        await seen.watch(page)
        await member_signs_in(page, portal, 0)
        await page.goto(f"{portal.base_url}/portal/homes/new")
        await page.get_by_role("button", name="Use my current location").click()
        await expect(page.get_by_label("Latitude")).to_have_value(f"{here.lat:.6f}")
        await expect(page.get_by_label("Longitude")).to_have_value(f"{here.lon:.6f}")
        assert await seen.on(page) == []


async def test_the_driver_stop_sends_the_phones_location_with_no_violation(browser: Browser, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[1]
    r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-CSP-1")
    assert r.status_code == 201, r.text
    seen = Violations()
    async with phone(browser, at=home) as page:
        await seen.watch(page)
        await page.goto(f"{portal.base_url}/driver/signin")
        await page.get_by_label("Email").fill(h.world.drivers[0][1])
        await page.get_by_label("Password").fill(h.world.password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{portal.base_url}/driver")
        await page.goto(f"{portal.base_url}/driver/stops/{r.json()['id']}")
        await expect(page.get_by_role("status")).to_have_text("Location found.")
        form = page.locator("form#ask")
        assert float(await form.locator('input[name="lat"]').input_value()) == home.lat
        assert float(await form.locator('input[name="lon"]').input_value()) == home.lon
        assert await seen.on(page) == []
