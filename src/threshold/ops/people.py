"""Operators manage the people and partners who reach homes: drivers in and out, partners' API keys issued,
rotated and revoked, members stopped. Never commits; every change is audited on the platform's chain.

A deactivated account is refused on its very next request, bearer token or web session: each request checks
the account. A revoked key stops at once in the process that revoked it and within `deps.KEY_TTL`
seconds in every other process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.audit.models import PLATFORM_CHAIN
from threshold.deliveries.models import ApiKey, Carrier, Driver, Partner
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes.models import Member
from threshold.security import hash_password, new_api_key

MIN_PASSWORD = 12


@dataclass(frozen=True, slots=True)
class DriverView:
    """A driver as operators see them (never a password hash)."""

    id: uuid.UUID
    email: str
    name: str
    carrier: str
    active: bool


@dataclass(frozen=True, slots=True)
class KeyView:
    """A partner's API key: its public prefix and state; the key itself only when it is issued."""

    id: uuid.UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerView:
    """A partner and its keys."""

    id: uuid.UUID
    name: str
    keys: list[KeyView]


def _bad(detail: str, code: str) -> ThresholdError:
    return ThresholdError(detail, code=code, status=422, title="Invalid request")


def _email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise _bad("Give an email address such as driver@example.com.", "email_invalid")
    return email


def _name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise _bad(f"Give the {what}'s name (1 to 200 printable characters).", "name_invalid")
    return name


async def _log(db: AsyncSession, actor: str, action: str, subject: str, data: dict[str, object],
               now: datetime) -> None:
    await audit.append(db, PLATFORM_CHAIN, actor, action, subject, data, now)


async def drivers(db: AsyncSession) -> list[DriverView]:
    """Every driver, by email."""
    q = select(Driver, Carrier.name).join(Carrier, Carrier.id == Driver.carrier_id).order_by(Driver.email)
    return [DriverView(d.id, d.email, d.name, carrier, d.active) for d, carrier in (await db.execute(q)).all()]


async def add_driver(db: AsyncSession, email: str, name: str, carrier: str, password: str, actor: str,
                     now: datetime, partner_id: uuid.UUID | None = None) -> DriverView:
    """A new, active driver of a carrier (found by name, or created for the partner whose deliveries it runs)."""
    email, name, carrier = _email(email), _name(name, "driver"), _name(carrier, "carrier")
    if len(password) < MIN_PASSWORD or len(password) > 200:
        raise _bad(f"The password needs {MIN_PASSWORD} to 200 characters.", "password_too_short")
    if partner_id is not None and await db.get(Partner, partner_id) is None:
        raise NotFound("No such partner.", code="partner_not_found")
    if (await db.execute(select(Driver.id).where(Driver.email == email))).first() is not None:
        raise Conflict("A driver with this email exists already.", code="driver_exists")
    q = select(Carrier).where(Carrier.name == carrier)
    if partner_id is not None:
        q = q.where(Carrier.partner_id == partner_id)
    found = (await db.execute(q.limit(1))).scalar_one_or_none()
    if found is None:
        # A partner can assign its deliveries only to drivers of its own carriers.
        found = Carrier(id=uuid.uuid4(), name=carrier, partner_id=partner_id)
        db.add(found)
        await db.flush()
    driver = Driver(id=uuid.uuid4(), carrier_id=found.id, name=name, email=email,
                    password_hash=hash_password(password), active=True)
    db.add(driver)
    await db.flush()
    await _log(db, actor, "driver.added", f"driver:{driver.id}",
               {"carrier": str(found.id), "partner": str(found.partner_id) if found.partner_id else None}, now)
    return DriverView(driver.id, email, name, carrier, True)


async def _driver(db: AsyncSession, who: str) -> Driver:
    """A driver by id or email."""
    try:
        q = select(Driver).where(Driver.id == uuid.UUID(who))
    except ValueError:
        q = select(Driver).where(Driver.email == who.strip().lower())
    driver = (await db.execute(q)).scalar_one_or_none()
    if driver is None:
        raise NotFound("No such driver.", code="driver_not_found")
    return driver


async def set_driver_active(db: AsyncSession, who: str, active: bool, actor: str, now: datetime) -> DriverView:
    """Deactivate or reactivate a driver; audited. Tokens and web sessions are checked per request, so out at once."""
    driver = await _driver(db, who)
    if driver.active != active:
        driver.active = active
        await _log(db, actor, "driver.activated" if active else "driver.deactivated", f"driver:{driver.id}", {}, now)
    carrier = (await db.execute(select(Carrier.name).where(Carrier.id == driver.carrier_id))).scalar_one()
    return DriverView(driver.id, driver.email, driver.name, carrier, driver.active)


async def set_member_active(db: AsyncSession, member_id: uuid.UUID, active: bool, actor: str,
                            now: datetime) -> bool:
    """Stop (or restore) a household member's access at once (tokens and web sessions are refused); audited."""
    member = await db.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.", code="member_not_found")
    if member.active != active:
        member.active = active
        await _log(db, actor, "member.activated" if active else "member.deactivated", f"member:{member.id}", {},
                   now)
    return member.active


async def partners(db: AsyncSession) -> list[PartnerView]:
    """Every partner with its keys (prefixes only), by name."""
    keys: dict[uuid.UUID, list[KeyView]] = {}
    for k in (await db.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars():
        keys.setdefault(k.partner_id, []).append(KeyView(k.id, k.prefix, k.created_at, k.revoked_at))
    rows = (await db.execute(select(Partner).order_by(Partner.name))).scalars()
    return [PartnerView(p.id, p.name, keys.get(p.id, [])) for p in rows]


async def _issue(db: AsyncSession, partner_id: uuid.UUID, actor: str, now: datetime) -> KeyView:
    key, prefix, digest = new_api_key()
    row = ApiKey(id=uuid.uuid4(), partner_id=partner_id, prefix=prefix, key_hash=digest, created_at=now)
    db.add(row)
    await db.flush()
    await _log(db, actor, "partner.key_issued", f"partner:{partner_id}", {"prefix": prefix}, now)
    return KeyView(row.id, prefix, now, None, key)


async def add_partner(db: AsyncSession, name: str, actor: str, now: datetime) -> tuple[PartnerView, KeyView]:
    """A new partner and its first API key (the key is shown this once)."""
    name = _name(name, "partner")
    if (await db.execute(select(func.count()).select_from(Partner).where(Partner.name == name))).scalar_one():
        raise Conflict("A partner with this name exists already.", code="partner_exists")
    partner = Partner(id=uuid.uuid4(), name=name)
    db.add(partner)
    await db.flush()
    await _log(db, actor, "partner.added", f"partner:{partner.id}", {"name": name}, now)
    key = await _issue(db, partner.id, actor, now)
    return PartnerView(partner.id, name, [key]), key


async def partner(db: AsyncSession, who: str) -> Partner:
    """A partner by id or exact name."""
    try:
        q = select(Partner).where(Partner.id == uuid.UUID(who))
    except ValueError:
        q = select(Partner).where(Partner.name == who.strip())
    found = (await db.execute(q.limit(1))).scalar_one_or_none()
    if found is None:
        raise NotFound("No such partner.", code="partner_not_found")
    return found


async def rotate_key(db: AsyncSession, partner_id: uuid.UUID, grace: timedelta, actor: str,
                     now: datetime) -> KeyView:
    """A new key for the partner; every older key stops after `grace` (zero: at once). Audited."""
    if await db.get(Partner, partner_id) is None:
        raise NotFound("No such partner.", code="partner_not_found")
    if grace < timedelta(0) or grace > timedelta(days=7):
        raise _bad("The grace period is 0 to 7 days.", "grace_invalid")
    ends = now + grace
    for old in (await db.execute(select(ApiKey).where(ApiKey.partner_id == partner_id,
                                                      ApiKey.revoked_at.is_(None)))).scalars():
        old.revoked_at = ends
        await _log(db, actor, "partner.key_revoked", f"partner:{partner_id}",
                   {"prefix": old.prefix, "from": ends.isoformat()}, now)
    return await _issue(db, partner_id, actor, now)


async def revoke_key(db: AsyncSession, prefix: str, actor: str, now: datetime) -> KeyView:
    """Revoke one key by its prefix, at once (other processes within their key cache's lifetime). Audited."""
    row = (await db.execute(select(ApiKey).where(ApiKey.prefix == prefix.strip()))).scalar_one_or_none()
    if row is None:
        raise NotFound("No such key.", code="key_not_found")
    if row.revoked_at is None or row.revoked_at > now:
        row.revoked_at = now
        await _log(db, actor, "partner.key_revoked", f"partner:{row.partner_id}",
                   {"prefix": row.prefix, "from": now.isoformat()}, now)
    return KeyView(row.id, row.prefix, row.created_at, row.revoked_at)
