"""Fixtures for browser tests: Debian's Chromium driven by Playwright, and a threshold served over real HTTP.

The browser is started once per session and a Playwright connection belongs to the loop that opened it, so
these fixtures, and every test that uses them, run in the session's event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from pages import phone
from playwright.async_api import Browser, Page, async_playwright
from pytest_asyncio import is_async_test

from threshold.sim.harness import Harness, running

WEB = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
# Async fixtures in another loop than their test fail in odd ways: with these, use `portal.h`, not `harness`.
IN_SESSION_LOOP = frozenset({"browser", "page", "portal", "video_portal"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that use these fixtures in the session's loop, where the shared browser lives."""
    in_session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item) and WEB in item.path.parents and IN_SESSION_LOOP & set(item.fixturenames):
            item.add_marker(in_session_loop, append=False)


@dataclass(frozen=True, slots=True)
class Portal:
    """A threshold served over HTTP on loopback, and the harness behind it (world, clock, mail)."""

    base_url: str
    h: Harness


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium, which `make test` installs (scripts/ensure-chromium.sh)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is required at {CHROMIUM} for browser tests: run `make test` "
                    "(it installs Debian's chromium) or scripts/ensure-chromium.sh")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole run; each test gets a fresh context from it."""
    async with async_playwright() as pw:
        # Root cannot use Chromium's sandbox; the pages are our own, on loopback.
        chromium = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh context the size of a phone: no cookies or storage from other tests, loopback only
    (FastAPI's /docs, for one, would load its scripts from a CDN)."""
    async with phone(browser) as fresh:
        yield fresh


@asynccontextmanager
async def serving(**options: object) -> AsyncIterator[Portal]:
    """A threshold on a fresh simulated neighbourhood (SQLite), served by uvicorn on 127.0.0.1."""
    async with running(**options) as h:  # type: ignore[arg-type]
        # Bound here and handed to uvicorn, so no other process can take the port in between.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # The harness has entered the app's lifespan already; uvicorn must not enter it again.
        config = uvicorn.Config(h.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                    pytest.fail("uvicorn stopped before it started serving the portal")
                await asyncio.sleep(0.01)
            yield Portal(f"http://127.0.0.1:{port}", h)
        finally:
            server.should_exit = True
            await task
            sock.close()


@pytest_asyncio.fixture(loop_scope="session")
async def portal() -> AsyncIterator[Portal]:
    """The portal on simulated homes, without video."""
    async with serving() as p:
        yield p


@pytest_asyncio.fixture(loop_scope="session")
async def video_portal() -> AsyncIterator[Portal]:
    """The portal on simulated homes whose cameras stream real video and whose entries are recorded."""
    async with serving(video=True, homes=2) as p:
        yield p
