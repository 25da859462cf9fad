"""Households choose who may enter: a partner the household has not authorized for a home delivers to its door
only, and is refused at the door (audited) however its delivery was booked."""

from __future__ import annotations

import re

from flows import ask, bearer, book, csrf_of, problem, web_sign_in

from servers import Server

HOME = 2


def _new_partner(server: Server, name: str) -> tuple[str, dict[str, str], str, str]:
    """A partner added by an operator, with a driver of its own: (partner id, key header, driver id, its token)."""
    email = f"driver-{name.split()[0].lower()}@example.com"
    with server.client() as c:
        op = bearer(c.post("/v1/ops/token", json={"email": server.world["operator_email"],
                                                  "password": server.password}).json()["access_token"])
        r = c.post("/v1/ops/partners", headers=op, json={"name": name})
        assert r.status_code == 201, r.text
        partner_id, key = r.json()["id"], r.json()["keys"][0]["key"]
        d = c.post("/v1/ops/drivers", headers=op, json={"email": email, "name": "New Driver", "carrier": name,
                                                         "partner_id": partner_id, "password": server.password})
        assert d.status_code == 201, d.text
        token = c.post("/v1/driver/token", json={"email": email, "password": server.password}).json()["access_token"]
    return partner_id, bearer(key), d.json()["id"], token


def test_an_unauthorized_partner_books_doorstep_only_and_is_refused_at_the_door(server: Server) -> None:
    partner_id, key, driver_id, driver = _new_partner(server, "Unknown Bazaar")
    home_id = server.world["homes"][HOME]["id"]
    delivery = book(server, HOME, driver=None, headers=key)
    # Told only that: nothing of the household's rules, days away or devices.
    assert delivery["mode"] == "doorstep" and delivery["ineligible_reasons"] == ["partner_not_authorized"]
    with server.client() as c:
        r = c.post(f"/v1/deliveries/{delivery['id']}/assign", headers=key, json={"driver_id": driver_id})
        assert r.status_code == 200, r.text
    body = problem(ask(server, driver, delivery, HOME), 403, "partner_not_authorized")
    assert body["reasons"] == ["partner_not_authorized"]
    refused = [r for r in server.audit("entry.refused", chain=home_id) if r["subject"] == f"delivery:{delivery['id']}"]
    assert refused and "partner_not_authorized" in refused[-1]["data"]["codes"]
    assert not [r for r in server.audit("lock.unlocked", chain=home_id)]
    member = bearer(server.member_token(HOME))
    with server.client() as c:
        listed = {p["partner_id"]: p for p in c.get(f"/v1/homes/{home_id}/partners", headers=member).json()}
        assert listed[partner_id]["authorized"] is False and listed[server.world["partner_id"]]["authorized"]
        assert c.put(f"/v1/homes/{home_id}/partners/{partner_id}", headers=member).json()["authorized"] is True
    assert book(server, HOME, driver=None, headers=key)["mode"] == "in_home"
    assert [r for r in server.audit("partner.authorized", chain=home_id) if r["subject"] == f"partner:{partner_id}"]


def test_revoking_a_partner_stops_its_deliveries_already_booked(server: Server) -> None:
    home_id, partner_id = server.world["homes"][HOME + 1]["id"], server.world["partner_id"]
    delivery = book(server, HOME + 1, driver=1)
    assert delivery["mode"] == "in_home"
    with server.client() as c:
        r = c.delete(f"/v1/homes/{home_id}/partners/{partner_id}", headers=bearer(server.member_token(HOME + 1)))
        assert r.status_code == 200 and r.json()["authorized"] is False
    problem(ask(server, server.driver_token(1), delivery, HOME + 1), 403, "partner_not_authorized")
    assert [r for r in server.audit("partner.revoked", chain=home_id) if r["subject"] == f"partner:{partner_id}"]


def test_another_household_cannot_authorize_a_partner_for_a_home_not_theirs(server: Server) -> None:
    partner_id, *_ = _new_partner(server, "Pushy Parcels")
    target = server.world["homes"][0]["id"]
    with server.client() as c:
        problem(c.put(f"/v1/homes/{target}/partners/{partner_id}", headers=bearer(server.member_token(4))), 404,
                "not_found")
    assert not [r for r in server.audit("partner.authorized", chain=target) if r["subject"] == f"partner:{partner_id}"]


def test_the_portal_page_authorizes_and_revokes_with_its_form(server: Server) -> None:
    partner_id, *_ = _new_partner(server, "Portal Provisions")
    home_id = server.world["homes"][5]["id"]
    browser, _ = web_sign_in(server, server.world["homes"][5]["member_email"])
    page = browser.get(f"/portal/homes/{home_id}/partners")
    assert page.status_code == 200 and "Portal Provisions" in page.text
    assert browser.post(f"/portal/homes/{home_id}/partners/{partner_id}/authorize", data={}).status_code == 403
    csrf = csrf_of(browser, f"/portal/homes/{home_id}/partners")
    assert browser.post(f"/portal/homes/{home_id}/partners/{partner_id}/authorize",
                        data={"csrf": csrf}).status_code == 303
    after = browser.get(f"/portal/homes/{home_id}/partners?changed=authorized").text
    assert re.search(r"Portal Provisions</strong>:\s*may deliver inside", after)
    assert browser.post(f"/portal/homes/{home_id}/partners/{partner_id}/revoke", data={"csrf": csrf}).status_code == 303
    assert re.search(r"Portal Provisions</strong>:\s*door only", browser.get(f"/portal/homes/{home_id}/partners").text)
