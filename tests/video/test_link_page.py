"""A clip link from a message that does not work: a browser gets a page in plain words with a way to sign in,
an API client or a player still gets problem+json, and the refusal is on record either way."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from threshold.audit.models import AuditRecord
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def refused(h: Harness, home_id: uuid.UUID) -> list[str]:
    """The codes of the home's refused clip views, oldest first."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord).where(AuditRecord.home_id == home_id, AuditRecord.action == "clip.refused")
        return [r.data["code"] for r in (await db.execute(q.order_by(AuditRecord.seq))).scalars()]


async def a_link(h: Harness) -> tuple[uuid.UUID, str, dict[str, str]]:
    """A delivered entry's signed clip link (path and query), made by its household."""
    home = h.world.homes[0]
    run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
    assert run.outcome == "completed"
    r = await h.client.post(f"/v1/homes/{home.id}/sessions/{run.session_id}/links",
                            headers=await h.member_headers(0), json={"what": "clip", "minutes": 5})
    assert r.status_code == 201, r.text
    parts = urlsplit(r.json()["url"])
    return home.id, parts.path, dict(p.split("=", 1) for p in parts.query.split("&"))


async def test_a_bad_or_expired_link_opened_in_a_browser_is_a_page_with_a_way_to_sign_in() -> None:
    async with running(homes=1) as h:
        home_id, path, q = await a_link(h)
        r = await h.client.get(path, params={**q, "s": q["s"][:-2] + "AA"}, headers=BROWSER)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        assert "This link does not work" in r.text and 'href="/signin?next=/portal"' in r.text
        assert "bad_link" not in r.text and '"code"' not in r.text

        h.clock.offset += timedelta(minutes=6)
        r = await h.client.get(path, params=q, headers=BROWSER)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        assert "This link has expired" in r.text and "Sign in" in r.text
        assert await refused(h, home_id) == ["bad_link", "link_expired"]


async def test_the_same_links_still_answer_an_api_client_or_a_player_with_problem_json() -> None:
    async with running(homes=1) as h:
        home_id, path, q = await a_link(h)
        for accept in ({}, {"accept": "application/json"}, {"accept": "video/*,*/*;q=0.8"}):
            r = await h.client.get(path, params={**q, "s": q["s"][:-2] + "AA"}, headers=accept)
            assert r.status_code == 403, accept
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "bad_link"
        live = path.replace("/clip", "/live")
        r = await h.client.get(live, params=q, headers={"accept": "application/json"})
        assert r.status_code == 403 and r.json()["code"] == "bad_link"  # a clip link is no live link
        r = await h.client.get(live, params=q, headers=BROWSER)
        assert r.status_code == 403 and "This link does not work" in r.text
        assert await refused(h, home_id) == ["bad_link"] * 3  # the live view's refusals are live.refused


async def test_a_good_link_to_an_entry_without_a_clip_says_so_in_words() -> None:
    async with running(homes=1) as h:  # no video: the entry has no clip
        _, path, q = await a_link(h)
        r = await h.client.get(path, params=q, headers=BROWSER)
        assert r.status_code == 404 and "The camera did not record this entry." in r.text
        r = await h.client.get(path, params=q)
        assert r.status_code == 404 and r.json()["code"] == "no_clip"
