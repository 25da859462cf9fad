"""FastAPI dependencies: the request's database session, the clock, and who is calling."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.runner import AccessRunner
from threshold.config import Settings
from threshold.db import close_failed
from threshold.deliveries.models import ApiKey
from threshold.errors import Unauthorized
from threshold.ops.models import Operator
from threshold.security import api_key_prefix, hash_api_key, read_token, same

bearer = HTTPBearer(auto_error=False)


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


async def get_runner(request: Request) -> AccessRunner:
    """The access runner (sessions' imperative shell)."""
    runner: AccessRunner = request.app.state.runner
    return runner


# Committed when the endpoint returns, before the response is sent: a client told 201 can rely on the row.
SessionDep = Annotated[AsyncSession, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[datetime, Depends(get_now)]
RunnerDep = Annotated[AccessRunner, Depends(get_runner)]
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


async def get_partner(db: SessionDep, creds: Credentials,
                      x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    """The partner behind an API key (Authorization: Bearer <key> or X-API-Key)."""
    key = x_api_key or (creds.credentials if creds else None)
    if not key:
        raise Unauthorized("A partner API key is required.", code="api_key_required")
    if not key.startswith("thr_"):
        raise Unauthorized("The API key is not valid.", code="api_key_invalid")
    digest = hash_api_key(key)
    held = _valid_keys.get(digest)
    if held is not None and time.monotonic() - held[1] < KEY_TTL:
        return Principal("partner", held[0])
    row = (await db.execute(select(ApiKey).where(ApiKey.prefix == api_key_prefix(key)))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not same(row.key_hash, digest):
        _valid_keys.pop(digest, None)
        raise Unauthorized("The API key is not valid.", code="api_key_invalid")
    if len(_valid_keys) > 10_000:
        _valid_keys.clear()
    _valid_keys[digest] = (row.partner_id, time.monotonic())
    return Principal("partner", row.partner_id)


def _bearer_subject(creds: HTTPAuthorizationCredentials | None, settings: Settings, role: str,
                    now: datetime) -> uuid.UUID:
    if creds is None:
        raise Unauthorized("A bearer token is required.", code="token_required")
    claims = read_token(settings.secret_key, creds.credentials, role, now)
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The token is not valid.", code="token_invalid") from exc


async def get_driver(creds: Credentials, settings: SettingsDep, now: NowDep) -> Principal:
    """The driver behind a bearer token."""
    return Principal("driver", _bearer_subject(creds, settings, "driver", now))


async def get_member(creds: Credentials, settings: SettingsDep, now: NowDep) -> Principal:
    """The household member behind a bearer token."""
    return Principal("member", _bearer_subject(creds, settings, "member", now))


async def get_operator(creds: Credentials, settings: SettingsDep, now: NowDep, db: SessionDep) -> Principal:
    """The operator behind a bearer token, while their account is active (a deactivated one is refused at once)."""
    operator = Principal("operator", _bearer_subject(creds, settings, "operator", now))
    if not (await db.execute(select(Operator.active).where(Operator.id == operator.id))).scalar_one_or_none():
        raise Unauthorized("This operator account is not active.", code="operator_inactive")
    return operator


PartnerDep = Annotated[Principal, Depends(get_partner)]
DriverDep = Annotated[Principal, Depends(get_driver)]
MemberDep = Annotated[Principal, Depends(get_member)]
OperatorDep = Annotated[Principal, Depends(get_operator)]
