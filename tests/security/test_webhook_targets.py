"""Webhooks cannot reach inside: the SSRF attack replayed over HTTP against a real server, on both backends.

A partner registers URLs that point at the server's own network; an endpoint row that bypassed registration is
dead-lettered at send time; only an operator's allow-list lets webhooks reach a loopback receiver.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from servers import Server, serving
from threshold.notify.webhooks import verify

DEADLINE = 60.0
FORBIDDEN = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://10.0.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://localhost:8000/",
    "http://hooks.localhost/",
    "http://printer.local/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


class Receiver:
    """A partner's endpoint on loopback: a plain HTTP server in a thread that records every POST."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording receiver on 127.0.0.1."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module", params=[b for b in os.environ.get("THRESHOLD_TEST_BACKENDS",
                                                                  "sqlite,postgresql").split(",") if b])
def allowing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose operator allows webhooks into 127.0.0.0/8, where its own receivers live."""
    tmp = tmp_path_factory.mktemp(f"allowing-{request.param}")
    with serving(request.param, tmp, homes=2, drivers=2, webhook_allow_networks='["127.0.0.0/8"]') as s:
        yield s


def eventually(check: Callable[[], Any], what: str) -> Any:
    """The first truthy result of `check` within the deadline."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def endpoint_count(server: Server) -> int:
    """How many webhook endpoint rows exist."""
    return int(server.sql("SELECT count(*) FROM webhook_endpoints")[0][0])


def db_id(server: Server, value: str) -> Any:
    """An id as the backend stores it (SQLite keeps UUIDs as hex)."""
    return uuid.UUID(value) if server.database_url.startswith("postgresql") else uuid.UUID(value).hex


def driver_on_the_way(server: Server, home: int, driver: int) -> str:
    """Create a delivery for `home` assigned to `driver`, and send the driver on the way (a partner moment)."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    body = {"home_id": str(server.world["homes"][home]["id"]), "driver_id": str(server.world["drivers"][driver][0]),
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
            "packages": [{"barcode": f"PKG-{uuid.uuid4().hex[:10]}", "size": "M", "weight_g": 1200}]}
    with server.client() as c:
        r = c.post("/v1/deliveries", json=body, headers=server.partner_headers())
        assert r.status_code == 201, r.text
        delivery = str(r.json()["id"])
        r = c.post(f"/v1/driver/deliveries/{delivery}/on-the-way", json={"eta_minutes": 12},
                   headers={"Authorization": f"Bearer {server.driver_token(driver)}"})
        assert r.status_code == 200, r.text
    return delivery


def notifications_to(server: Server, endpoint: str) -> list[Any]:
    """(status, attempts, last_error) of every notification for one endpoint."""
    return server.sql("SELECT status, attempts, last_error FROM notifications WHERE endpoint_id = :ep",
                      ep=db_id(server, endpoint))


@pytest.mark.parametrize("url", FORBIDDEN)
def test_a_webhook_url_reaching_inside_is_refused_and_stores_nothing(server: Server, url: str) -> None:
    before = endpoint_count(server)
    with server.client() as c:
        r = c.post("/v1/webhooks", json={"url": url}, headers=server.partner_headers())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "webhook_target_forbidden"
    assert "Webhooks go only to public internet addresses" in r.json()["detail"]
    assert endpoint_count(server) == before


@pytest.mark.parametrize("url", ["https://admin:secret@hooks.partner.example/",
                                 "https://hooks.partner.example/" + "a" * 600])
def test_a_malformed_webhook_url_is_invalid_and_stores_nothing(server: Server, url: str) -> None:
    before = endpoint_count(server)
    with server.client() as c:
        r = c.post("/v1/webhooks", json={"url": url}, headers=server.partner_headers())
    assert r.status_code == 422 and r.json()["code"] == "webhook_url_invalid"
    assert endpoint_count(server) == before


def test_an_endpoint_that_bypassed_registration_is_dead_lettered_and_its_receiver_gets_nothing(
        server: Server, receiver: Receiver) -> None:
    with server.client() as c:
        r = c.post("/v1/webhooks", json={"url": "http://93.184.215.14/hooks"}, headers=server.partner_headers())
        assert r.status_code == 201, r.text
    endpoint = str(r.json()["id"])
    # What a name that resolved publicly at registration and now points at loopback amounts to.
    server.sql("UPDATE webhook_endpoints SET url = :url WHERE id = :id", url=receiver.url,
               id=db_id(server, endpoint))
    try:
        driver_on_the_way(server, home=0, driver=0)
        rows = eventually(lambda: [n for n in notifications_to(server, endpoint) if n[0] == "dead"],
                          "the webhook to loopback to be dead-lettered")
        _, attempts, error = rows[0]
        assert attempts == 1
        assert "webhook_target_forbidden" in error and "127.0.0.1, a loopback address" in error
        assert receiver.requests == []
    finally:
        with server.client() as c:
            c.delete(f"/v1/webhooks/{endpoint}", headers=server.partner_headers())


def test_the_allow_list_lets_a_signed_webhook_reach_the_operators_own_receiver(allowing: Server,
                                                                               receiver: Receiver) -> None:
    with allowing.client() as c:
        r = c.post("/v1/webhooks", json={"url": receiver.url}, headers=allowing.partner_headers())
        assert r.status_code == 201, r.text
    endpoint, secret = str(r.json()["id"]), str(r.json()["secret"])
    delivery = driver_on_the_way(allowing, home=0, driver=0)
    headers, body = eventually(lambda: receiver.requests[:1], "the webhook at the allowed receiver")[0]
    verify(secret, headers, body, now=int(datetime.now(UTC).timestamp()))
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert delivery in body.decode()
    eventually(lambda: [n for n in notifications_to(allowing, endpoint) if n[0] == "sent"],
               "the webhook to be recorded as sent")


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"])
def test_the_allow_list_allows_only_its_own_networks(allowing: Server, url: str) -> None:
    before = endpoint_count(allowing)
    with allowing.client() as c:
        r = c.post("/v1/webhooks", json={"url": url}, headers=allowing.partner_headers())
    assert r.status_code == 422 and r.json()["code"] == "webhook_target_forbidden"
    assert endpoint_count(allowing) == before
