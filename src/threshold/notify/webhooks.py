"""Standard Webhooks (standardwebhooks.com): secrets, signing, verifying, and the webhook channel."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from threshold.notify.ports import Note, PermanentFailure
from threshold.notify.reach import Resolver, Vetted, system_resolve, vet
from threshold.notify.targets import (
    Network,
    WebhookTargetForbidden,
    WebhookTargetUnresolvable,
    WebhookUrlInvalid,
    networks,
)

SECRET_PREFIX = "whsec_"
# Busy, conflicting or early: the receiver may take the same message later (Standard Webhooks' advice).
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookVerificationError(Exception):
    """A webhook that must not be trusted: a header missing, too old or too new, or no matching signature."""


class WebhookDeliveryError(Exception):
    """The endpoint did not take the webhook this time (5xx, 429, redirect, host not found): retry later."""


def new_secret() -> str:
    """A fresh signing secret: "whsec_" and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret is whsec_ followed by base64")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one message: "v1," and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: int, tolerance: int = 300) -> None:
    """Accept a webhook only if fresh (within `tolerance` seconds either way) and signed with `secret`."""
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id, stamp, signatures = (lower.get(f"webhook-{h}") for h in ("id", "timestamp", "signature"))
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not TIMESTAMP.fullmatch(stamp):
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds")
    timestamp = int(stamp)
    # Both directions: an old message may be a replay, a future one a signature made to be replayed later.
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for entry in signatures.split():
        if hmac.compare_digest(entry.encode(), expected):
            return
    raise WebhookVerificationError("no matching signature")


def _system_clock() -> datetime:
    return datetime.now(UTC)


class WebhookSender:
    """The webhook channel: POSTs the note as JSON, signed with the endpoint's secret, to an address it judged.

    The endpoint's host is resolved on every send and every address judged (`notify.targets`); the request then
    goes to the judged address itself, named in `Host` and in TLS, so a name that resolves elsewhere a moment
    later (DNS rebinding) reaches nothing new. Redirects are never followed: they would skip the judging.
    """

    def __init__(self, timeout: float = 5.0, clock: Callable[[], datetime] = _system_clock,
                 allowed: Sequence[str | Network] = (), resolve: Resolver = system_resolve) -> None:
        self.timeout = timeout
        self.clock = clock
        self.allowed = networks(allowed)
        self.resolve = resolve

    async def send(self, note: Note) -> None:
        """Deliver one note to its endpoint; PermanentFailure when the endpoint is refused or refuses for good."""
        vetted = await _vet(note.recipient, self.allowed, self.resolve)
        now = self.clock()
        body = json.dumps(
            {"type": note.topic, "moment": note.moment, "timestamp": now.isoformat(), "data": note.data},
            separators=(",", ":"), default=str,
        ).encode()
        headers = {
            "host": vetted.target.host_header,
            "webhook-id": _header(note.key),
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": _signature(note, int(now.timestamp()), body),
            "content-type": "application/json",
        }
        url, extensions = _pinned(note.recipient, vetted)
        # A client per send: a pooled TLS connection verified for one name is never reused for another name
        # that resolves to the same address.
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers, extensions=extensions)
        _check(response)


async def _vet(url: str, allowed: Sequence[Network], resolve: Resolver) -> Vetted:
    try:
        return await vet(url, allowed, resolve)
    except (WebhookUrlInvalid, WebhookTargetForbidden) as exc:
        raise PermanentFailure(f"{exc.code}: {exc.detail}") from exc
    except WebhookTargetUnresolvable as exc:
        # A resolver may be down for a while; the attempts run out into a dead letter if it stays so.
        raise WebhookDeliveryError(f"{exc.code}: {exc.detail}") from exc


def _pinned(url: str, vetted: Vetted) -> tuple[httpx.URL, dict[str, Any]]:
    """The URL aimed at the judged address, and the name TLS must verify (the URL's host, not the address)."""
    target = vetted.target
    try:
        pinned = httpx.URL(url).copy_with(scheme=target.scheme, host=str(vetted.addresses[0]), port=target.port)
    except httpx.InvalidURL as exc:
        raise PermanentFailure("webhook_url_invalid: the webhook URL cannot be sent to") from exc
    if target.scheme == "https" and target.address is None:
        return pinned, {"sni_hostname": target.host}
    return pinned, {}


def _header(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise PermanentFailure("the note's key cannot go into a header")
    return value


def _signature(note: Note, timestamp: int, body: bytes) -> str:
    # Without a usable secret no attempt can ever be signed, so retrying would only delay the dead letter.
    if not note.secret:
        raise PermanentFailure("the endpoint has no signing secret")
    try:
        return sign(note.secret, note.key, timestamp, body)
    except ValueError as exc:
        raise PermanentFailure("the endpoint's signing secret is malformed") from exc


def _check(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        raise PermanentFailure(f"the endpoint refused the webhook: HTTP {status}")
    raise WebhookDeliveryError(f"the endpoint answered HTTP {status}")
