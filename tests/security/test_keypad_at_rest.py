"""Keypad PINs are sealed at rest: what the database holds is not the PIN, and the portal shows it only once."""

from __future__ import annotations

from flows import csrf_of, guest_grant, web_sign_in

from servers import Server

HOME = 4


def test_a_pin_added_in_the_portal_is_stored_sealed_and_shown_only_once(server: Server) -> None:
    h = server.world["homes"][HOME]
    _, grant_id, _ = guest_grant(server, HOME, "Cleaner", hours=48)
    browser, _ = web_sign_in(server, h["member_email"])
    page = f"/portal/homes/{h['id']}/keypad"
    r = browser.post(page, data={"csrf": csrf_of(browser, page), "grant": grant_id, "pin": "739152"})
    assert r.status_code == 201, r.text[:300]
    assert "739152" in r.text and r.headers["cache-control"] == "no-store"
    stored = server.sql("SELECT pin_sealed FROM keypad_codes")
    assert stored and all("739152" not in str(row[0]) and str(row[0]).startswith("v1:") for row in stored)
    assert "739152" not in browser.get(page).text
    assert "739152" not in str(server.sql("SELECT data FROM audit_records"))
    assert "739152" not in server.log.read_text()
