"""Credential rate limits shared by every process, and the client address a limit is counted against.

Every place a secret is guessed (passwords on the token endpoints and web sign-in, guest link tokens, partner API
keys) counts its failures here, per account and per client address, in the database: a second API process sees
the first one's count. Past the limit the caller waits (429 with Retry-After); the moment an account or an address
locks is written to the platform's audit chain.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Index, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import HTTPConnection

from threshold.audit import service as audit
from threshold.audit.models import PLATFORM_CHAIN
from threshold.config import Settings
from threshold.db import Base, UTCDateTime, id_column, utcnow
from threshold.errors import ThresholdError


class LoginFailure(Base):
    """A failed credential, counted per account and per client address to slow down guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_at", "email", "at"), Index("ix_login_failures_ip_at", "ip", "at"))
    id: Mapped[uuid.UUID] = id_column()
    # The account guessed at ("member:ann@example.com", "partner-key:thr_ab12"), or "" when there is none.
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TooManyAttempts(ThresholdError):
    """Too many failed credentials for this account or from this address: wait, then try again."""

    status, code, title = 429, "too_many_attempts", "Too many attempts"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        wait = max(1, retry_after)
        super().__init__(detail or f"Too many failed attempts. Try again in {_minutes(wait)}.",
                         headers={"Retry-After": str(wait)}, extra={"retry_after": wait})
        self.retry_after = wait


def _minutes(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 90 else f"{round(seconds / 60)} minutes"


@dataclass(frozen=True, slots=True)
class Limits:
    """How many failures an account and an address may have inside the window."""

    window: timedelta
    per_account: int
    per_address: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings describe."""
        return cls(timedelta(minutes=settings.credential_window_minutes), settings.credential_failures_per_account,
                   settings.credential_failures_per_address)


def account_key(kind: str, name: str) -> str:
    """The counted name of an account: its kind and its normalised email (or key prefix)."""
    return f"{kind}:{name.strip().lower()}"[:320]


async def _count(db: AsyncSession, column: str, value: str, since: datetime) -> tuple[int, datetime | None]:
    col = LoginFailure.email if column == "email" else LoginFailure.ip
    row = (await db.execute(select(func.count(), func.min(LoginFailure.at))
                            .where(col == value, LoginFailure.at >= since))).one()
    return int(row[0]), row[1]


def _wait(oldest: datetime | None, limits: Limits, now: datetime) -> int:
    if oldest is None:
        return int(limits.window.total_seconds())
    return int((oldest + limits.window - now).total_seconds()) + 1


async def check(db: AsyncSession, limits: Limits, account: str | None, address: str, now: datetime) -> None:
    """Refuse (TooManyAttempts) before the credential is even looked at, when the account or address is locked."""
    since = now - limits.window
    if account:
        count, oldest = await _count(db, "email", account, since)
        if count >= limits.per_account:
            raise TooManyAttempts(_wait(oldest, limits, now))
    count, oldest = await _count(db, "ip", address[:64], since)
    if count >= limits.per_address:
        raise TooManyAttempts(_wait(oldest, limits, now))


async def failed(db: AsyncSession, limits: Limits, account: str | None, address: str, now: datetime) -> None:
    """Count one failure; the failure that locks an account or an address is audited on the platform chain.

    The caller's transaction must commit even though it refuses (a refusal raised with `keep_changes`).
    """
    db.add(LoginFailure(email=account or "", ip=address[:64], at=now))
    await db.flush()
    since = now - limits.window
    locked: list[tuple[str, str, str, dict[str, object]]] = []
    if account:
        count, _ = await _count(db, "email", account, since)
        if count == limits.per_account:
            locked.append(("system", "account.locked", _subject(account),
                           {"failures": count, "address": address[:64], "minutes": _window_minutes(limits)}))
    count, _ = await _count(db, "ip", address[:64], since)
    if count == limits.per_address:
        locked.append(("system", "address.locked", f"address:{address[:64]}",
                       {"failures": count, "minutes": _window_minutes(limits)}))
    if locked:
        await audit.append_many(db, PLATFORM_CHAIN, locked, now)


def _window_minutes(limits: Limits) -> float:
    return limits.window.total_seconds() / 60


def _subject(account: str) -> str:
    # An email is personal data: the chain keeps the account's kind and a digest that identifies it.
    kind, _, name = account.partition(":")
    return f"{kind}:{hashlib.sha256(name.encode()).hexdigest()[:32]}"


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(conn: HTTPConnection, settings: Settings) -> str:
    """The client's address: the TCP peer, or X-Forwarded-For's nearest untrusted hop behind a trusted proxy."""
    peer = conn.client.host if conn.client else "-"
    networks = _networks(tuple(settings.trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    # Read from the right: each trusted proxy appended the address it saw; the first hop no trusted proxy
    # vouches for is the client (anything further left was written by the client itself).
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else peer
