"""The browser-test chain works end to end: Chromium, a threshold over HTTP, htmx from npm, the axe checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from axe import axe, report
from playwright.async_api import Page, expect

from threshold import __version__

if TYPE_CHECKING:
    from conftest import Portal  # tests/web/conftest.py

ROOT = Path(__file__).resolve().parents[2]
HTMX = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
SSE = ROOT / "node_modules" / "htmx-ext-sse" / "dist" / "sse.min.js"


def _doc(body: str, head: str = "") -> str:
    return f'<!doctype html><html lang="en"><head><title>test page</title>{head}</head><body>{body}</body></html>'


def _locked(name: str) -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version: str = lock["packages"][f"node_modules/{name}"]["version"]
    return version


async def test_browser_reads_health_of_the_served_portal(page: Page, portal: Portal) -> None:
    response = await page.goto(f"{portal.base_url}/healthz")
    assert response is not None and response.ok
    health = await response.json()
    assert health["status"] == "ok" and health["version"] == __version__
    await expect(page.locator("body")).to_contain_text('"status":"ok"')


async def test_docs_page_is_served_without_reaching_the_internet(page: Page, portal: Portal) -> None:
    # Its Swagger UI scripts come from a CDN, which the page fixture blocks: the HTML itself is ours.
    response = await page.goto(f"{portal.base_url}/docs")
    assert response is not None and response.ok
    await expect(page).to_have_title("threshold - Swagger UI")
    assert await page.locator("#swagger-ui").count() == 1


async def test_htmx_from_npm_swaps_a_portal_response_into_the_page(page: Page, portal: Portal) -> None:
    assert SSE.is_file(), f"{SSE} is missing: run `make setup`"
    await page.goto(f"{portal.base_url}/healthz")  # same origin for the request htmx makes
    # As in base.html: htmx's own indicator <style> would be refused by the Content-Security-Policy.
    config = """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>"""
    await page.set_content(_doc('<main><button hx-get="/healthz" hx-target="#out">Check</button>'
                                '<pre id="out"></pre></main>', config))
    # As the portal's pages load it: from threshold, since the Content-Security-Policy refuses inline script.
    assert HTMX.is_file(), f"{HTMX} is missing: run `make setup`"
    await page.add_script_tag(url=f"{portal.base_url}/static/vendor/htmx.min.js")
    assert await page.evaluate("htmx.version") == _locked("htmx.org")
    await page.get_by_role("button", name="Check").click()
    await expect(page.locator("#out")).to_contain_text('"status":"ok"')


async def test_axe_finds_no_violation_on_a_clean_page(page: Page) -> None:
    await page.set_content(_doc("<main><h1>ok</h1><button>Go</button></main>"))
    violations = await axe(page)
    assert violations == [], report(violations)


async def test_axe_finds_an_unlabelled_input_and_an_image_without_alt(page: Page) -> None:
    await page.set_content(_doc('<main><h1>bad</h1><input id="pin"><img src="data:,"></main>'))
    violations = await axe(page)
    assert {v["id"] for v in violations} >= {"label", "image-alt"}, report(violations)
    message = report(violations)
    assert "label [critical]" in message and "#pin" in message
