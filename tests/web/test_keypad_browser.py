"""The keypad page in Debian's Chromium on a phone: a household adds a code for a guest, is shown its PIN once,
and watches it reach the lock without reloading; every state of the page passes axe-core."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from pages import accessible
from playwright.async_api import Locator, Page, expect

from threshold.sim.outcome import eventually

if TYPE_CHECKING:
    from conftest import Portal  # tests/web/conftest.py


async def test_a_code_added_for_a_guest_shows_on_the_lock_live(page: Page, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[0]
    now = h.clock()
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(), json={
        "guest_name": "Ann Sitter", "entry_point_id": str(home.front_door), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat()})
    assert r.status_code == 201, r.text
    # The lock is away for now: the code must wait for it, visibly.
    await h.gateway.set_available(home.lock, False)
    lock_id = h.app.state.hub.by_address[home.lock].device_id
    assert await eventually(lambda: h.app.state.hub.online.get(lock_id) is False)

    await page.goto(f"{portal.base_url}/portal")
    await page.get_by_label("Email").fill(home.member_email)
    await page.get_by_label("Password").fill(h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/portal")
    await page.goto(f"{portal.base_url}/portal/homes/{home.id}/keypad?grant={r.json()['id']}")
    await expect(page.get_by_role("heading", name="Keypad codes")).to_be_visible()
    await expect(page.get_by_label("Guest")).to_have_value(r.json()["id"])
    await accessible(page)

    await page.get_by_label("PIN (optional)").fill("1234")
    await page.get_by_role("button", name="Add code").click()
    await expect(page.locator("#e-pin")).to_contain_text("too easy to guess")
    await expect(page.get_by_label("PIN (optional)")).to_have_attribute("aria-invalid", "true")
    await accessible(page)

    await page.get_by_label("PIN (optional)").fill("")
    await page.get_by_role("button", name="Add code").click()
    await expect(page.get_by_role("status")).to_contain_text("Code added")
    # The PIN is shown this once, on the page that answers the form.
    digits = page.locator("#new-pin")
    await expect(digits).to_have_text(re.compile(r"^\d{6}$"))
    pin = await digits.inner_text()
    card = page.locator(".kp-code", has_text="Ann Sitter")
    state = card.locator(".kp-state")
    await expect(state).to_have_text("Waiting for the lock")
    await accessible(page)
    await page.evaluate("window.stillTheSamePage = true")

    await h.gateway.set_available(home.lock, True)
    # No reload: the page's poll brings the lock's confirmation, and the PIN stays on screen.
    await expect(state).to_have_text("On the lock", timeout=15_000)
    assert await page.evaluate("window.stillTheSamePage === true")
    await expect(digits).to_have_text(pin)
    assert h.gateway.devices[home.lock].codes.get(int(await _slot(card))) == pin
    await accessible(page)

    # Back on the page later, the PIN is nowhere to be seen again.
    await page.goto(f"{portal.base_url}/portal/homes/{home.id}/keypad")
    await expect(card.locator(".kp-state")).to_have_text("On the lock")
    assert pin not in await page.content()
    await expect(page.locator("#new-pin")).to_have_count(0)


async def _slot(card: Locator) -> str:
    """The slot number the card names ("Front door lock, slot 29")."""
    text = await card.locator("dd").first.inner_text()
    return text.rsplit(" ", 1)[-1]
