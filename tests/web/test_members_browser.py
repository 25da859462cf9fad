"""Members in Debian's Chromium on a phone: an owner invites someone from the Members page, the invitee opens the
emailed link, joins, and sees the household as a member; every page accessible (axe-core)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pages import accessible, phone
from playwright.async_api import Browser, Page, expect
from test_portal_browser import sign_in

if TYPE_CHECKING:
    from conftest import Portal


async def test_an_owner_invites_on_a_phone_and_the_invitee_joins_as_a_member(page: Page, portal: Portal,
                                                                             browser: Browser) -> None:
    await sign_in(page, portal)
    await page.get_by_role("link", name="Members").click()
    await expect(page.get_by_role("heading", name="Members", level=1)).to_be_visible()
    await accessible(page)
    await page.get_by_label("Their name").fill("Bo Lin")
    await page.get_by_label("Their email").fill("bo@example.com")
    await page.get_by_label("Role").select_option("member")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_role("status")).to_have_text("Invitation sent.")
    await expect(page.locator(".invitation-row", has_text="bo@example.com")).to_contain_text("pending")
    await accessible(page)

    mail = await portal.h.mail.wait_for(lambda m: "bo@example.com" in m.rcpt_tos, timeout=30)
    found = re.search(r"/join/[A-Za-z0-9_-]+", mail.text)
    assert found, mail.text
    async with phone(browser) as invitee:
        await invitee.goto(portal.base_url + found.group(0))
        await expect(invitee.get_by_role("heading", level=1)).to_contain_text("Join")
        await accessible(invitee)
        await invitee.get_by_label("Password (at least 12 characters)").fill("short")
        await invitee.get_by_role("button", name="Join").click()
        await expect(invitee.get_by_text("Use at least 12 characters.")).to_be_visible()
        await accessible(invitee)  # the error state too
        await invitee.get_by_label("Password (at least 12 characters)").fill("correct horse battery")
        await invitee.get_by_role("button", name="Join").click()
        await expect(invitee).to_have_url(re.compile(r"/portal\?joined=1$"))
        await invitee.get_by_role("link", name="Members").click()
        await expect(invitee.locator(".member-row", has_text="Bo Lin")).to_contain_text("member")
        await expect(invitee.get_by_role("heading", name="Invite someone")).to_have_count(0)
        await accessible(invitee)

    await page.reload()
    await expect(page.locator(".invitation-row", has_text="bo@example.com")).to_contain_text("accepted")
