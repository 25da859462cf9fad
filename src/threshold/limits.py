"""Credential rate limits shared by every process, and the client address a limit is counted against.

Every place a secret is guessed (passwords on the token endpoints and web sign-in, guest link tokens, signed
links, partner API keys) counts its failures here, in the database, so a second API process sees the first one's
count. Three limits: one account from one address (a guesser is stopped without locking the real owner out from
elsewhere), one account from everywhere (a distributed guess; higher), and one address over every account. Past a
limit the caller waits (429 with Retry-After); the moment one locks is written to the platform's audit chain.
IPv6 clients count per /64, the block one subscriber usually holds.
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
    """How many failures one account from one address, one account overall, and one address may have."""

    window: timedelta
    per_account: int
    per_address: int
    per_account_overall: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings describe."""
        return cls(timedelta(minutes=settings.credential_window_minutes), settings.credential_failures_per_account,
                   settings.credential_failures_per_address, settings.credential_failures_per_account_overall)


def account_key(kind: str, name: str) -> str:
    """The counted name of an account: its kind and its normalised email (or key prefix)."""
    return f"{kind}:{name.strip().lower()}"[:320]


async def _count(db: AsyncSession, since: datetime, account: str | None = None,
                 address: str | None = None) -> tuple[int, datetime | None]:
    q = select(func.count(), func.min(LoginFailure.at)).where(LoginFailure.at >= since)
    if account is not None:
        q = q.where(LoginFailure.email == account)
    if address is not None:
        q = q.where(LoginFailure.ip == address)
    row = (await db.execute(q)).one()
    return int(row[0]), row[1]


def _wait(oldest: datetime | None, limits: Limits, now: datetime) -> int:
    if oldest is None:
        return int(limits.window.total_seconds())
    return int((oldest + limits.window - now).total_seconds()) + 1


def bucket(address: str) -> str:
    """The address a limit counts: an IPv6 client by its /64, anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def _one_at_a_time(db: AsyncSession, key: str) -> None:
    # PostgreSQL reads committed counts: without this, a burst of parallel guesses would all see a count under the
    # limit. The lock lasts until the request's transaction ends (SQLite has one writer at a time anyway).
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def check(db: AsyncSession, limits: Limits, account: str | None, address: str, now: datetime) -> None:
    """Refuse (TooManyAttempts) before the credential is even looked at, when any of its limits is reached."""
    address, since = bucket(address), now - limits.window
    if account:
        # Only a password's check is held to one at a time (until the request's short transaction ends); a token
        # page or stream must never wait on another request of the same address.
        await _one_at_a_time(db, account)
    counted = [(await _count(db, since, address=address), limits.per_address)]
    if account:
        counted.append((await _count(db, since, account=account, address=address), limits.per_account))
        counted.append((await _count(db, since, account=account), limits.per_account_overall))
    for (count, oldest), limit in counted:
        if count >= limit:
            raise TooManyAttempts(_wait(oldest, limits, now))


async def failed(db: AsyncSession, limits: Limits, account: str | None, address: str, now: datetime) -> None:
    """Count one failure; the failure that reaches a limit is audited on the platform chain.

    The caller's transaction must commit even though it refuses (a refusal raised with `keep_changes`).
    """
    address = bucket(address)
    db.add(LoginFailure(email=account or "", ip=address, at=now))
    await db.flush()
    since, minutes = now - limits.window, limits.window.total_seconds() / 60
    locked: list[tuple[str, str, str, dict[str, object]]] = []
    if account:
        if (await _count(db, since, account=account, address=address))[0] == limits.per_account:
            locked.append(("system", "account.locked", _subject(account),
                           {"scope": "address", "address": address, "minutes": minutes}))
        if (await _count(db, since, account=account))[0] == limits.per_account_overall:
            locked.append(("system", "account.locked", _subject(account), {"scope": "everywhere",
                                                                           "minutes": minutes}))
    if (await _count(db, since, address=address))[0] == limits.per_address:
        locked.append(("system", "address.locked", f"address:{address}", {"minutes": minutes}))
    if locked:
        await audit.append_many(db, PLATFORM_CHAIN, locked, now)


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
