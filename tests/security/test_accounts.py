"""Accounts end at once: a deactivated driver, member or operator is out on the very next request; a revoked key
stops; signing out ends the server's session whatever the form carries."""

from __future__ import annotations

import re
import subprocess
import uuid

from flows import ask, bearer, book, csrf_of, eventually, problem, web_sign_in

from servers import EXE, Server


def _ops_token(server: Server) -> str:
    with server.client() as c:
        r = c.post("/v1/ops/token", json={"email": server.world["operator_email"], "password": server.password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _unlocks(server: Server, home: int) -> int:
    return len([r for r in server.audit("lock.unlocked") if r["chain"] == server.world["homes"][home]["id"]])


def test_a_deactivated_drivers_token_opens_no_door_and_the_deactivation_is_audited(server: Server) -> None:
    driver_id, _ = server.world["drivers"][1]
    token = server.driver_token(1)
    delivery = book(server, 2, driver=1)
    ops = bearer(_ops_token(server))
    with server.client() as c:
        r = c.post(f"/v1/ops/drivers/{driver_id}/deactivate", headers=ops)
        assert r.status_code == 200 and r.json()["active"] is False, r.text
    before = _unlocks(server, 2)
    problem(ask(server, token, delivery, 2), 401, "driver_inactive")
    with server.client() as c:
        problem(c.get("/v1/driver/stops", headers=bearer(token)), 401, "driver_inactive")
        problem(c.post("/v1/driver/token", json={"email": server.world["drivers"][1][1],
                                                 "password": server.password}), 401, "bad_credentials")
    assert _unlocks(server, 2) == before
    assert server.sql("SELECT count(*) FROM entry_sessions WHERE delivery_id = :d",
                      d=_id(server, delivery["id"]))[0][0] == 0
    assert any(r["subject"] == f"driver:{driver_id}" for r in server.audit("driver.deactivated"))
    with server.client() as c:
        assert c.post(f"/v1/ops/drivers/{driver_id}/reactivate", headers=ops).json()["active"] is True
    assert ask(server, server.driver_token(1), delivery, 2).status_code in (200, 202)


def _id(server: Server, value: str) -> object:
    return uuid.UUID(value) if server.database_url.startswith("postgresql") else uuid.UUID(value).hex


def test_a_driver_deactivated_from_the_command_line_is_out_of_the_driver_app_at_once(server: Server) -> None:
    email = server.world["drivers"][2][1]
    browser, r = web_sign_in(server, email, "/driver")
    assert r.status_code == 303, r.text
    assert browser.get("/driver").status_code == 200
    token = server.driver_token(2)
    done = subprocess.run([EXE, "drivers", "deactivate", email], env=server.env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert browser.get("/driver").status_code == 303  # sent to sign in again
    with server.client() as c:
        problem(c.get("/v1/driver/stops", headers=bearer(token)), 401, "driver_inactive")
    listed = subprocess.run([EXE, "drivers", "list"], env=server.env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert f"{email}\t" in listed.stdout and "inactive" in listed.stdout.split(email)[1].splitlines()[0]
    subprocess.run([EXE, "drivers", "reactivate", email], env=server.env, check=True, capture_output=True,
                   timeout=60)


def test_a_deactivated_members_token_and_cookie_are_refused(server: Server) -> None:
    email = server.world["homes"][3]["member_email"]
    token = server.member_token(3)
    browser, _ = web_sign_in(server, email)
    member_id = server.sql("SELECT id FROM members WHERE email = :e", e=email)[0][0]
    with server.client() as c:
        r = c.post(f"/v1/ops/members/{member_id}/deactivate", headers=bearer(_ops_token(server)))
        assert r.status_code == 200, r.text
        problem(c.get("/v1/homes", headers=bearer(token)), 401, "member_inactive")
    assert browser.get("/portal").status_code == 303
    assert any(r["subject"].startswith("member:") for r in server.audit("member.deactivated"))


def test_a_deactivated_operators_token_is_refused(server: Server) -> None:
    op_token = _ops_token(server)
    subprocess.run([EXE, "operators", "add", "second-op@example.com", "--name", "Second"], check=True,
                   env={**server.env, "THRESHOLD_OPERATOR_PASSWORD": server.password}, capture_output=True,
                   timeout=60)
    with server.client() as c:
        second = c.post("/v1/ops/token", json={"email": "second-op@example.com", "password": server.password})
        assert second.status_code == 200
        server.sql("UPDATE operators SET active = false WHERE email = 'second-op@example.com'")
        problem(c.get("/v1/ops/overview", headers=bearer(second.json()["access_token"])), 401, "operator_inactive")
        assert c.get("/v1/ops/overview", headers=bearer(op_token)).status_code == 200


def test_signing_out_without_a_csrf_token_still_ends_the_server_session(server: Server) -> None:
    browser, _ = web_sign_in(server, server.world["homes"][4]["member_email"])
    cookie = browser.cookies.get("thr_session")
    assert cookie and browser.get("/portal").status_code == 200
    r = browser.post("/signout", data={})
    assert r.status_code == 303
    with server.client(follow_redirects=False) as replay:
        replay.cookies.set("thr_session", cookie)
        assert replay.get("/portal").status_code == 303  # the old cookie no longer signs anyone in


def test_a_revoked_api_key_stops_and_a_rotation_keeps_the_old_key_for_its_grace(server: Server) -> None:
    ops = bearer(_ops_token(server))
    with server.client() as c:
        created = c.post("/v1/ops/partners", headers=ops, json={"name": "Revocable Retail"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        rotated = c.post(f"/v1/ops/partners/{partner_id}/keys", headers=ops, json={"grace_minutes": 30})
        assert rotated.status_code == 201
        new_key, new_prefix = rotated.json()["key"], rotated.json()["prefix"]
        listed = next(p for p in c.get("/v1/ops/partners", headers=ops).json() if p["id"] == partner_id)
        old = next(k for k in listed["keys"] if k["prefix"] != new_prefix)
        assert old["revoked_at"] is not None and all("key" not in k or k["key"] is None for k in listed["keys"])
        assert c.get("/v1/webhooks", headers=bearer(new_key)).status_code == 200
        r = c.post(f"/v1/ops/keys/{new_prefix}/revoke", headers=ops)
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        problem(c.get("/v1/webhooks", headers=bearer(new_key)), 401, "api_key_invalid")
    actions = {r["data"].get("prefix") for r in server.audit("partner.key_revoked")}
    assert new_prefix in actions


def test_the_ops_console_lists_people_and_deactivates_a_driver_by_its_form(server: Server) -> None:
    browser, r = web_sign_in(server, server.world["operator_email"], "/ops")
    assert r.status_code == 303
    page = browser.get("/ops/people")
    assert page.status_code == 200 and server.world["drivers"][3][1] in page.text
    driver_id = server.world["drivers"][3][0]
    problem_page = browser.post(f"/ops/people/drivers/{driver_id}/deactivate", data={})
    assert problem_page.status_code == 403  # no CSRF token: refused, nothing changed
    assert server.sql("SELECT count(*) FROM drivers WHERE email = :e AND active",
                      e=server.world["drivers"][3][1])[0][0] == 1
    csrf = csrf_of(browser, "/ops/people")
    done = browser.post(f"/ops/people/drivers/{driver_id}/deactivate", data={"csrf": csrf})
    assert done.status_code == 303
    assert server.sql("SELECT count(*) FROM drivers WHERE email = :e AND active",
                      e=server.world["drivers"][3][1])[0][0] == 0
    browser.post(f"/ops/people/drivers/{driver_id}/reactivate", data={"csrf": csrf})


def test_deactivating_a_driver_inside_a_home_ends_the_entry_with_the_door_locked(server: Server) -> None:
    driver_id, _ = server.world["drivers"][0]
    r = ask(server, server.driver_token(0), book(server, 5, driver=0), 5)
    assert r.status_code in (200, 202), r.text
    sid = r.json()["id"]
    member = bearer(server.member_token(5))
    home_id = server.world["homes"][5]["id"]

    def state() -> dict[str, object]:
        with server.client() as c:
            found = [s for s in c.get(f"/v1/homes/{home_id}/sessions", headers=member).json() if s["id"] == sid]
        return found[0]

    eventually(lambda: state()["state"] == "open", what="the door to open")
    with server.client() as c:
        assert c.post(f"/v1/ops/drivers/{driver_id}/deactivate", headers=bearer(_ops_token(server))).status_code == 200
    def ended_entry() -> dict[str, object] | None:
        found = state()
        return None if found["live"] else found

    ended = eventually(ended_entry, what="the entry to end")
    assert ended["state"] == "aborted" and ended["reason"] == "driver_deactivated"
    locked = [x for x in server.audit("lock.locked", chain=home_id) if x["subject"] == f"session:{sid}"]
    assert locked
    with server.client() as c:
        c.post(f"/v1/ops/drivers/{driver_id}/reactivate", headers=bearer(_ops_token(server)))


def test_the_ops_console_adds_a_partner_with_its_key_shown_once_and_a_driver_for_it(server: Server) -> None:
    browser, _ = web_sign_in(server, server.world["operator_email"], "/ops")
    csrf = csrf_of(browser, "/ops/people")
    added = browser.post("/ops/people/partners", data={"csrf": csrf, "name": "Console Couriers"})
    assert added.status_code == 201 and added.headers["cache-control"] == "no-store"
    key = re.search(r'<code id="new-key">([^<]+)</code>', added.text)
    assert key is not None
    with server.client() as c:
        assert c.get("/v1/webhooks", headers=bearer(key.group(1))).status_code == 200
    assert key.group(1) not in browser.get("/ops/people").text  # shown once
    partner_id = server.sql("SELECT id FROM partners WHERE name = 'Console Couriers'")[0][0]
    r = browser.post("/ops/people/drivers", data={
        "csrf": csrf, "email": "console-driver@example.com", "name": "Console Driver", "carrier": "Console Vans",
        "partner": str(uuid.UUID(str(partner_id))), "password": server.password})
    assert r.status_code == 303, r.text[:300]
    refused = browser.post("/ops/people/drivers", data={
        "csrf": csrf, "email": "console-driver@example.com", "name": "Again", "carrier": "Console Vans",
        "password": server.password})
    assert refused.status_code == 409 and "exists already" in refused.text
    assert "console-driver@example.com" in browser.get("/ops/people").text
