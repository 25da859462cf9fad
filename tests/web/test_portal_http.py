"""The household portal over HTTP: sign-up and sign-in, CSRF, session fixation, the login rate limit, and one
household never reading another's pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from pages import client, count, hidden

from threshold.homes.models import Household, Member
from threshold.notify.models import MemberNotificationPreference
from threshold.sim.driver import deliver
from threshold.sim.harness import running


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Fill in and send the sign-in form as a browser would."""
    page = await client.get("/signin")
    return await client.post("/signin", data={"email": email, "password": password,
                                              "pre": hidden(page.text, "pre"), "next": "/portal"})


async def test_sign_up_validates_every_field_on_the_server_and_saves_nothing_on_error() -> None:
    async with running(homes=1) as h, client(h) as b:
        page = await b.get("/signup")
        pre = hidden(page.text, "pre")
        households, members = await count(h, Household), await count(h, Member)
        r = await b.post("/signup", data={"household": "", "name": "Ann", "email": "not-an-email",
                                          "password": "short", "pre": pre})
        assert r.status_code == 422
        assert 'id="e-household"' in r.text and 'id="e-email"' in r.text and 'id="e-password"' in r.text
        assert 'aria-invalid="true"' in r.text and 'value="Ann"' in r.text
        assert (await count(h, Household), await count(h, Member)) == (households, members)
        r = await b.post("/signup", data={"household": "The Lins", "name": "Ann Lin", "email": "ann@example.com",
                                          "password": "correct horse battery", "pre": pre})
        assert r.status_code == 303 and r.headers["location"] == "/portal"
        cookie = r.headers["set-cookie"]
        assert "thr_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        portal = await b.get("/portal")
        assert portal.status_code == 200 and "Your homes" in portal.text
        r = await b.post("/signup", data={"household": "Again", "name": "Ann", "email": "ANN@example.com",
                                          "password": "correct horse battery", "pre": hidden(portal.text, "csrf")})
        assert r.status_code == 403  # the sign-up form's own token, not the portal's
        page = await b.get("/signup")
        r = await b.post("/signup", data={"household": "Again", "name": "Ann", "email": "ANN@example.com",
                                          "password": "correct horse battery", "pre": hidden(page.text, "pre")})
        assert r.status_code == 422 and "already has an account" in r.text


async def test_a_forged_sign_in_without_the_form_token_is_refused() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        r = await b.post("/signin", data={"email": home.member_email, "password": h.world.password,
                                          "pre": "forged", "next": "/portal"})
        assert r.status_code == 403 and "thr_session" not in r.headers.get("set-cookie", "")


async def test_signing_in_replaces_any_session_token_the_browser_had() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        b.cookies.set("thr_session", "attacker-chosen-token", domain="threshold.test")
        r = await sign_in(b, home.member_email, h.world.password)
        assert r.status_code == 303
        fresh = r.cookies.get("thr_session")
        assert fresh and fresh != "attacker-chosen-token"
        async with client(h) as attacker:
            attacker.cookies.set("thr_session", "attacker-chosen-token", domain="threshold.test")
            r = await attacker.get("/portal")
            assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_wrong_passwords_are_rate_limited_even_when_the_right_one_follows() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        for _ in range(5):
            r = await sign_in(b, home.member_email, "wrong password!")
            assert r.status_code == 401 and "Wrong email or password" in r.text
        r = await sign_in(b, home.member_email, h.world.password)
        assert r.status_code == 429 and "Too many failed attempts" in r.text
        h.clock.offset += timedelta(minutes=16)
        r = await sign_in(b, home.member_email, h.world.password)
        assert r.status_code == 303


async def test_settings_change_only_with_the_csrf_token_and_a_tampered_form_saves_nothing() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = await b.get("/portal/settings/notifications")
        assert page.status_code == 200
        csrf = hidden(page.text, "csrf")
        r = await b.post("/portal/settings/notifications", data={"delivered": "sms"})
        assert r.status_code == 403
        r = await b.post("/portal/settings/notifications", data={"delivered": "sms", "csrf": "x" * 43})
        assert r.status_code == 403
        assert await count(h, MemberNotificationPreference) == 0
        r = await b.post("/portal/settings/notifications", data={"delivered": ["sms", "pigeon"], "csrf": csrf})
        assert r.status_code == 422 and "Unknown channel" in r.text
        assert await count(h, MemberNotificationPreference) == 0
        r = await b.post("/portal/settings/notifications", data={"delivered": "sms", "csrf": csrf})
        assert r.status_code == 303
        page = await b.get(r.headers["location"])
        assert "Saved." in page.text
        assert re.search(r'name="delivered" value="sms"\s+checked', page.text)
        assert not re.search(r'name="delivered" value="email"\s+checked', page.text)


async def test_one_household_cannot_open_another_households_pages_by_changing_ids() -> None:
    async with running(homes=2) as h, client(h) as b:
        mine, theirs = h.world.homes[0], h.world.homes[1]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], theirs, dwell=0.1)
        assert run.outcome == "completed"
        assert (await sign_in(b, mine.member_email, h.world.password)).status_code == 303
        assert (await b.get(f"/portal/homes/{mine.id}")).status_code == 200
        for path in (f"/portal/homes/{theirs.id}", f"/portal/homes/{theirs.id}/sessions/{run.session_id}",
                     f"/portal/homes/{mine.id}/sessions/{run.session_id}",
                     f"/portal/homes/{theirs.id}/sessions/{run.session_id}/clip"):
            r = await b.get(path)
            assert r.status_code == 404, path
        portal = (await b.get("/portal")).text
        assert "Home 1" in portal and "Home 2" not in portal


async def test_the_entry_page_shows_every_step_with_its_time() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = await b.get(f"/portal/homes/{home.id}")
        assert f"/portal/homes/{home.id}/sessions/{run.session_id}" in page.text
        entry = await b.get(f"/portal/homes/{home.id}/sessions/{run.session_id}")
        assert entry.status_code == 200
        for step in ("Asked to come in; every check passed", "Camera recording", "Door unlocked", "Door locked",
                     "Finished: the door is locked"):
            assert step in entry.text, step
        # The code's own words are one click away, inside the technical detail.
        details = entry.text.split('<details class="technical">', 1)
        assert len(details) == 2 and "lock.unlocked" in details[1] and "lock.unlocked" not in details[0]
        assert len(re.findall(r"<time datetime=", entry.text)) >= 10


async def test_a_live_entry_streams_its_steps_as_they_happen(portal: Any) -> None:
    h = portal.h  # served over real HTTP: an in-process transport would wait for the stream to end
    home = h.world.homes[0]
    driver = await h.driver(0)
    r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-SSE-1")
    r = await driver.ask(r.json()["id"], "PKG-SSE-1", home.lat, home.lon)
    session_id = r.json()["id"]
    assert r.json()["state"] == "open"
    async with httpx.AsyncClient(base_url=portal.base_url, timeout=30) as b:
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = await b.get(f"/portal/homes/{home.id}/sessions/{session_id}")
        assert 'sse-connect="' in page.text
        after = re.search(r"steps\?after=(\d+)", page.text)
        assert after
        got = ""
        async with b.stream("GET", f"/portal/homes/{home.id}/sessions/{session_id}/steps",
                            params={"after": after.group(1)}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert (await driver.finish(session_id)).status_code == 200
            async for chunk in stream.aiter_text():
                got += chunk
                if "Door locked" in got and "event: story" in got:
                    break
        assert "Done inside and out of the door" in got and "event: step" in got
