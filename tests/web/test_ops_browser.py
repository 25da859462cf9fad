"""The operator console in Debian's Chromium on a phone: an operator closes an unsecured-door incident, watches
an entry live, and every console page passes axe-core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pages import accessible
from playwright.async_api import Page, expect
from sqlalchemy import select
from test_ops_http import audit_of, incident, leave_unsecured, operator_id, relock

from threshold.notify.models import Notification
from threshold.sim.driver import TERMINAL
from threshold.sim.outcome import Result, enter, eventually

if TYPE_CHECKING:
    from conftest import Portal


async def dead_letters(portal: Portal) -> list[Notification]:
    """Notifications given up on, as stored now."""
    async with portal.h.app.state.sessions() as db:
        return list((await db.execute(select(Notification).where(Notification.status == "dead"))).scalars())


async def sign_in(page: Page, portal: Portal) -> None:
    """The operator signs in at /ops/signin and lands on the console."""
    await page.goto(f"{portal.base_url}/ops")
    await expect(page).to_have_url(f"{portal.base_url}/ops/signin?next=/ops")
    await accessible(page)
    await page.get_by_label("Email").fill(portal.h.world.operator_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{portal.base_url}/ops")


async def test_an_operator_closes_an_unsecured_door_incident(page: Page, portal: Portal) -> None:
    h = portal.h
    await sign_in(page, portal)
    await expect(page.get_by_text("No open incidents.")).to_be_visible()
    await accessible(page)

    inc = await leave_unsecured(h)
    # No reload: the incident arrives over server-sent events, with nobody on it yet.
    link = page.get_by_role("link", name="Door left unsecured at Home 1")
    await expect(link).to_be_visible(timeout=10_000)
    await expect(page.locator("#n-unack")).to_have_text("1")
    await expect(page.locator("#incident-list")).to_contain_text("Not acknowledged")
    await accessible(page)

    await link.click()
    await expect(page.get_by_role("heading", name="Door left unsecured at Home 1")).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("incident opened")
    await accessible(page)
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_have_text("Acknowledged: you are on it.")
    await expect(page.locator("#incident-ack")).to_contain_text("Operator (operator)")

    note = page.get_by_label("What was done (required to close)")
    await note.fill("Called the household; a neighbour locked the door")
    await page.get_by_role("button", name="Close incident").click()
    # Refused next to the note, the note kept, nothing saved.
    await expect(note).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-note")).to_contain_text("not confirmed locked")
    await expect(note).to_have_value("Called the household; a neighbour locked the door")
    assert (await incident(h, inc.home_id)).status == "open"
    await accessible(page)

    await relock(h)
    # The devices table is polled: the lock confirming shows without a reload.
    await expect(page.locator('td[data-device="lock"]')).to_have_text("locked", timeout=10_000)
    await page.get_by_role("button", name="Close incident").click()
    await expect(page.get_by_role("status")).to_have_text("Closed.")
    await expect(page.locator("#incident-note")).to_have_text("Called the household; a neighbour locked the door")
    await accessible(page)

    me = await operator_id(h)
    closed = await incident(h, inc.home_id)
    assert (closed.status, closed.close_note, closed.closed_by, closed.acknowledged_by) == (
        "closed", "Called the household; a neighbour locked the door", f"operator:{me}", f"operator:{me}")
    [record] = await audit_of(h, inc.home_id, "incident.closed")
    assert (record.actor, record.subject, record.data) == (
        f"operator:{me}", f"incident:{inc.id}", {"note": "Called the household; a neighbour locked the door"})
    assert [r.actor for r in await audit_of(h, inc.home_id, "incident.acknowledged")] == [f"operator:{me}"]

    await page.get_by_role("link", name="Console").click()
    await expect(page.get_by_text("No open incidents.")).to_be_visible()
    await page.get_by_role("navigation").get_by_role("link", name="Devices").click()
    await expect(page.get_by_role("heading", name="Device health")).to_be_visible()
    await accessible(page)
    await page.get_by_label("Show").select_option("offline")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("status")).to_have_text("0 devices: offline.")
    await accessible(page)


async def test_an_operator_watches_a_live_entry_and_replays_a_dead_letter(page: Page, portal: Portal) -> None:
    h = portal.h
    home = h.world.homes[1]
    h.mail.refuse_domains = frozenset({"demo.threshold.invalid"})
    await sign_in(page, portal)
    res = Result("ops-live")
    driver, sid = await enter(h, res, home)
    assert sid is not None, res.failures
    # The live session arrives without a reload, and its steps follow while the driver finishes.
    entry = page.get_by_role("link", name="Home 2: open")
    await expect(entry).to_be_visible(timeout=10_000)
    await expect(page.locator("#n-live")).to_have_text("1")
    await accessible(page)
    await entry.click()
    await expect(page.locator("#timeline")).to_contain_text("lock unlocked")
    await accessible(page)
    await driver.finish(sid)
    await expect(page.locator("#timeline")).to_contain_text("session finished")
    await expect(page.locator("#state")).to_have_text("done", timeout=15_000)
    assert (await driver.until(sid, TERMINAL))["state"] == "done"

    # The household's "delivered" message is refused by its mail server for good.

    async def delivered_dead() -> bool:
        return any(n.moment == "delivered" for n in await dead_letters(portal))

    assert await eventually(delivered_dead, timeout=10)
    h.mail.refuse_domains = frozenset()
    before = len(await dead_letters(portal))
    await page.get_by_role("navigation").get_by_role("link", name="Dead letters").click()
    await expect(page.locator("#dead-list")).to_contain_text("550")
    await accessible(page)
    replays = page.get_by_role("button", name="Replay")
    await expect(replays).to_have_count(before)
    await replays.first.click()
    await expect(page.get_by_role("status")).to_have_text("Queued again.")
    await expect(replays).to_have_count(before - 1)
    assert len(await dead_letters(portal)) == before - 1
    await accessible(page)
