"""Standard Webhooks: signatures that any receiver can check, and delivery to a real receiver on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address
from typing import Any

import pytest
from fake_twilio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threshold.notify.ports import Note, PermanentFailure
from threshold.notify.reach import Resolver, vet
from threshold.notify.targets import IPAddress
from threshold.notify.webhooks import (
    WebhookDeliveryError,
    WebhookSender,
    WebhookVerificationError,
    new_secret,
    sign,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2025, 6, 3, 12, 41, 7, tzinfo=UTC)
BODY = b'{"type":"delivery.completed"}'


def headers(msg_id: str = "msg_1", timestamp: int = 1_700_000_000, body: bytes = BODY,
            secret: str = SECRET) -> dict[str, str]:
    """The three Standard Webhooks headers for a message signed with `secret`."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def test_new_secrets_are_24_random_bytes_behind_the_prefix() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 24
    assert first != second


def test_signature_matches_the_standard_webhooks_published_vector() -> None:
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_an_independent_hmac() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_42.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign(secret, "msg_42", 1_700_000_000, BODY) == f"v1,{expected}"


def test_a_fresh_signed_webhook_verifies() -> None:
    verify(SECRET, headers(), BODY, now=1_700_000_000)


def test_header_names_are_matched_whatever_their_case() -> None:
    verify(SECRET, {k.title(): v for k, v in headers().items()}, BODY, now=1_700_000_000)


def test_one_matching_signature_among_several_is_enough() -> None:
    given = headers()
    given["webhook-signature"] = f"v1,{base64.b64encode(b'x' * 32).decode()} {given['webhook-signature']}"
    verify(SECRET, given, BODY, now=1_700_000_000)


@pytest.mark.parametrize(("what", "given", "body"), [
    ("tampered body", headers(), b'{"type":"delivery.refused"}'),
    ("wrong secret", headers(secret=new_secret()), BODY),
    ("other message id", {**headers(), "webhook-id": "msg_2"}, BODY),
    ("other version", {**headers(), "webhook-signature": headers()["webhook-signature"].replace("v1,", "v2,")},
     BODY),
    ("bare signature", {**headers(), "webhook-signature": headers()["webhook-signature"][3:]}, BODY),
])
def test_a_webhook_that_was_not_signed_as_given_is_refused(what: str, given: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, given, body, now=1_700_000_000)


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_timestamps_outside_the_window_are_refused_in_either_direction(skew: int) -> None:
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, headers(timestamp=1_700_000_000 + skew), BODY, now=1_700_000_000)


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_at_the_edge_of_the_window_are_accepted(skew: int) -> None:
    verify(SECRET, headers(timestamp=1_700_000_000 + skew), BODY, now=1_700_000_000)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    given = headers()
    del given[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(SECRET, given, BODY, now=1_700_000_000)


def test_a_timestamp_that_is_not_seconds_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="not a number"):
        verify(SECRET, {**headers(), "webhook-timestamp": "1_700_000_000"}, BODY, now=1_700_000_000)


@dataclass
class Receiver:
    """A partner's endpoint: verifies every webhook with `verify` and answers `status` when it verified."""

    secret: str
    status: int = 204
    url: str = ""
    verified: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        """Verify, record, answer."""
        self.hosts.append(request.headers["host"])
        body = await request.body()
        try:
            verify(self.secret, request.headers, body, now=int(NOW.timestamp()))
        except WebhookVerificationError:
            return Response(status_code=401)
        self.verified.append(json.loads(body))
        self.ids.append(request.headers["webhook-id"])
        return Response(status_code=self.status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A verifying webhook receiver on loopback."""
    endpoint = Receiver(secret=new_secret())
    async with serve(Starlette(routes=[Route("/hooks", endpoint.hook, methods=["POST"])])) as url:
        endpoint.url = f"{url}/hooks"
        yield endpoint


def note(receiver: Receiver, secret: str | None = None, url: str | None = None) -> Note:
    """A `delivered` webhook note for the receiver, signed with its secret unless told otherwise."""
    return Note(key="evt-9:webhook:ep-1", channel="webhook", recipient=url or receiver.url, moment="delivered",
                topic="delivery.completed", data={"delivery": "d-1", "clip_url": "https://clips.example/c/1"},
                secret=secret or receiver.secret)


def sender(allowed: tuple[str, ...] = ("127.0.0.0/8",), names: dict[str, str] | None = None) -> WebhookSender:
    """The webhook channel with a fixed clock, allowed to reach the loopback receiver; `names` are its DNS."""
    if names is None:
        return WebhookSender(clock=lambda: NOW, allowed=allowed)
    return WebhookSender(clock=lambda: NOW, allowed=allowed, resolve=dns(names))


def dns(names: dict[str, str]) -> Resolver:
    """A resolver that reads from `names` (a dict the test may change between calls)."""
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [IPv4Address(names[host])] if host in names else []

    return resolve


async def test_receiver_verifies_the_webhook_and_gets_the_event(receiver: Receiver) -> None:
    await sender().send(note(receiver))

    assert receiver.ids == ["evt-9:webhook:ep-1"]
    assert receiver.verified == [{"type": "delivery.completed", "moment": "delivered",
                                  "timestamp": "2025-06-03T12:41:07+00:00",
                                  "data": {"delivery": "d-1", "clip_url": "https://clips.example/c/1"}}]


async def test_a_retry_carries_the_same_webhook_id(receiver: Receiver) -> None:
    await sender().send(note(receiver))
    await sender().send(note(receiver))
    assert receiver.ids == ["evt-9:webhook:ep-1", "evt-9:webhook:ep-1"]


async def test_endpoint_refusing_the_signature_is_a_permanent_failure(receiver: Receiver) -> None:
    with pytest.raises(PermanentFailure, match="401"):
        await sender().send(note(receiver, secret=new_secret()))
    assert receiver.verified == []


async def test_gone_endpoint_is_a_permanent_failure(receiver: Receiver) -> None:
    receiver.status = 410
    with pytest.raises(PermanentFailure, match="410"):
        await sender().send(note(receiver))


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_server_errors_and_busy_answers_are_left_to_retry(receiver: Receiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(WebhookDeliveryError, match=str(status)):
        await sender().send(note(receiver))


@pytest.mark.parametrize(("url", "why"), [("ftp://partner.example/hooks", "http:// or https://"),
                                          ("file:///etc/passwd", "http:// or https://"),
                                          ("javascript:alert(1)", "http:// or https://"),
                                          ("https:///no-host", "must name a host")])
async def test_only_http_and_https_endpoints_are_called(receiver: Receiver, url: str, why: str) -> None:
    with pytest.raises(PermanentFailure, match=f"webhook_url_invalid: .*{why}"):
        await sender().send(note(receiver, url=url))


async def test_a_note_without_a_usable_secret_is_a_permanent_failure(receiver: Receiver) -> None:
    unsigned = Note(key="k", channel="webhook", recipient=receiver.url, moment="delivered", topic="t")
    with pytest.raises(PermanentFailure, match="no signing secret"):
        await sender().send(unsigned)
    with pytest.raises(PermanentFailure, match="malformed"):
        await sender().send(note(receiver, secret="whsec_not base64!"))
    assert receiver.verified == []


async def test_a_loopback_endpoint_is_refused_for_good_without_the_allow_list(receiver: Receiver) -> None:
    with pytest.raises(PermanentFailure, match=r"webhook_target_forbidden: .*127\.0\.0\.1, a loopback address"):
        await sender(allowed=()).send(note(receiver))
    assert receiver.hosts == []


async def test_the_request_goes_to_the_judged_address_and_names_the_host(receiver: Receiver) -> None:
    # No real resolver knows this name: the receiver is reached only if the sender connects to the address
    # it resolved and judged, telling the receiver which host it wanted.
    port = receiver.url.split(":")[2].split("/")[0]
    names = {"hooks.partner.test": "127.0.0.1"}
    await sender(names=names).send(note(receiver, url=f"http://hooks.partner.test:{port}/hooks"))
    assert receiver.hosts == [f"hooks.partner.test:{port}"]
    assert receiver.ids == ["evt-9:webhook:ep-1"]


async def test_a_name_that_turns_inside_after_registration_is_refused_at_send(receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://hooks.partner.test:{port}/hooks"
    names = {"hooks.partner.test": "93.184.215.14"}
    vetted = await vet(url, (), dns(names))
    assert vetted.addresses == (IPv4Address("93.184.215.14"),)
    names["hooks.partner.test"] = "127.0.0.1"
    with pytest.raises(PermanentFailure, match=r"hooks.partner.test \(127.0.0.1\), a loopback address"):
        await sender(allowed=(), names=names).send(note(receiver, url=url))
    assert receiver.hosts == []


async def test_a_name_that_does_not_resolve_is_left_to_retry(receiver: Receiver) -> None:
    with pytest.raises(WebhookDeliveryError, match="webhook_target_unresolvable"):
        await sender(names={}).send(note(receiver, url="https://gone.partner.test/hooks"))


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    async def moved(request: Request) -> Response:
        return Response(status_code=307, headers={"location": receiver.url})

    async with serve(Starlette(routes=[Route("/hooks", moved, methods=["POST"])])) as url:
        with pytest.raises(WebhookDeliveryError, match="307"):
            await sender().send(note(receiver, url=f"{url}/hooks"))
    assert receiver.hosts == []
