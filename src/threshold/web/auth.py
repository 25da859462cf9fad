"""Sign-up, sign-in and sign-out for the portal: argon2id, fresh sessions, CSRF tokens, a login rate limit."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import limits, signin
from threshold.homes.models import Household, Member
from threshold.inputs import is_line
from threshold.security import hash_password, hash_token, same
from threshold.web.models import WebSession

SESSION_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Signed:
    """A signed-in browser: who, and the token for its cookie (shown once)."""

    kind: str
    principal_id: uuid.UUID
    token: str
    csrf: str


class FormErrors(Exception):
    """Field -> message; nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def check_password(password: str) -> str | None:
    """Why a new password is not good enough, or None."""
    if len(password) < 12:
        return "Use at least 12 characters."
    if len(password) > 200:
        return "Use at most 200 characters."
    return None


async def sign_up(db: AsyncSession, household_name: str, name: str, email: str, password: str,
                  now: datetime, lim: limits.Limits, address: str) -> Member:
    """A new household with its first member; every field is checked before anything is written.

    Saying that an email has an account tells whether it does: each such answer counts against the address,
    like a wrong password, so nobody can list the accounts.
    """
    await limits.check(db, lim, None, address, now)
    email = email.strip().lower()
    errors: dict[str, str] = {}
    if not household_name.strip() or len(household_name) > 200 or not is_line(household_name):
        errors["household"] = "Give your household a name (up to 200 characters, letters and punctuation)."
    if not name.strip() or len(name) > 200 or not is_line(name):
        errors["name"] = "Give your name (up to 200 characters, letters and punctuation)."
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or not email.isprintable() \
            or any(c.isspace() for c in email):
        errors["email"] = "Give an email address such as you@example.com."
    elif (await db.execute(select(Member.id).where(Member.email == email))).first() is not None:
        errors["email"] = "This email already has an account: sign in instead."
        await limits.failed(db, lim, None, address, now)
    weak = check_password(password)
    if weak:
        errors["password"] = weak
    if errors:
        raise FormErrors(errors)
    household = Household(id=uuid.uuid4(), name=household_name.strip(), created_at=now)
    db.add(household)
    await db.flush()
    member = Member(id=uuid.uuid4(), household_id=household.id, email=email, name=name.strip(),
                    password_hash=hash_password(password), role="owner")
    db.add(member)
    await db.flush()
    return member


async def sign_in(db: AsyncSession, lim: limits.Limits, email: str, password: str, address: str, now: datetime,
                  kind: str = "member") -> Signed:
    """Check the password (rate-limited) and open a fresh session: a token set before sign-in never carries over."""
    try:
        who = await signin.verify(db, lim, kind, email, password, address, now)
    except signin.BadCredentials:
        raise FormErrors({"password": "Wrong email or password."}) from None
    return await open_session(db, who.id, now, kind)


async def open_session(db: AsyncSession, principal_id: uuid.UUID, now: datetime, kind: str = "member") -> Signed:
    """A new session for a member, driver or operator, with a new random token and CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    db.add(WebSession(token_hash=hash_token(token), kind=kind, principal_id=principal_id, csrf=csrf,
                      created_at=now, expires_at=now + SESSION_TTL))
    return Signed(kind, principal_id, token, csrf)


async def session_of(db: AsyncSession, token: str | None, now: datetime, kind: str = "member") -> WebSession | None:
    """The live session of this kind behind a cookie token, or None."""
    if not token or len(token) > 200:
        return None
    row = await db.get(WebSession, hash_token(token))
    if row is None or row.expires_at <= now or row.kind != kind:
        return None
    # A deactivated member, driver or operator is signed out everywhere at once, not when the cookie expires.
    if not await signin.is_active(db, kind, row.principal_id):
        return None
    return row


def csrf_ok(session: WebSession, presented: str | None) -> bool:
    """True when a request carries the session's CSRF token."""
    return bool(presented) and same(session.csrf, presented or "")


async def sign_out(db: AsyncSession, token: str | None) -> None:
    """End the session behind a cookie token (others of the same member stay)."""
    if token:
        await db.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))
