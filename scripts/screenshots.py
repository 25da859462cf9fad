"""Screenshots of the portal's main pages for the README: a simulated neighbourhood, one recorded delivery,
Debian's Chromium. Run: .venv/bin/python scripts/screenshots.py (writes docs/screens/*.png)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import uvicorn
from playwright.async_api import async_playwright

from threshold.sim.driver import deliver
from threshold.sim.evidence import settled
from threshold.sim.harness import running

OUT = Path(__file__).resolve().parents[1] / "docs" / "screens"


async def main() -> None:
    """Serve the portal, make one delivery, and photograph the pages a household sees."""
    OUT.mkdir(parents=True, exist_ok=True)
    async with running(video=True, homes=3) as h:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(h.app, log_level="warning", lifespan="off",
                                               timeout_graceful_shutdown=2))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        home = h.world.homes[1]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=2.0)
        await settled(h, timeout=30)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            await page.goto(f"{base}/signin")
            await page.screenshot(path=OUT / "signin.png")
            await page.get_by_label("Email").fill(home.member_email)
            await page.get_by_label("Password").fill(h.world.password)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{base}/portal")
            await page.screenshot(path=OUT / "homes.png", full_page=True)
            await page.goto(f"{base}/portal/homes/{home.id}/sessions/{run.session_id}")
            await page.get_by_label("Recording of the entry").evaluate(
                "v => new Promise(r => { v.currentTime = 1.5; v.onseeked = r; })")
            await page.screenshot(path=OUT / "entry.png", full_page=True)
            await page.goto(f"{base}/portal/settings/notifications")
            await page.screenshot(path=OUT / "notifications.png")
            await browser.close()
        server.should_exit = True
        await serving
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
