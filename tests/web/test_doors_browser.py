"""Lock now in Debian's Chromium: a household follows its alert to the door and locks it (phone and desktop), and an
operator locks an incident's door from the console with a reason; every page axe-clean."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from pages import DESKTOP, PHONE, accessible, sized
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from threshold.access import reconcile
from threshold.access.models import Incident
from threshold.devices.simulated import Behaviour
from threshold.homes.models import Device
from threshold.notify.models import Notification
from threshold.sim.harness import Harness

if TYPE_CHECKING:
    from conftest import Portal



async def _left_open(h: Harness, index: int) -> Incident:
    """A door found unlocked whose relock jams, past its relock deadline: an open door_found_open incident."""
    home = h.world.homes[index]
    h.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    await h.gateway.set_state(home.lock, "unlocked")
    runner, hub = h.app.state.runner, h.app.state.hub
    lock_id = hub.by_address[home.lock].device_id
    for _ in range(500):
        # As the worker's loops do: rows flushed, a full reconcile (first sight of the open door).
        await hub.flush()
        await runner.reconcile()
        async with h.app.state.sessions() as db:
            row = await db.get(Device, lock_id)
        if row is not None and row.relock_due_at is not None and row.state == "jammed":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the relock never jammed")
    # The relock deadline passes with the door still jammed open: the alerts turn makes it an incident.
    h.clock.offset += reconcile.relock_window(h.settings) + timedelta(seconds=1)
    await runner.alerts()
    async with h.app.state.sessions() as db:
        found = (await db.execute(select(Incident).where(Incident.home_id == home.id))).scalars().first()
    assert found is not None and found.kind == "door_found_open"
    return found


async def _lock_url(h: Harness, incident: Incident, index: int) -> str:
    """The link the household's alert carries, as the dispatcher wrote it."""
    for _ in range(200):
        async with h.app.state.sessions() as db:
            rows = ((await db.execute(select(Notification).where(
                Notification.home_id == incident.home_id, Notification.topic == "door.found_open",
                Notification.channel == "email", Notification.recipient == h.world.homes[index].member_email)))
                    .scalars().all())
        if rows:
            return str(rows[0].data["lock_url"])
        await h.app.state.worker.dispatcher.run_once()
    raise AssertionError("the alert was never fanned out")


async def _sign_in(page: Page, portal: Portal, index: int, next_path: str) -> None:
    home = portal.h.world.homes[index]
    await page.goto(f"{portal.base_url}{next_path}")
    await page.get_by_label("Email").fill(home.member_email)
    await page.get_by_label("Password").fill(portal.h.world.password)
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_household_locks_the_door_from_its_alert(browser: Browser, portal: Portal,
                                                         viewport: ViewportSize) -> None:
    h, index = portal.h, 2
    home = h.world.homes[index]
    incident = await _left_open(h, index)
    link = urlsplit(await _lock_url(h, incident, index))
    assert link.path == f"/portal/homes/{home.id}/doors" and link.fragment == f"door-{incident.entry_point_id}"
    async with sized(browser, viewport) as page:
        await _sign_in(page, portal, index, f"/portal/homes/{home.id}")
        banner = page.get_by_role("alert").filter(has_text="did not lock again")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Next reminder")
        await accessible(page)
        h.gateway.devices[home.lock].behaviour = Behaviour()  # someone freed the bolt
        await banner.get_by_role("link", name="Lock it now").click()
        await expect(page).to_have_url(f"{portal.base_url}{link.path}#{link.fragment}")
        await accessible(page)
        door = page.locator(f"#{link.fragment}")
        await door.get_by_role("button", name="Lock now").click()
        await expect(door.get_by_role("status")).to_have_text("Locked: the lock confirmed it.")
        await expect(door).to_contain_text("secured again at")
        await accessible(page)
        assert h.gateway.state(home.lock) == "locked"
        await page.goto(f"{portal.base_url}/portal/homes/{home.id}")
        await expect(page.get_by_role("heading", name="Entries")).to_be_visible()
        await expect(page.locator(".alert-banner")).to_have_count(0)


async def test_an_operator_locks_an_incidents_door_with_a_reason(browser: Browser, portal: Portal) -> None:
    h, index = portal.h, 3
    incident = await _left_open(h, index)
    h.gateway.devices[h.world.homes[index].lock].behaviour = Behaviour()
    async with sized(browser, DESKTOP) as page:
        await page.goto(f"{portal.base_url}/ops/signin?next=/ops/incidents/{incident.id}")
        await page.get_by_label("Email").fill(h.world.operator_email)
        await page.get_by_label("Password").fill(h.world.password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("button", name="Lock the door now")).to_be_visible()
        await accessible(page)
        await page.get_by_label("Why (required, audited)").fill("household phoned: away for the week")
        await page.get_by_role("button", name="Lock the door now").click()
        await expect(page.get_by_role("status")).to_have_text("Locked: the lock confirmed it.")
        await accessible(page)
    assert h.gateway.state(h.world.homes[index].lock) == "locked"
