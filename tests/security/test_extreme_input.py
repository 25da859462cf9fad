"""Extreme input replayed over HTTP: far dates with offsets, ints past any column, NUL and control characters in
ids, names, barcodes and query strings, JSON nested beyond reason. Each is a 422 (or 413) problem+json with a
stable code, and nothing is written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from flows import bearer, book, csrf_of, problem, web_sign_in

from servers import Server

# Tables an accepted request of these kinds would write.
WRITTEN = ("deliveries", "packages", "grants", "station_stock", "idempotent_requests", "window_bookings", "homes")


def counts(server: Server) -> dict[str, int]:
    """Rows per table that the refused requests must leave alone."""
    return {t: int(server.sql(f"SELECT count(*) FROM {t}")[0][0]) for t in WRITTEN}


def rules_row(server: Server, home: int) -> tuple[Any, ...]:
    """The home's rules as stored."""
    home_id = uuid.UUID(server.world["homes"][home]["id"])
    key: Any = home_id if server.database_url.startswith("postgresql") else home_id.hex
    return tuple(server.sql("SELECT driver_note, blackout_dates FROM home_rules WHERE home_id = :h", h=key)[0])


def send(server: Server, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> \
        httpx.Response:
    """One request on a fresh connection (a refused request never costs the next one its connection)."""
    with server.client() as c:
        return c.request(method, path, headers=headers or {}, **kwargs)


def window(start: str, end: str, server: Server, **extra: Any) -> dict[str, Any]:
    """A delivery body for seeded home 1 with this window."""
    return {"home_id": server.world["homes"][1]["id"], "window_start": start, "window_end": end,
            "packages": [{"barcode": "EXTREME-1", "size": "S", "weight_g": 500}], **extra}


@pytest.mark.parametrize(("start", "end"), [
    ("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"),  # the attacker's: no UTC equivalent
    ("0001-01-01T00:10:00+05:00", "0001-01-01T00:40:00+05:00"),  # before the first UTC instant
    ("2101-01-01T10:00:00Z", "2101-01-01T11:00:00Z"),
    ("1999-12-31T10:00:00+14:00", "1999-12-31T11:00:00+14:00"),
])
def test_a_window_outside_2000_to_2100_is_refused_and_creates_nothing(server: Server, start: str, end: str) -> None:
    before = counts(server)
    r = send(server, "POST", "/v1/deliveries", server.partner_headers(), json=window(start, end, server))
    body = problem(r, 422, "validation_failed")
    assert {tuple(e["loc"]) for e in body["errors"]} <= {("body", "window_start"), ("body", "window_end")}
    assert counts(server) == before


def test_a_guest_grant_at_the_end_of_time_is_refused_and_creates_nothing(server: Server) -> None:
    home = server.world["homes"][2]
    before = counts(server)
    r = send(server, "POST", f"/v1/homes/{home['id']}/guest-grants", bearer(server.member_token(2)), json={
        "guest_name": "Sitter", "entry_point_id": home["front_door"], "starts_at": "9999-12-31T10:00:00-08:00",
        "ends_at": "9999-12-31T23:59:00-08:00", "rrule": "FREQ=DAILY", "duration_minutes": 60})
    problem(r, 422, "validation_failed")
    assert counts(server) == before


@pytest.mark.parametrize("after", [str(10**30), str(2**63), str(2**31), "-1"])
def test_an_audit_position_past_the_sequence_column_is_refused(server: Server, after: str) -> None:
    home_id = server.world["homes"][0]["id"]
    r = send(server, "GET", f"/v1/homes/{home_id}/audit?after={after}", bearer(server.member_token(0)))
    body = problem(r, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["query", "after"]


def test_a_platform_audit_position_past_the_sequence_column_is_refused(server: Server) -> None:
    with server.client() as c:
        signed = c.post("/v1/ops/token", json={"email": server.world["operator_email"], "password": server.password})
    operator = bearer(signed.json()["access_token"])
    body = problem(send(server, "GET", f"/v1/ops/audit?after={2**40}", operator), 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["query", "after"]


def test_the_largest_audit_position_is_an_empty_page_not_an_error(server: Server) -> None:
    home_id = server.world["homes"][0]["id"]
    r = send(server, "GET", f"/v1/homes/{home_id}/audit?after={2**31 - 1}", bearer(server.member_token(0)))
    assert r.status_code == 200 and r.json() == []


def test_huge_ints_in_bodies_are_refused_and_change_nothing(server: Server) -> None:
    station, home = server.world["station_id"], server.world["homes"][1]
    partner = server.partner_headers()
    before = counts(server)
    problem(send(server, "PUT", f"/v1/stations/{station}/stock", partner,
                 json=[{"product": "SKU-1", "units": 10**30}]), 422, "validation_failed")
    problem(send(server, "POST", "/v1/deliveries", partner, json={
        **window("2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", server),
        "packages": [{"barcode": "EXTREME-2", "size": "S", "weight_g": 10**30}]}), 422, "validation_failed")
    problem(send(server, "POST", f"/v1/homes/{home['id']}/guest-grants", bearer(server.member_token(1)), json={
        "guest_name": "Sitter", "entry_point_id": home["front_door"], "starts_at": "2030-01-01T10:00:00Z",
        "ends_at": "2030-01-02T10:00:00Z", "rrule": "FREQ=DAILY", "duration_minutes": 2**64}),
        422, "validation_failed")
    delivery = book(server, 1)["id"]
    problem(send(server, "POST", f"/v1/driver/deliveries/{delivery}/on-the-way", bearer(server.driver_token(0)),
                 json={"eta_minutes": 10**30}), 422, "validation_failed")
    after = counts(server)
    assert after == {**before, "deliveries": before["deliveries"] + 1, "packages": before["packages"] + 1,
                     "grants": before["grants"] + 1}  # only the honest booking


@pytest.mark.parametrize(("text", "code"), [("a\x00b", "invalid_characters"), ("a\x01b", "validation_failed"),
                                            ("line\nbreak", "validation_failed"), ("c1\x85", "validation_failed")])
def test_control_characters_in_names_barcodes_and_references_are_refused(server: Server, text: str,
                                                                          code: str) -> None:
    home = server.world["homes"][3]
    before = counts(server)
    problem(send(server, "POST", f"/v1/homes/{home['id']}/guest-grants", bearer(server.member_token(3)), json={
        "guest_name": text, "entry_point_id": home["front_door"], "starts_at": "2030-01-01T10:00:00Z",
        "ends_at": "2030-01-01T11:00:00Z"}), 422, code)
    problem(send(server, "POST", "/v1/deliveries", server.partner_headers(), json=window(
        "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", server, external_ref=text)), 422, code)
    problem(send(server, "PUT", f"/v1/stations/{server.world['station_id']}/stock", server.partner_headers(),
                 json=[{"product": f"SKU{text}", "units": 5}]), 422, code)
    problem(send(server, "POST", "/v1/driver/entries", bearer(server.driver_token(0)), json={
        "delivery_id": str(uuid.uuid4()), "barcode": f"PKG{text}", "lat": 52.5, "lon": 13.4}), 422, code)
    problem(send(server, "POST", "/v1/household/token", json={"email": f"home{text}@example.com",
                                                               "password": "x"}), 422, code)
    assert counts(server) == before


def test_a_note_keeps_its_line_breaks_but_not_nul_or_other_controls(server: Server) -> None:
    home_id, member = server.world["homes"][4]["id"], bearer(server.member_token(4))
    before = rules_row(server, 4)
    problem(send(server, "PUT", f"/v1/homes/{home_id}/rules", member, json={"driver_note": "a\x00b"}),
            422, "invalid_characters")
    problem(send(server, "PUT", f"/v1/homes/{home_id}/rules", member, json={"driver_note": "ring\x07twice"}),
            422, "validation_failed")
    problem(send(server, "PUT", f"/v1/homes/{home_id}/rules", member, json={"blackout_dates": ["9999-12-31"]}),
            422, "validation_failed")
    assert rules_row(server, 4) == before
    saved = send(server, "PUT", f"/v1/homes/{home_id}/rules", member, json={"driver_note": "Ring twice.\nHall."})
    assert saved.status_code == 200 and saved.json()["driver_note"] == "Ring twice.\nHall."


@pytest.mark.parametrize("target", ["/v1/homes/{home}%00/audit", "/v1/homes/{home}/audit?after=%00",
                                    "/v1/homes/{home}/audit?after=1%00", "/v1/homes/{home}/audit?limit=%5Cu0000",
                                    "/v1/homes/{home}/audit?x=%01", "/v1/deliveries/{home}%0A"])
def test_nul_and_control_characters_in_the_path_or_query_are_refused(server: Server, target: str) -> None:
    r = send(server, "GET", target.format(home=server.world["homes"][0]["id"]), bearer(server.member_token(0)))
    problem(r, 422, "invalid_characters")


def test_deeply_nested_json_is_refused_before_it_is_parsed(server: Server) -> None:
    before = counts(server)
    deep = '{"home_id":' + "[" * 100_000 + "]" * 100_000 + "}"
    r = send(server, "POST", "/v1/deliveries", {**server.partner_headers(), "content-type": "application/json"},
             content=deep)
    problem(r, 422, "json_too_deep")
    assert counts(server) == before
    assert send(server, "GET", "/healthz").status_code == 200


def test_a_body_past_the_size_limit_is_refused_with_413(server: Server) -> None:
    before = counts(server)
    huge = window("2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", server, external_ref="x" * (2 << 20))
    problem(send(server, "POST", "/v1/deliveries", server.partner_headers(), json=huge), 413, "body_too_large")
    assert counts(server) == before


def test_portal_forms_answer_extreme_input_with_a_field_error_and_save_nothing(server: Server) -> None:
    home = server.world["homes"][5]
    client, _ = web_sign_in(server, home["member_email"])
    try:
        rules = f"/portal/homes/{home['id']}/rules"
        csrf = csrf_of(client, rules)
        before, rows = rules_row(server, 5), counts(server)
        far = client.post(rules, data={"csrf": csrf, "in_home": "true", "add": "9999-12-31", "fallback": "doorstep"})
        assert far.status_code == 422 and "Choose a day before 2101." in far.text
        bell = client.post(rules, data={"csrf": csrf, "in_home": "true", "note": "ring\x07", "fallback": "doorstep"})
        assert bell.status_code == 422 and "line breaks only" in bell.text
        nul = client.post(rules, data={"csrf": csrf, "in_home": "true", "note": "a\x00b", "fallback": "doorstep"})
        problem(nul, 422, "invalid_characters")
        guests = f"/portal/homes/{home['id']}/guests/new"
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        named = client.post(guests, data={"csrf": csrf, "name": "Sitter\x1b[2J", "entry_point": home["front_door"],
                                          "mode": "once", "once_date": tomorrow, "once_from": "10:00",
                                          "once_to": "11:00"})
        assert named.status_code == 422 and "letters, digits and punctuation only" in named.text
        last = client.post(guests, data={"csrf": csrf, "name": "Sitter", "entry_point": home["front_door"],
                                         "mode": "once", "once_date": "9999-12-31", "once_from": "22:00",
                                         "once_to": "23:00"})
        assert last.status_code == 422 and "Choose a date before 2101." in last.text
        assert rules_row(server, 5) == before and counts(server) == rows
    finally:
        client.close()
