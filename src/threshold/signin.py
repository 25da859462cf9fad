"""Checking a password for a member, driver or operator: one path for the API's token endpoints and the web.

Each check is rate limited per account and per client address (`limits`), a deactivated account never signs
in, and an unknown email costs the same time as a known one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import limits
from threshold.config import Settings
from threshold.deliveries.models import Driver
from threshold.errors import Unauthorized
from threshold.homes.models import Member
from threshold.ops.models import Operator
from threshold.security import issue_token, verify_password

Account = Member | Driver | Operator
# Who signs in with a password, by kind: the portal (members), the driver app, the operator console.
KINDS: dict[str, type[Member] | type[Driver] | type[Operator]] = {"member": Member, "driver": Driver,
                                                                 "operator": Operator}


class BadCredentials(Unauthorized):
    """Wrong email or password, or an account that may not sign in (never says which)."""

    code, title = "bad_credentials", "Wrong email or password"


async def verify(db: AsyncSession, lim: limits.Limits, kind: str, email: str, password: str, address: str,
                 now: datetime) -> Account:
    """The active account behind an email and password; TooManyAttempts or BadCredentials otherwise.

    A failure is counted in this transaction and kept when the refusal is raised (`keep_changes`).
    """
    email = email.strip().lower()[:320]
    account = limits.account_key(kind, email)
    await limits.check(db, lim, account, address, now)
    table = KINDS[kind]
    who = cast("Account | None", (await db.execute(select(table).where(table.email == email))).scalar_one_or_none())
    # The hash is checked even for an unknown email, so timing does not tell which emails have accounts.
    matches = verify_password(who.password_hash if who else None, password)
    if who is None or not matches or not who.active:
        await limits.failed(db, lim, account, address, now)
        raise BadCredentials("Wrong email or password.", keep_changes=True)
    return who


async def is_active(db: AsyncSession, kind: str, principal_id: object) -> bool:
    """True while the account exists and is active: checked on every request, so deactivation acts at once."""
    table = KINDS[kind]
    return bool((await db.execute(select(table.active).where(table.id == principal_id))).scalar_one_or_none())


async def token(db: AsyncSession, settings: Settings, kind: str, email: str, password: str, address: str,
                now: datetime) -> tuple[uuid.UUID, str]:
    """A short-lived bearer token for an account whose password checks out: (account id, token)."""
    who = await verify(db, limits.Limits.of(settings), kind, email, password, address, now)
    return who.id, issue_token(settings.secret_key, str(who.id), kind, settings.token_ttl_seconds, now)
