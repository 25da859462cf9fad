"""FastAPI dependencies: the request's database session, the clock, and who is calling."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import limits, signin
from threshold.access.runner import AccessRunner
from threshold.config import Settings
from threshold.db import close_failed
from threshold.deliveries.models import ApiKey
from threshold.errors import Unauthorized
from threshold.security import api_key_prefix, hash_api_key, read_token, same

bearer = HTTPBearer(auto_error=False)
# Partners may send their key as a bearer token or in X-API-Key; both are declared in the OpenAPI.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed at the boundary, rolled back on error.

    A refusal that must stay audited (`keep_changes`) commits its audit record and still fails.
    """
    async with request.app.state.sessions() as db:
        try:
            yield db
            await db.commit()
        except BaseException as err:
            await close_failed(db, err)
            raise


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_now(request: Request) -> datetime:
    """The current time from the app's clock (tests control it)."""
    now: datetime = request.app.state.clock()
    return now


async def get_address(request: Request) -> str:
    """The client's address, trusting X-Forwarded-For only from the proxies the operator configured."""
    return limits.client_address(request, request.app.state.settings)


async def get_runner(request: Request) -> AccessRunner:
    """The access runner (sessions' imperative shell)."""
    runner: AccessRunner = request.app.state.runner
    return runner


# Committed when the endpoint returns, before the response is sent: a client told 201 can rely on the row.
SessionDep = Annotated[AsyncSession, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[datetime, Depends(get_now)]
RunnerDep = Annotated[AccessRunner, Depends(get_runner)]
AddressDep = Annotated[str, Depends(get_address)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    kind: str
    id: uuid.UUID


# Keys found valid in the last few seconds (by their hash, never the key): a partner's burst of offers then costs
# no database round trip each. A revoked key stops working everywhere within KEY_TTL seconds.
KEY_TTL = 10.0
_valid_keys: dict[str, tuple[uuid.UUID, float]] = {}


async def get_partner(db: SessionDep, creds: Credentials, settings: SettingsDep, address: AddressDep, now: NowDep,
                      x_api_key: Annotated[str | None, Depends(api_key_header)] = None) -> Principal:
    """The partner behind an API key (Authorization: Bearer <key> or X-API-Key)."""
    key = x_api_key or (creds.credentials if creds else None)
    if not key:
        raise Unauthorized("A partner API key is required.", code="api_key_required")
    digest = hash_api_key(key)
    held = _valid_keys.get(digest)
    if held is not None and time.monotonic() - held[1] < KEY_TTL:
        return Principal("partner", held[0])
    lim = limits.Limits.of(settings)
    # Guessing keys is counted like guessing passwords, per address across processes. Not per key: a key's prefix
    # is no secret, and a lock on it would let anyone shut its partner out, while the rest of a key (256 random
    # bits) cannot be guessed anyway.
    await limits.check(db, lim, None, address, now)
    prefix = api_key_prefix(key)[:24] if key.startswith("thr_") else ""
    row = (await db.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none() if prefix else None
    if row is None or (row.revoked_at is not None and row.revoked_at <= now) or not same(row.key_hash, digest):
        _valid_keys.pop(digest, None)
        await limits.failed(db, lim, None, address, now)
        raise Unauthorized("The API key is not valid.", code="api_key_invalid", keep_changes=True)
    if len(_valid_keys) > 10_000:
        _valid_keys.clear()
    # A key due to be revoked later (a rotation's grace) is not cached past its end.
    if row.revoked_at is None:
        _valid_keys[digest] = (row.partner_id, time.monotonic())
    return Principal("partner", row.partner_id)


def forget_keys() -> None:
    """Drop this process's cache of valid keys (a key revoked here stops at once; elsewhere within KEY_TTL)."""
    _valid_keys.clear()


def _bearer_subject(creds: HTTPAuthorizationCredentials | None, settings: Settings, role: str,
                    now: datetime) -> uuid.UUID:
    if creds is None:
        raise Unauthorized("A bearer token is required.", code="token_required")
    claims = read_token(settings.secret_key, creds.credentials, role, now)
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The token is not valid.", code="token_invalid") from exc


async def _active(request: Request, kind: str, principal: uuid.UUID) -> Principal:
    # Checked on every request: a token issued before deactivation is refused on the very next call. A short
    # session of its own, so the request holds no transaction while an entry runs in the runner's (SQLite
    # allows one writer, and every transaction there takes the write lock).
    async with request.app.state.sessions() as db:
        active = await signin.is_active(db, kind, principal)
    if not active:
        raise Unauthorized(f"This {kind} account is not active.", code=f"{kind}_inactive")
    return Principal(kind, principal)


async def get_driver(creds: Credentials, settings: SettingsDep, now: NowDep, request: Request) -> Principal:
    """The driver behind a bearer token, while their account is active."""
    return await _active(request, "driver", _bearer_subject(creds, settings, "driver", now))


async def get_member(creds: Credentials, settings: SettingsDep, now: NowDep, request: Request) -> Principal:
    """The household member behind a bearer token, while their account is active."""
    return await _active(request, "member", _bearer_subject(creds, settings, "member", now))


async def get_operator(creds: Credentials, settings: SettingsDep, now: NowDep, request: Request) -> Principal:
    """The operator behind a bearer token, while their account is active."""
    return await _active(request, "operator", _bearer_subject(creds, settings, "operator", now))


PartnerDep = Annotated[Principal, Depends(get_partner)]
DriverDep = Annotated[Principal, Depends(get_driver)]
MemberDep = Annotated[Principal, Depends(get_member)]
OperatorDep = Annotated[Principal, Depends(get_operator)]
