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

from servers import EXE, Server, serving, wait_until_serving
from threshold.devices.broker import free_port

TOKEN_PATHS = {"member": "/v1/household/token", "driver": "/v1/driver/token", "operator": "/v1/ops/token"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server behind a trusted proxy on loopback (the proxy's X-Forwarded-For names each client)."""
    from conftest import backends

    if request.param not in backends():
        pytest.skip(f"{request.param} is not among THRESHOLD_TEST_BACKENDS")
    with serving(request.param, tmp_path_factory.mktemp(f"limits-{request.param}"),
                 trusted_proxies='["127.0.0.1/32"]') as s:
        yield s


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _email(server: Server, kind: str) -> str:
    return {"member": server.world["homes"][0]["member_email"], "driver": server.world["drivers"][0][1],
            "operator": server.world["operator_email"]}[kind]


def _locks(server: Server, action: str) -> list[dict[str, object]]:
    return server.audit(action, chain=str(uuid.UUID(int=0)))


@pytest.mark.parametrize("kind", ["member", "driver", "operator"])
def test_wrong_passwords_lock_the_account_even_for_the_right_one(server: Server, kind: str) -> None:
    email, path, before = _email(server, kind), TOKEN_PATHS[kind], len(_locks(server, "account.locked"))
    with server.client() as c:
        for i in range(5):
            r = c.post(path, json={"email": email, "password": f"wrong-{i}"}, headers=_from(f"198.51.100.{i + 1}"))
            problem(r, 401, "bad_credentials")
        # Thirty more, then the right password, each from yet another address: the account is what is locked.
        for i in range(30):
            r = c.post(path, json={"email": email, "password": "wrong"}, headers=_from(f"198.51.101.{i + 1}"))
            body = problem(r, 429, "too_many_attempts")
        right = c.post(path, json={"email": email, "password": server.password}, headers=_from("198.51.102.1"))
    body = problem(right, 429, "too_many_attempts")
    wait = int(right.headers["Retry-After"])
    assert 0 < wait <= 15 * 60 and body["retry_after"] == wait
    assert len(_locks(server, "account.locked")) == before + 1
    assert email not in str(_locks(server, "account.locked"))  # the chain keeps a digest, never the email


def test_web_sign_in_is_locked_per_account_too(server: Server) -> None:
    email = server.world["homes"][1]["member_email"]
    with server.client(follow_redirects=False) as c:
        for i in range(5):
            _, r = web_sign_in(server, email, client=c, headers=_from(f"192.0.2.{i + 1}"), password="wrong-password")
            assert r.status_code == 401
        _, r = web_sign_in(server, email, client=c, headers=_from("192.0.2.99"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in r.text


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
        problem(c.get("/v1/webhooks", headers={**_from(address), **server.partner_headers()}), 429,
                "too_many_attempts")


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
                                headers=_from(f"100.64.0.{i + 1}"))
                problem(r, 401, "bad_credentials")
            for client in (a, b):
                problem(client.post("/v1/household/token", json={"email": email, "password": server.password},
                                    headers=_from("100.64.1.1")), 429, "too_many_attempts")
    finally:
        second.terminate()
        second.wait(15)


def test_guessed_clip_link_signatures_are_limited_per_address(server: Server) -> None:
    address = "203.0.113.41"
    with server.client() as c:
        for i in range(20):
            r = c.get(f"/v1/sessions/{uuid.uuid4()}/clip", params={"m": str(uuid.uuid4()), "e": "9999999999",
                                                                   "s": f"guess{i}"}, headers=_from(address))
            problem(r, 404, "not_found")
        r = c.get(f"/v1/sessions/{uuid.uuid4()}/live", params={"m": str(uuid.uuid4()), "e": "1", "s": "x"},
                  headers=_from(address))
    problem(r, 429, "too_many_attempts")
