"""What an honest user does over HTTP, so an attack can be tried beside it: book, enter, sign in on the web."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from servers import Server

PROBLEM = "application/problem+json"
T = TypeVar("T")


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with this status and stable code; returns its body."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy, within a generous deadline (never a fixed sleep)."""
    end = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def book(server: Server, home: int, driver: int | None = 0, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A partner creates a delivery for seeded home `home` (assigned to seeded driver `driver`); its JSON."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    body: dict[str, Any] = {
        "home_id": server.world["homes"][home]["id"], "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
        "packages": [{"barcode": f"PKG-{uuid.uuid4().hex[:10]}", "size": "M", "weight_g": 800}]}
    if driver is not None:
        body["driver_id"] = server.world["drivers"][driver][0]
    with server.client() as c:
        r = c.post("/v1/deliveries", json=body, headers=headers or server.partner_headers())
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    out["barcode"] = body["packages"][0]["barcode"]
    return out


def ask(server: Server, token: str, delivery: dict[str, Any], home: int) -> httpx.Response:
    """The driver at the door asks for entry."""
    h = server.world["homes"][home]
    with server.client() as c:
        return c.post("/v1/driver/entries", headers=bearer(token), json={
            "delivery_id": delivery["id"], "barcode": delivery["barcode"], "lat": h["lat"], "lon": h["lon"]})


def deliver(server: Server, home: int, driver: int = 0) -> str:
    """A whole in-home delivery: book, ask, the door opens, finish, the session ends done; its session id."""
    token = server.driver_token(driver)
    r = ask(server, token, book(server, home, driver), home)
    assert r.status_code in (200, 202), r.text
    sid = str(r.json()["id"])
    with server.client() as c:
        eventually(lambda: c.get(f"/v1/driver/entries/{sid}", headers=bearer(token)).json()["state"] == "open",
                   what="the door to open")
        assert c.post(f"/v1/driver/entries/{sid}/finish", headers=bearer(token)).status_code == 200
        eventually(lambda: c.get(f"/v1/driver/entries/{sid}", headers=bearer(token)).json()["state"] == "done",
                   what="the entry to end")
    return sid


def sealed_clip(server: Server, home: int, session_id: str, member_token: str) -> dict[str, Any]:
    """Wait until the session's clip is sealed; its record."""
    home_id = server.world["homes"][home]["id"]

    def sealed() -> dict[str, Any] | None:
        with server.client() as c:
            clips = c.get(f"/v1/homes/{home_id}/clips", headers=bearer(member_token)).json()
        found = [x for x in clips if x["session_id"] == session_id and x["status"] in ("sealed", "partial")]
        return found[0] if found else None

    return eventually(sealed, timeout=60, what="the clip to be sealed")


def web_sign_in(server: Server, email: str, surface: str = "", client: httpx.Client | None = None,
                headers: dict[str, str] | None = None,
                password: str | None = None) -> tuple[httpx.Client, httpx.Response]:
    """Sign in through the web form (with its double-submit token); the client keeps the cookies."""
    c = client or server.client(follow_redirects=False)
    page = c.get(f"{surface}/signin", headers=headers or {})
    pre = re.search(r'name="pre" value="([^"]+)"', page.text)
    assert pre is not None, page.text[:500]
    r = c.post(f"{surface}/signin", data={"email": email, "password": password or server.password,
                                             "pre": pre.group(1)},
               headers=headers or {})
    return c, r


def csrf_of(client: httpx.Client, path: str) -> str:
    """The CSRF token a signed-in page carries."""
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text) or re.search(
        r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def guest_grant(server: Server, home: int, name: str = "Pet sitter", hours: float = 2.0) -> tuple[str, str, str]:
    """A one-time guest grant for seeded home `home`, open from now: (home id, grant id, link token)."""
    h = server.world["homes"][home]
    now = datetime.now(UTC)
    with server.client() as c:
        r = c.post(f"/v1/homes/{h['id']}/guest-grants", headers=bearer(server.member_token(home)), json={
            "guest_name": name, "entry_point_id": h["front_door"],
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=hours)).isoformat()})
    assert r.status_code == 201, r.text
    return h["id"], r.json()["id"], r.json()["token"]
