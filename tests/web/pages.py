"""What the web tests share: reading a form's hidden fields, a client with its own cookies, counting rows, the
accessibility check, and phone-sized browser contexts that never leave loopback."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from axe import axe, report
from playwright.async_api import Browser, Page, Route, ViewportSize, expect
from sqlalchemy import func, select

from threshold.sim.harness import Harness
from threshold.sim.neighbourhood import SimHome
from threshold.sim.outcome import eventually
from threshold.video import service as clips

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def hidden(page: str, name: str) -> str:
    """A hidden form field's value."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def client(h: Harness, base_url: str | None = None) -> httpx.AsyncClient:
    """A client with its own cookie jar: in-process, or over real HTTP when a base URL is given (streams need it:
    httpx's in-process transport waits for a response to end)."""
    if base_url:
        return httpx.AsyncClient(base_url=base_url, timeout=30)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url="http://threshold.test", timeout=30)


async def count(h: Harness, model: type, *where: Any) -> int:
    """Rows in a table (matching `where`, if given)."""
    async with h.app.state.sessions() as db:
        q = select(func.count()).select_from(model)
        if where:
            q = q.where(*where)
        return int((await db.execute(q)).scalar_one())


async def accessible(page: Page) -> None:
    """No WCAG 2 A/AA violation on the page as it stands."""
    violations = await axe(page)
    assert violations == [], report(violations)


async def loopback_only(route: Route) -> None:
    """Let requests to this machine through; tests must not depend on the internet."""
    if urlsplit(route.request.url).hostname in LOOPBACK:
        await route.continue_()
    else:
        await route.abort("blockedbyclient")


@asynccontextmanager
async def sized(browser: Browser, viewport: ViewportSize, at: SimHome | None = None) -> AsyncIterator[Page]:
    """A page in a context of its own (no cookies from others) of this size, loopback only; standing at `at` with
    location allowed, if given."""
    if at is None:
        context = await browser.new_context(viewport=viewport)
    else:
        context = await browser.new_context(viewport=viewport, geolocation={"latitude": at.lat, "longitude": at.lon},
                                            permissions=["geolocation"])
    context.set_default_timeout(10_000)
    await context.route("**/*", loopback_only)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@asynccontextmanager
async def phone(browser: Browser, at: SimHome | None = None) -> AsyncIterator[Page]:
    """A phone-sized page (see `sized`)."""
    async with sized(browser, PHONE, at) as page:
        yield page


async def plays_its_clip(page: Page, h: Harness, session_id: str) -> None:
    """Once the entry's clip is sealed (after the post-roll), the entry page, reloaded, plays it: H.264 in MP4."""

    async def sealed() -> bool:
        async with h.app.state.sessions() as db:
            clip = await clips.clip_of_session(db, uuid.UUID(session_id))
        return clip is not None and clip.status == "sealed"

    assert await eventually(sealed, timeout=20)
    await page.reload()
    video = page.get_by_label("Recording of the entry")
    await expect(video).to_be_visible(timeout=15_000)
    await accessible(page)
    playable = await video.evaluate("v => v.canPlayType('video/mp4; codecs=\"avc1.42E01E\"')")
    assert playable in ("probably", "maybe")
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function("() => document.querySelector('video').currentTime > 0.5", timeout=15_000)
    assert await video.evaluate("v => v.readyState") >= 2
