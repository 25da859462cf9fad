"""The household enrols a home and its devices, sets its rules, approves a waiting driver and reads the audit
trail: every form checked on the server, nothing half-saved, another household's home out of reach."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from pages import client, count, hidden
from sqlalchemy import select
from test_portal_http import sign_in

from threshold.audit.models import AuditRecord
from threshold.homes.models import Device, EntryPoint, Home, HomeRules
from threshold.sim.harness import Harness, running


async def sign_up(b: httpx.AsyncClient, email: str) -> str:
    """A new household; returns the portal's CSRF token."""
    page = await b.get("/signup")
    r = await b.post("/signup", data={"household": "The Okafors", "name": "Ada Okafor", "email": email,
                                      "password": "correct horse battery", "pre": hidden(page.text, "pre")})
    assert r.status_code == 303
    return hidden((await b.get("/portal")).text, "csrf")


async def actions(h: Harness, home_id: Any) -> list[str]:
    """The home's audit actions in order."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord.action).where(AuditRecord.home_id == home_id).order_by(AuditRecord.seq)
        return list((await db.execute(q)).scalars())


async def test_a_household_enrols_a_home_and_its_devices_with_errors_next_to_fields() -> None:
    async with running(homes=1) as h, client(h) as b:
        csrf = await sign_up(b, "ada@example.com")
        homes = await count(h, Home)
        form = {"csrf": csrf, "label": "", "address": "x", "timezone": "Mars/Olympus", "lat": "95", "lon": "east"}
        r = await b.post("/portal/homes/new", data=form)
        assert r.status_code == 422
        for name in ("label", "address", "timezone", "lat", "lon", "entries"):
            assert f'id="e-{name}"' in r.text, name
        assert await count(h, Home) == homes
        r = await b.post("/portal/homes/new", data={**form, "csrf": "forged", "label": "Flat"})
        assert r.status_code == 403 and await count(h, Home) == homes
        good = {"csrf": csrf, "label": "Flat 3", "address": "3 Kiln Lane, Leeds LS1 4AB",
                "timezone": "Europe/London", "lat": "53.7997", "lon": "-1.5492", "entries": ["front_door", "garage"]}
        r = await b.post("/portal/homes/new", data=good)
        assert r.status_code == 303
        home_id = re.search(r"/portal/homes/([0-9a-f-]+)/devices/new", r.headers["location"])
        assert home_id
        async with h.app.state.sessions() as db:
            home = await db.get(Home, uuid.UUID(home_id.group(1)))
            assert home is not None and home.timezone == "Europe/London"
            doors = list((await db.execute(select(EntryPoint).where(EntryPoint.home_id == home.id))).scalars())
            rules = await db.get(HomeRules, home.id)
        assert sorted(d.kind for d in doors) == ["front_door", "garage"]
        assert rules is not None and rules.in_home_enabled is False
        front = next(d for d in doors if d.kind == "front_door")
        page = await b.get(r.headers["location"])
        assert "The home is enrolled" in page.text
        devices = await count(h, Device)
        # A lock must sit at a way in; the refusal shows next to that field and adds nothing.
        r = await b.post(f"/portal/homes/{home.id}/devices/new",
                         data={"csrf": csrf, "kind": "lock", "adapter": "zigbee2mqtt", "address": "front_lock"})
        assert r.status_code == 422 and 'id="e-entry_point"' in r.text and await count(h, Device) == devices
        r = await b.post(f"/portal/homes/{home.id}/devices/new",
                         data={"csrf": csrf, "kind": "lock", "adapter": "zigbee2mqtt", "address": "front_lock",
                               "entry_point": str(front.id)})
        assert r.status_code == 303 and await count(h, Device) == devices + 1
        r = await b.post(f"/portal/homes/{home.id}/devices/new",
                         data={"csrf": csrf, "kind": "camera", "adapter": "zigbee2mqtt", "address": "front_lock"})
        assert r.status_code == 422 and "already enrolled" in r.text and 'id="e-address"' in r.text
        assert await count(h, Device) == devices + 1
        assert await actions(h, home.id) == ["home.enrolled", "device.enrolled"]
        other = h.world.homes[0]
        r = await b.get(f"/portal/homes/{other.id}/devices/new")
        assert r.status_code == 404
        r = await b.post(f"/portal/homes/{other.id}/devices/new",
                         data={"csrf": csrf, "kind": "camera", "adapter": "zigbee2mqtt", "address": "sneaky_cam"})
        assert r.status_code == 404 and await count(h, Device) == devices + 1


async def test_rules_are_saved_whole_or_not_at_all_and_audited() -> None:
    async with running(homes=2) as h, client(h) as b:
        home, theirs = h.world.homes[0], h.world.homes[1]
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = await b.get(f"/portal/homes/{home.id}/rules")
        csrf = hidden(page.text, "csrf")
        today = h.clock().date()
        before = await actions(h, home.id)
        bad = {"csrf": csrf, "in_home": "true", "ask_first": "true", "entries": [str(home.front_door)],
               "add": (today - timedelta(days=3)).isoformat(), "note": "n" * 1001, "fallback": "roof"}
        r = await b.post(f"/portal/homes/{home.id}/rules", data=bad)
        assert r.status_code == 422
        for name in ("blackout", "note", "fallback"):
            assert f'id="e-{name}"' in r.text, name
        assert await actions(h, home.id) == before
        day = (today + timedelta(days=10)).isoformat()
        good = {**bad, "add": day, "note": "Side gate is open.", "fallback": "locker"}
        r = await b.post(f"/portal/homes/{home.id}/rules", data={**good, "csrf": "forged"})
        assert r.status_code == 403 and await actions(h, home.id) == before
        r = await b.post(f"/portal/homes/{home.id}/rules", data=good)
        assert r.status_code == 303
        async with h.app.state.sessions() as db:
            rules = await db.get(HomeRules, home.id)
        assert rules is not None and rules.ask_first and rules.fallback == "locker"
        assert rules.blackout_dates == [day] and rules.allowed_entry_points == [str(home.front_door)]
        assert (await actions(h, home.id))[-1] == "rules.changed"
        page = await b.get(f"/portal/homes/{home.id}/rules?saved=1")
        assert f'name="blackout" value="{day}" checked' in page.text
        # Unticking the date removes it.
        r = await b.post(f"/portal/homes/{home.id}/rules", data={**good, "add": "", "blackout": []})
        async with h.app.state.sessions() as db:
            rules = await db.get(HomeRules, home.id, populate_existing=True)
        assert r.status_code == 303 and rules is not None and rules.blackout_dates == []
        for path in (f"/portal/homes/{theirs.id}/rules", f"/portal/homes/{theirs.id}/audit"):
            assert (await b.get(path)).status_code == 404, path
        r = await b.post(f"/portal/homes/{theirs.id}/rules", data=good)
        assert r.status_code == 404 and "rules.changed" not in await actions(h, theirs.id)


async def test_the_audit_trail_page_checks_the_chain_and_pages_back() -> None:
    async with running(homes=1) as h, client(h) as b:
        home = h.world.homes[0]
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        csrf = hidden((await b.get(f"/portal/homes/{home.id}/rules")).text, "csrf")
        for i in range(105):
            r = await b.post(f"/portal/homes/{home.id}/rules",
                             data={"csrf": csrf, "in_home": "true", "note": f"note {i}", "fallback": "doorstep"})
            assert r.status_code == 303
        page = await b.get(f"/portal/homes/{home.id}/audit")
        assert page.status_code == 200 and "Chain intact: all 105 records checked" in page.text
        assert page.text.count("<tr><td>") == 100 and "?page=2" in page.text
        older = await b.get(f"/portal/homes/{home.id}/audit?page=2")
        assert older.text.count("<tr><td>") == 5 and "?page=3" not in older.text
        async with h.app.state.sessions() as db:
            rec = (await db.execute(select(AuditRecord).where(AuditRecord.home_id == home.id,
                                                              AuditRecord.seq == 50))).scalar_one()
            rec.data = {"note": "rewritten"}
            await db.commit()
        page = await b.get(f"/portal/homes/{home.id}/audit")
        assert "does not check out" in page.text and "record 50" in page.text


async def test_an_ask_first_household_lets_the_waiting_driver_in_from_the_portal(portal: Any) -> None:
    h = portal.h
    home = h.world.homes[0]
    async with h.app.state.sessions() as db:
        rules = await db.get(HomeRules, home.id)
        assert rules is not None
        rules.ask_first = True
        await db.commit()
    driver = await h.driver(0)
    created = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-ASK-1")
    r = await driver.ask(created.json()["id"], "PKG-ASK-1", home.lat, home.lon)
    assert r.status_code == 202 and r.json()["state"] == "awaiting_approval"
    session_id = r.json()["id"]
    mail = await h.mail.wait_for(lambda m: "asking to enter" in m.subject, timeout=15)
    link = re.search(r"(http\S+/portal/homes/\S+/sessions/[0-9a-f-]+)", mail.text)
    assert link and link.group(1).endswith(f"/portal/homes/{home.id}/sessions/{session_id}")
    async with httpx.AsyncClient(base_url=portal.base_url, timeout=30) as b:
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = await b.get(f"/portal/homes/{home.id}")
        assert "asks to come in" in page.text
        entry = await b.get(f"/portal/homes/{home.id}/sessions/{session_id}")
        assert "asks to come in" in entry.text and "Let them in" in entry.text
        csrf = hidden(entry.text, "csrf")
        r = await b.post(f"/portal/homes/{home.id}/sessions/{session_id}/approve", data={"csrf": "forged"})
        assert r.status_code == 403
        r = await b.post(f"/portal/homes/{home.id}/sessions/{session_id}/approve", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"].endswith("?decided=yes")
        assert (await driver.until(session_id, {"open"}))["state"] == "open"
        r = await b.post(f"/portal/homes/{home.id}/sessions/{session_id}/decline", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"].endswith("?decided=late")


async def test_the_demo_front_page_signs_in_with_one_click_only_in_the_demo() -> None:
    async with running(homes=1) as h, client(h) as b:
        assert (await b.get("/")).headers["location"] == "/portal"
        assert (await b.get("/demo")).status_code == 404
        assert (await b.post("/demo/as/member", data={"pre": "x"})).status_code == 404
        h.app.state.demo_world = h.world
        assert (await b.get("/")).headers["location"] == "/demo"
        page = await b.get("/demo")
        assert h.world.homes[0].member_email in page.text and h.world.operator_email in page.text
        r = await b.post("/demo/as/member", data={"pre": "forged"})
        assert r.headers["location"] == "/demo" and "thr_session" not in r.headers.get("set-cookie", "")
        r = await b.post("/demo/as/member", data={"pre": hidden(page.text, "pre")})
        assert r.headers["location"] == f"/portal/homes/{h.world.homes[0].id}"
        assert (await b.get(r.headers["location"])).status_code == 200
        r = await b.post("/demo/as/operator", data={"pre": hidden(page.text, "pre")})
        assert r.headers["location"] == "/ops" and "thr_ops=" in r.headers["set-cookie"]
