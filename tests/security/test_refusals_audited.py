"""Every refusal that touches access is on record: a withdrawn guest link knocking, another driver's or guest's
session, another household's home, a delivery or link token nobody issued."""

from __future__ import annotations

import re
import uuid

from flows import ask, bearer, book, guest_grant, problem, web_sign_in

from servers import Server

PLATFORM = str(uuid.UUID(int=0))


def test_a_withdrawn_guest_link_knocking_is_refused_and_recorded(server: Server) -> None:
    home_id, grant_id, token = guest_grant(server, 0)
    with server.client(follow_redirects=False) as guest:
        page = guest.get(f"/g/{token}")
        pre = re.search(r'name="pre" value="([^"]+)"', page.text)
        assert page.status_code == 200 and pre is not None
        with server.client() as c:
            revoked = c.delete(f"/v1/homes/{home_id}/guest-grants/{grant_id}", headers=bearer(server.member_token(0)))
            assert revoked.status_code == 200
        r = guest.post(f"/g/{token}/open", data={"pre": pre.group(1)})
    assert r.status_code == 410
    refused = [x for x in server.audit("entry.refused", chain=home_id) if x["subject"] == f"grant:{grant_id}"]
    assert refused and refused[-1]["data"]["codes"] == ["grant_revoked"]
    assert server.sql("SELECT count(*) FROM entry_sessions")[0][0] == 0 or all(
        str(g) != grant_id for (g,) in server.sql("SELECT grant_id FROM entry_sessions"))


def test_a_forged_guest_form_is_refused_and_recorded(server: Server) -> None:
    home_id, grant_id, token = guest_grant(server, 4)
    with server.client(follow_redirects=False) as stranger:
        assert stranger.post(f"/g/{token}/open", data={"pre": "forged"}).status_code == 403
    refused = [x for x in server.audit("access.refused", chain=home_id) if x["subject"] == f"grant:{grant_id}"]
    assert refused and refused[-1]["data"]["reason"] == "forged_request"


def test_another_drivers_session_is_not_found_and_recorded_in_its_home(server: Server) -> None:
    delivery = book(server, 3, driver=0)
    r = ask(server, server.driver_token(0), delivery, 3)
    assert r.status_code in (200, 202), r.text
    sid = r.json()["id"]
    other = server.driver_token(1)
    with server.client() as c:
        problem(c.get(f"/v1/driver/entries/{sid}", headers=bearer(other)), 404, "not_found")
        problem(c.post(f"/v1/driver/entries/{sid}/finish", headers=bearer(other)), 404, "not_found")
        problem(c.post(f"/v1/guest/entries/{sid}/finish", json={"token": "x" * 32}), 404, "not_found")
    found = [x for x in server.audit("access.refused", chain=server.world["homes"][3]["id"])
             if x["subject"] == f"session:{sid}"]
    assert {x["data"]["what"] for x in found} == {"session", "finish"} and len(found) == 3


def test_another_households_home_is_not_found_and_recorded_in_it(server: Server) -> None:
    target = server.world["homes"][5]["id"]
    intruder = bearer(server.member_token(2))
    with server.client() as c:
        problem(c.get(f"/v1/homes/{target}/rules", headers=intruder), 404, "not_found")
        problem(c.put(f"/v1/homes/{target}/rules", headers=intruder, json={"in_home_enabled": False}), 404,
                "not_found")
        problem(c.get(f"/v1/homes/{uuid.uuid4()}/rules", headers=intruder), 404, "not_found")
    found = [x for x in server.audit("access.refused", chain=target) if x["subject"] == f"home:{target}"]
    assert len(found) == 2 and all(x["data"]["reason"] == "not_yours" for x in found)
    assert server.sql("SELECT count(*) FROM home_rules WHERE in_home_enabled")[0][0] == len(server.world["homes"])


def test_an_unknown_delivery_or_link_token_is_refused_and_recorded_on_the_platform_chain(server: Server) -> None:
    missing = str(uuid.uuid4())
    with server.client() as c:
        r = c.post("/v1/driver/entries", headers=bearer(server.driver_token(2)),
                   json={"delivery_id": missing, "barcode": "PKG-0000", "lat": 52.5, "lon": 13.4})
        problem(r, 404, "not_found")
        problem(c.post("/v1/guest/entries", json={"token": "not-a-token-" + uuid.uuid4().hex}), 401, "grant_unknown")
    refused = server.audit("entry.refused", chain=PLATFORM)
    assert any(x["subject"] == f"delivery:{missing}" and x["data"]["codes"] == ["delivery_unknown"] for x in refused)
    assert any(x["subject"] == "grant:unknown" and x["data"]["codes"] == ["grant_unknown"] for x in refused)


def test_another_households_sessions_deliveries_grants_and_incidents_are_refused_and_recorded(server: Server) -> None:
    victim, intruder_home = 1, 2
    v = server.world["homes"][victim]
    delivery = book(server, victim, driver=0)
    r = ask(server, server.driver_token(0), delivery, victim)
    assert r.status_code in (200, 202), r.text
    sid = r.json()["id"]
    _, grant_id, _ = guest_grant(server, victim)
    own = server.world["homes"][intruder_home]["id"]
    intruder = bearer(server.member_token(intruder_home))
    with server.client() as c:
        problem(c.post(f"/v1/homes/{own}/sessions/{sid}/approve", headers=intruder), 404, "not_found")
        problem(c.post(f"/v1/homes/{own}/sessions/{sid}/decline", headers=intruder), 404, "not_found")
        problem(c.post(f"/v1/homes/{own}/deliveries/{delivery['id']}/approve", headers=intruder), 404, "not_found")
        problem(c.delete(f"/v1/homes/{own}/guest-grants/{grant_id}", headers=intruder), 404, "not_found")
    found = {(x["subject"], x["data"]["what"]) for x in server.audit("access.refused", chain=v["id"])}
    assert {(f"session:{sid}", "approval"), (f"delivery:{delivery['id']}", "approve"),
            (f"grant:{grant_id}", "grant")} <= found
    with server.client() as c:
        grants = c.get(f"/v1/homes/{v['id']}/guest-grants", headers=bearer(server.member_token(victim))).json()
    assert next(g for g in grants if g["id"] == grant_id)["revoked"] is False


def test_the_driver_app_records_another_drivers_session_and_stop(server: Server) -> None:
    delivery = book(server, 5, driver=0)
    r = ask(server, server.driver_token(0), delivery, 5)
    assert r.status_code in (200, 202), r.text
    sid = r.json()["id"]
    browser, signed = web_sign_in(server, server.world["drivers"][1][1], "/driver")
    assert signed.status_code == 303
    assert browser.get(f"/driver/entries/{sid}").status_code == 404
    assert browser.get(f"/driver/stops/{delivery['id']}").status_code == 404
    found = {x["subject"] for x in server.audit("access.refused", chain=server.world["homes"][5]["id"])
             if x["actor"] == f"driver:{server.world['drivers'][1][0]}"}
    assert {f"session:{sid}", f"delivery:{delivery['id']}"} <= found
