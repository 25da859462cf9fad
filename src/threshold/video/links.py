"""Expiring signed links to a session's clip, bound to one household member (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode


def _mac(secret: str, what: str, session_id: uuid.UUID, member_id: uuid.UUID, expires: int) -> str:
    msg = f"{what}:{session_id}:{member_id}:{expires}".encode()
    # 128 bits of the HMAC are plenty against forgery and keep the link short enough for an SMS.
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, what: str, session_id: uuid.UUID, member_id: uuid.UUID, now: datetime,
         ttl: timedelta) -> dict[str, str]:
    """Query parameters that let `member_id` open `what` (clip or live) of one session until now + ttl."""
    expires = int((now + ttl).timestamp())
    return {"m": str(member_id), "e": str(expires), "s": _mac(secret, what, session_id, member_id, expires)}


def url(base: str, what: str, session_id: uuid.UUID, params: dict[str, str]) -> str:
    """The full link for a signed clip or live view."""
    path = "clip" if what == "clip" else "live"
    return f"{base.rstrip('/')}/v1/sessions/{session_id}/{path}?{urlencode(params)}"


def check(secret: str, what: str, session_id: uuid.UUID, member: str, expires: str, signature: str,
          now: datetime) -> tuple[uuid.UUID | None, str | None]:
    """(member id, None) for a good link, or (None, why) with why in bad_link | link_expired."""
    try:
        member_id, exp = uuid.UUID(member), int(expires)
    except ValueError:
        return None, "bad_link"
    good = _mac(secret, what, session_id, member_id, exp)
    if not hmac.compare_digest(good, signature):
        return None, "bad_link"
    if exp <= int(now.timestamp()):
        return None, "link_expired"
    return member_id, None
