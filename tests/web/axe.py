"""Accessibility checks in the browser with axe-core (from node_modules, installed by `make setup`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
RUN = "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => r.violations)"


@cache
def _source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is missing at {AXE_JS}: run `make setup` (it runs npm ci)")
    return AXE_JS.read_text(encoding="utf-8")


async def axe(page: Page) -> list[dict[str, Any]]:
    """The WCAG 2 A and AA violations axe-core finds on the page as it stands; empty when there are none."""
    # Through the DevTools protocol rather than page.add_script_tag: a page whose Content-Security-Policy
    # forbids inline script (as the portal's pages should) refuses a script tag, but not the debugger.
    cdp = await page.context.new_cdp_session(page)
    try:
        loaded = await cdp.send("Runtime.evaluate", {"expression": _source()})
    finally:
        await cdp.detach()
    if "exceptionDetails" in loaded:
        pytest.fail(f"axe-core did not load into the page: {loaded['exceptionDetails'].get('text')}")
    violations: list[dict[str, Any]] = await page.evaluate(RUN)
    return violations


def _selector(target: Any) -> str:
    # A target inside a shadow root or a frame is a list of selectors, outermost first.
    return " >>> ".join(target) if isinstance(target, list) else str(target)


def report(violations: list[dict[str, Any]], nodes: int = 3) -> str:
    """An assertion message: each violation's id, impact and help, and where its first `nodes` offenders are."""
    lines = [f"{len(violations)} accessibility violation(s):"]
    for v in violations:
        where = ", ".join(_selector(n["target"][0]) for n in v["nodes"][:nodes] if n["target"])
        more = f" (+{len(v['nodes']) - nodes} more)" if len(v["nodes"]) > nodes else ""
        lines.append(f"- {v['id']} [{v['impact']}] {v['help']}: {where}{more}")
    return "\n".join(lines)
