"""Households choose, per home, which partners may deliver inside; every other partner is doorstep only.

Never commits. Authorizing and revoking are audited in the home's chain; the rules read `may_enter` both when a
delivery is created and when its driver asks at the door, so a revocation stops deliveries already booked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.deliveries.models import Partner
from threshold.errors import NotFound
from threshold.homes.models import Home, PartnerAuthorization


@dataclass(frozen=True, slots=True)
class PartnerChoice:
    """A partner as a household sees it: who, and whether they may deliver inside this home."""

    partner_id: uuid.UUID
    name: str
    authorized: bool
    authorized_at: datetime | None


async def may_enter(db: AsyncSession, home_id: uuid.UUID, partner_id: uuid.UUID | None) -> bool:
    """True when the household authorized this partner to deliver inside this home."""
    if partner_id is None:
        return False
    q = select(PartnerAuthorization.partner_id).where(PartnerAuthorization.home_id == home_id,
                                                      PartnerAuthorization.partner_id == partner_id)
    return (await db.execute(q)).first() is not None


async def choices(db: AsyncSession, home: Home) -> list[PartnerChoice]:
    """Every partner on the platform, the authorized ones first, with this home's choice."""
    chosen = {a.partner_id: a.authorized_at for a in (await db.execute(
        select(PartnerAuthorization).where(PartnerAuthorization.home_id == home.id))).scalars()}
    partners = (await db.execute(select(Partner.id, Partner.name).order_by(Partner.name))).all()
    found = [PartnerChoice(pid, name, pid in chosen, chosen.get(pid)) for pid, name in partners]
    return sorted(found, key=lambda c: not c.authorized)


async def authorize(db: AsyncSession, home: Home, partner_id: uuid.UUID, actor: str, now: datetime) -> PartnerChoice:
    """Let a partner deliver inside this home (audited; authorizing twice keeps the first)."""
    name = (await db.execute(select(Partner.name).where(Partner.id == partner_id))).scalar_one_or_none()
    if name is None:
        raise NotFound("No such partner.", code="partner_not_found")
    held = await db.get(PartnerAuthorization, (home.id, partner_id))
    if held is None:
        held = PartnerAuthorization(home_id=home.id, partner_id=partner_id, authorized_at=now,
                                    authorized_by=actor[:100])
        db.add(held)
        await audit.append(db, home.id, actor, "partner.authorized", f"partner:{partner_id}", {"name": name}, now)
    return PartnerChoice(partner_id, name, True, held.authorized_at)


async def revoke(db: AsyncSession, home: Home, partner_id: uuid.UUID, actor: str, now: datetime) -> PartnerChoice:
    """Make a partner doorstep only at this home again (audited); its booked in-home deliveries are refused."""
    name = (await db.execute(select(Partner.name).where(Partner.id == partner_id))).scalar_one_or_none()
    if name is None:
        raise NotFound("No such partner.", code="partner_not_found")
    gone = await db.execute(delete(PartnerAuthorization).where(PartnerAuthorization.home_id == home.id,
                                                               PartnerAuthorization.partner_id == partner_id))
    if getattr(gone, "rowcount", 0):
        await audit.append(db, home.id, actor, "partner.revoked", f"partner:{partner_id}", {"name": name}, now)
    return PartnerChoice(partner_id, name, False, None)
