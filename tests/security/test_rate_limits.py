"""Guessing credentials is slowed down everywhere: token endpoints, web sign-in, guest link tokens and API keys,
per account and per client address, counted in the database so that every process shares the count.

This server trusts 127.0.0.1 as its proxy, so each test speaks from an address of its own (X-Forwarded-For)
and one test's lock never touches another's.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest
from flows import problem, web_sign_in

from servers import EXE, Server, backends, serving, wait_until_serving
from threshold.devices.broker import free_port

TOKEN_PATHS = {"member": "/v1/household/token", "driver": "/v1/driver/token", "operator": "/v1/ops/token"}


@pytest.fixture(scope="module", params=backends())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server behind a trusted proxy on loopback (the proxy's X-Forwarded-For names each client)."""
    # An account is locked everywhere after 12 failures here (50 by default), so the distributed case is quick.
    with serving(request.param, tmp_path_factory.mktemp(f"limits-{request.param}"),
                 trusted_proxies='["127.0.0.1/32"]', credential_failures_per_account_overall="12") as s:
        yield s


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _email(server: Server, kind: str) -> str:
    return {"member": server.world["homes"][0]["member_email"], "driver": server.world["drivers"][0][1],
            "operator": server.world["operator_email"]}[kind]


def _locks(server: Server, action: str) -> list[dict[str, object]]:
    return server.audit(action, chain=str(uuid.UUID(int=0)))


@pytest.mark.parametrize("kind", ["member", "driver", "operator"])
def test_wrong_passwords_lock_the_guesser_out_even_for_the_right_one_but_not_the_owner(server: Server,
                                                                                   kind: str) -> None:
    email, path = _email(server, kind), TOKEN_PATHS[kind]
    guesser, owner = _from(f"198.51.100.{len(kind)}"), _from(f"198.51.102.{len(kind)}")
    with server.client() as c:
        for i in range(5):
            problem(c.post(path, json={"email": email, "password": f"wrong-{i}"}, headers=guesser), 401,
                    "bad_credentials")
        for _ in range(25):  # thirty wrong in all, then the right one: still locked out, from that address
            problem(c.post(path, json={"email": email, "password": "wrong"}, headers=guesser), 429,
                    "too_many_attempts")
        right = c.post(path, json={"email": email, "password": server.password}, headers=guesser)
        body = problem(right, 429, "too_many_attempts")
        wait = int(right.headers["Retry-After"])
        assert 0 < wait <= 15 * 60 and body["retry_after"] == wait
        # The owner, elsewhere, is not locked out by someone else's guessing.
        assert c.post(path, json={"email": email, "password": server.password}, headers=owner).status_code == 200
    locks = [r for r in _locks(server, "account.locked") if r["data"]["scope"] == "address"]
    assert locks and email not in str(_locks(server, "account.locked"))  # a digest, never the email


def test_guessing_one_account_from_many_addresses_locks_it_everywhere(server: Server) -> None:
    email = server.world["drivers"][1][1]
    with server.client() as c:
        for i in range(12):
            problem(c.post("/v1/driver/token", json={"email": email, "password": "wrong"},
                           headers=_from(f"198.18.{i}.1")), 401, "bad_credentials")
        problem(c.post("/v1/driver/token", json={"email": email, "password": server.password},
                       headers=_from("198.18.200.1")), 429, "too_many_attempts")
    assert [r for r in _locks(server, "account.locked") if r["data"]["scope"] == "everywhere"]


def test_web_sign_in_is_locked_per_account_too(server: Server) -> None:
    email, address = server.world["homes"][1]["member_email"], _from("192.0.2.9")
    with server.client(follow_redirects=False) as c:
        for _ in range(5):
            _, r = web_sign_in(server, email, client=c, headers=address, password="wrong-password")
            assert r.status_code == 401
        _, r = web_sign_in(server, email, client=c, headers=address)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in r.text


def test_an_ipv6_client_counts_per_slash_64(server: Server) -> None:
    with server.client() as c:
        for i in range(20):
            problem(c.post("/v1/ops/token", json={"email": f"x{i}@example.com", "password": "guess-guess"},
                           headers=_from(f"2001:db8:1:2::{i + 1:x}")), 401, "bad_credentials")
        good = {"email": server.world["operator_email"], "password": server.password}
        problem(c.post("/v1/ops/token", json=good, headers=_from("2001:db8:1:2:ffff::9")), 429, "too_many_attempts")
        assert c.post("/v1/ops/token", json=good, headers=_from("2001:db8:1:3::1")).status_code == 200


def test_a_known_key_prefix_guessed_at_does_not_shut_its_partner_out(server: Server) -> None:
    prefix = server.world["api_key"].split("_")[1]
    with server.client() as c:
        for i in range(10):
            problem(c.get("/v1/webhooks", headers={**_from("203.0.113.51"),
                                                  "X-API-Key": f"thr_{prefix}_guess{i}"}), 401, "api_key_invalid")
        assert c.get("/v1/webhooks", headers={**_from("203.0.113.52"), **server.partner_headers()}).status_code == 200


def test_asking_sign_up_which_emails_have_accounts_is_limited(server: Server) -> None:
    address = _from("203.0.113.61")
    with server.client(follow_redirects=False) as c:
        for i in range(20):
            page = c.get("/signup", headers=address)
            pre = page.text.split('name="pre" value="', 1)[1].split('"', 1)[0]
            r = c.post("/signup", headers=address, data={
                "household": "H", "name": "N", "email": server.world["homes"][i % 6]["member_email"],
                "password": "long-enough-password", "pre": pre})
            assert r.status_code == 422 and "already has an account" in r.text
        page = c.get("/signup", headers=address)
        pre = page.text.split('name="pre" value="', 1)[1].split('"', 1)[0]
        r = c.post("/signup", headers=address, data={"household": "H", "name": "N", "email": "new@example.com",
                                                     "password": "long-enough-password", "pre": pre})
    assert r.status_code == 429


def test_one_address_guessing_many_accounts_is_locked_out(server: Server) -> None:
    address, before = "203.0.113.7", len(_locks(server, "address.locked"))
    with server.client() as c:
        for i in range(20):
            r = c.post("/v1/household/token", json={"email": f"nobody{i}@example.com", "password": "guess"},
                       headers=_from(address))
            problem(r, 401, "bad_credentials")
        # Now even a right password from that address waits; another address is not affected.
        good = {"email": server.world["homes"][2]["member_email"], "password": server.password}
        problem(c.post("/v1/household/token", json=good, headers=_from(address)), 429, "too_many_attempts")
        assert c.post("/v1/household/token", json=good, headers=_from("203.0.113.8")).status_code == 200
    assert len(_locks(server, "address.locked")) == before + 1


def test_guessed_guest_link_tokens_are_limited_on_the_page_and_the_api(server: Server) -> None:
    address = "203.0.113.21"
    with server.client(follow_redirects=False) as c:
        for i in range(10):
            assert c.get(f"/g/guess-{i}-{uuid.uuid4().hex}", headers=_from(address)).status_code == 404
        for i in range(10):
            r = c.post("/v1/guest/entries", json={"token": f"guess-{i}-{uuid.uuid4().hex}"}, headers=_from(address))
            problem(r, 401, "grant_unknown")
        page = c.get(f"/g/{uuid.uuid4().hex}", headers=_from(address))
        assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
        problem(c.post("/v1/guest/entries", json={"token": uuid.uuid4().hex}, headers=_from(address)), 429,
                "too_many_attempts")
    assert len(server.audit("entry.refused", chain=str(uuid.UUID(int=0)))) >= 20


def test_guessed_api_keys_are_limited_per_address(server: Server) -> None:
    address = "203.0.113.31"
    with server.client() as c:
        for i in range(20):
            r = c.get("/v1/webhooks", headers={**_from(address), "Authorization": f"Bearer thr_{i:012x}_guess"})
            problem(r, 401, "api_key_invalid")
        # The next guess waits, whatever key it tries.
        problem(c.get("/v1/webhooks", headers={**_from(address), "Authorization": f"Bearer thr_{0:012x}_next"}),
                429, "too_many_attempts")


def test_failures_counted_by_one_process_lock_the_account_in_another(server: Server) -> None:
    port = free_port()
    log = server.log.parent / "second.log"
    second = subprocess.Popen([EXE, "serve", "--no-worker", "--port", str(port)], env=server.env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, second, log)
        email = server.world["homes"][3]["member_email"]
        with server.client() as a, httpx.Client(base_url=url, timeout=30) as b:
            for i in range(5):
                client = a if i % 2 else b
                r = client.post("/v1/household/token", json={"email": email, "password": "wrong"},
                                headers=_from("100.64.0.1"))
                problem(r, 401, "bad_credentials")
            for client in (a, b):
                problem(client.post("/v1/household/token", json={"email": email, "password": server.password},
                                    headers=_from("100.64.0.1")), 429, "too_many_attempts")
    finally:
        second.terminate()
        second.wait(15)


def test_guessed_clip_link_signatures_are_limited_per_address(server: Server) -> None:
    address = "203.0.113.41"
    with server.client() as c:
        for i in range(20):
            r = c.get(f"/v1/sessions/{uuid.uuid4()}/clip", params={"m": str(uuid.uuid4()), "e": "9999999999",
                                                                   "s": f"guess{i}"}, headers=_from(address))
            problem(r, 403, "bad_link")  # the same answer whether or not the session exists
        r = c.get(f"/v1/sessions/{uuid.uuid4()}/live", params={"m": str(uuid.uuid4()), "e": "1", "s": "x"},
                  headers=_from(address))
    problem(r, 429, "too_many_attempts")
