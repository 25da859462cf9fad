"""Screenshots of the main pages for the README: a simulated neighbourhood, recorded deliveries, a guest, an
incident, Debian's Chromium on a phone-sized screen. Run: .venv/bin/python scripts/screenshots.py (writes
docs/screens/*.png)."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from threshold.devices.simulated import Behaviour
from threshold.sim.driver import deliver
from threshold.sim.evidence import settled
from threshold.sim.harness import Harness, running
from threshold.sim.portal_seed import seed_portal

OUT = Path(__file__).resolve().parents[1] / "docs" / "screens"
PHONE = {"width": 390, "height": 844}


async def phone(browser: Browser) -> Page:
    """A fresh phone-sized page (its own cookies)."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2)  # type: ignore[arg-type]
    return await context.new_page()


async def sign_in(page: Page, base: str, path: str, email: str, password: str) -> None:
    """Sign in through one surface's form."""
    await page.goto(f"{base}{path}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state("networkidle")


async def household(browser: Browser, h: Harness, base: str, session_id: str | None) -> None:
    """The household's pages."""
    home = h.world.homes[0]
    page = await phone(browser)
    await page.goto(f"{base}/signin")
    await page.screenshot(path=OUT / "signin.png")
    await sign_in(page, base, "/signin", home.member_email, h.world.password)
    await page.screenshot(path=OUT / "homes.png", full_page=True)
    await page.goto(f"{base}/portal/homes/{home.id}")
    await page.screenshot(path=OUT / "home.png", full_page=True)
    if session_id:
        await page.goto(f"{base}/portal/homes/{home.id}/sessions/{session_id}")
        await page.get_by_label("Recording of the entry").evaluate(
            "v => new Promise(r => { v.currentTime = 1.5; v.onseeked = r; })")
        await page.screenshot(path=OUT / "entry.png", full_page=True)
    await page.goto(f"{base}/portal/homes/{home.id}/rules")
    await page.screenshot(path=OUT / "rules.png", full_page=True)
    await page.goto(f"{base}/portal/homes/{home.id}/guests")
    await page.get_by_text("Calendar").first.click()
    await page.screenshot(path=OUT / "guests.png", full_page=True)
    await page.goto(f"{base}/portal/settings/notifications")
    await page.screenshot(path=OUT / "notifications.png")


async def driver(browser: Browser, h: Harness, base: str) -> None:
    """The driver's stops, and one stop ready to scan."""
    home = h.world.homes[2]
    await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-SCREEN-2")
    page = await phone(browser)
    await page.context.grant_permissions(["geolocation"])
    await page.context.set_geolocation({"latitude": home.lat, "longitude": home.lon})
    await sign_in(page, base, "/driver/signin", h.world.drivers[0][1], h.world.password)
    await page.screenshot(path=OUT / "driver-stops.png", full_page=True)
    await page.locator("ol.stops a").first.click()
    await page.get_by_label("Package barcode").fill("PKG-SCREEN-2")
    await page.screenshot(path=OUT / "driver-stop.png", full_page=True)


async def operator(browser: Browser, h: Harness, base: str) -> None:
    """The console with an unsecured door, and the incident."""
    home = h.world.homes[1]
    h.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    await deliver(h.partner, await h.driver(1), h.world.drivers[1][0], home)
    page = await phone(browser)
    await sign_in(page, base, "/ops/signin", h.world.operator_email, h.world.password)
    await page.wait_for_selector("#incident-list a", timeout=15_000)
    await page.screenshot(path=OUT / "ops.png", full_page=True)
    await page.locator("#incident-list a").first.click()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=OUT / "ops-incident.png", full_page=True)


async def doors(browser: Browser, h: Harness, base: str) -> None:
    """The household of the unsecured door: the alert on its home page, and its Doors page with Lock now."""
    home = h.world.homes[1]
    page = await phone(browser)
    await sign_in(page, base, "/signin", home.member_email, h.world.password)
    await page.goto(f"{base}/portal/homes/{home.id}")
    await page.wait_for_selector(".alert-banner", timeout=15_000)
    await page.screenshot(path=OUT / "alert.png")
    await page.goto(f"{base}/portal/homes/{home.id}/doors")
    await page.screenshot(path=OUT / "doors.png", full_page=True)


async def guest(browser: Browser, h: Harness, base: str) -> None:
    """The pet sitter's link page, outside their visit."""
    page = await phone(browser)
    await page.goto(f"{base}/g/{h.world.guests[0][1]}")
    await page.screenshot(path=OUT / "guest.png", full_page=True)


async def main() -> None:
    """Serve a neighbourhood, make deliveries, and photograph what each kind of person sees."""
    OUT.mkdir(parents=True, exist_ok=True)
    async with running(video=True, homes=3) as h:
        async with h.app.state.sessions() as db:
            await seed_portal(db, h.world, h.settings)
            await db.commit()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        h.settings.public_url = base
        server = uvicorn.Server(uvicorn.Config(h.app, log_level="warning", lifespan="off",
                                               timeout_graceful_shutdown=2))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], h.world.homes[0], dwell=2.0)
        await settled(h, timeout=30)
        h.clock.offset += timedelta(minutes=1)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            await household(browser, h, base, run.session_id)
            await driver(browser, h, base)
            await operator(browser, h, base)
            await doors(browser, h, base)
            await guest(browser, h, base)
            await browser.close()
        server.should_exit = True
        await serving
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
