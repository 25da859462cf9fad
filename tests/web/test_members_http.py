"""The portal's Members page and the invitee's join page over HTTP: an owner invites, the invitee joins once with
the page's own token, a member's owner-only changes are refused (owner_only) and audited, and each member's
notification page is their own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pages import client, count, hidden
from sqlalchemy import select

from threshold.audit.models import AuditRecord
from threshold.homes.models import Member
from threshold.sim.harness import Harness, running

PASSWORD = "correct horse battery"


@asynccontextmanager
async def signed_in(h: Harness, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the portal."""
    async with client(h) as b:
        page = await b.get("/signin")
        r = await b.post("/signin", data={"email": email, "password": password, "pre": hidden(page.text, "pre"),
                                          "next": "/portal"})
        assert r.status_code == 303, r.text
        yield b


async def _invite(h: Harness, b: httpx.AsyncClient, email: str) -> str:
    page = await b.get("/portal/members")
    r = await b.post("/portal/members/invite", data={"csrf": hidden(page.text, "csrf"), "email": email,
                                                     "name": "Bo Lin", "role": "member"})
    assert r.status_code == 303 and r.headers["location"] == "/portal/members?done=invited", r.text
    mail = await h.mail.wait_for(lambda m: email in m.rcpt_tos, timeout=30)
    found = re.search(r"/join/([A-Za-z0-9_-]+)", mail.text)
    assert found, mail.text
    return found.group(1)


async def test_an_owner_invites_and_the_invitee_joins_once_with_the_join_pages_own_token() -> None:
    async with running(homes=1) as h, signed_in(h, h.world.homes[0].member_email, h.world.password) as owner:
        page = await owner.get("/portal/members")
        assert page.status_code == 200 and "Invite someone" in page.text
        bad = await owner.post("/portal/members/invite", data={"csrf": hidden(page.text, "csrf"), "email": "nope",
                                                               "name": "", "role": "member"})
        assert bad.status_code == 422 and 'id="e-email"' in bad.text and 'id="e-name"' in bad.text
        token = await _invite(h, owner, "bo@example.com")
        listed = await owner.get("/portal/members?done=invited")
        assert "bo@example.com" in listed.text and "pending" in listed.text and token not in listed.text
        async with client(h) as invitee:
            join = await invitee.get(f"/join/{token}")
            assert join.status_code == 200 and "bo@example.com" in join.text
            assert join.headers["cache-control"] == "no-store" and join.headers["referrer-policy"] == "no-referrer"
            forged = await invitee.post(f"/join/{token}", data={"name": "Bo", "password": PASSWORD, "pre": "x"})
            assert forged.status_code == 403
            pre = hidden(join.text, "pre")
            weak = await invitee.post(f"/join/{token}", data={"name": "Bo", "password": "short", "pre": pre})
            assert weak.status_code == 422 and 'id="e-password"' in weak.text
            assert await count(h, Member, Member.email == "bo@example.com") == 0
            ok = await invitee.post(f"/join/{token}", data={"name": "Bo", "password": PASSWORD, "pre": pre})
            assert ok.status_code == 303 and "thr_session=" in ok.headers["set-cookie"]
            assert (await invitee.get("/portal")).status_code == 200
        async with client(h) as late:
            again = await late.get(f"/join/{token}")
            assert again.status_code == 410 and "already used" in again.text
            unknown = await late.get("/join/" + "z" * 32)
            assert unknown.status_code == 404


async def test_a_members_owner_only_changes_are_refused_with_a_stable_code_and_audited() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        async with signed_in(h, home.member_email, h.world.password) as owner:
            token = await _invite(h, owner, "bo@example.com")
        async with client(h) as b:
            join = await b.get(f"/join/{token}")
            await b.post(f"/join/{token}", data={"name": "Bo", "password": PASSWORD, "pre": hidden(join.text, "pre")})
        async with signed_in(h, "bo@example.com", PASSWORD) as bo:
            page = await bo.get("/portal/members")
            assert page.status_code == 200 and "Invite someone" not in page.text and "Make owner" not in page.text
            csrf = hidden(page.text, "csrf")
            for path, data in ((f"/portal/homes/{home.id}/rules", {"in_home": "on"}),
                               (f"/portal/homes/{home.id}/devices/new", {"kind": "lock"}),
                               (f"/portal/homes/{home.id}/guests/new", {}),
                               ("/portal/members/invite", {"email": "cy@example.com", "name": "Cy"})):
                r = await bo.post(path, data={"csrf": csrf, **data})
                assert r.status_code == 403, (path, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["code"] == "owner_only"
            # A browser asks for HTML and is shown a page in words, with the same status.
            page_refusal = await bo.post(f"/portal/homes/{home.id}/rules", data={"csrf": csrf},
                                         headers={"accept": "text/html,application/xhtml+xml"})
            assert page_refusal.status_code == 403 and page_refusal.headers["content-type"].startswith("text/html")
            assert "Only an owner" in page_refusal.text
            # Without the page's token the guard leaves the refusal to the page's own CSRF check.
            assert (await bo.post(f"/portal/homes/{home.id}/rules", data={"in_home": "on"})).status_code == 403
        async with h.app.state.sessions() as db:
            rows = (await db.execute(select(AuditRecord).where(AuditRecord.home_id == home.id,
                                                               AuditRecord.action == "access.refused"))).scalars()
            assert sum(1 for r in rows if r.data.get("reason") == "owner_only") == 5


async def test_the_notifications_page_saves_the_signed_in_members_own_choices() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        async with signed_in(h, home.member_email, h.world.password) as owner:
            token = await _invite(h, owner, "bo@example.com")
        async with client(h) as b:
            join = await b.get(f"/join/{token}")
            await b.post(f"/join/{token}", data={"name": "Bo", "password": PASSWORD, "pre": hidden(join.text, "pre")})
        async with signed_in(h, "bo@example.com", PASSWORD) as bo:
            page = await bo.get("/portal/settings/notifications")
            r = await bo.post("/portal/settings/notifications", data={"csrf": hidden(page.text, "csrf"),
                                                                       "delivered": "sms"})
            assert r.status_code == 303
            mine = await bo.get(r.headers["location"])
            assert re.search(r'name="delivered" value="sms"\s+checked', mine.text)
        async with signed_in(h, home.member_email, h.world.password) as owner:
            theirs = await owner.get("/portal/settings/notifications")
            assert re.search(r'name="delivered" value="email"\s+checked', theirs.text)
            assert not re.search(r'name="delivered" value="sms"\s+checked', theirs.text)
