"""Refusals that touch access but come before any rule is judged: someone else's session, an unknown credential.

Each is written down before the caller is answered (the refusal keeps its audit record when the request fails),
and answers exactly as a thing that does not exist would, so a probe learns nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.audit.models import PLATFORM_CHAIN
from threshold.errors import NotFound, ThresholdError


async def refused(db: AsyncSession, home_id: uuid.UUID, actor: str, subject: str, what: str, reason: str,
                  now: datetime) -> None:
    """Audit, in the home's chain, a reach for its door, session or video refused before any rule was judged."""
    await audit.append(db, home_id, actor, "access.refused", subject, {"what": what, "reason": reason}, now)


async def not_yours(db: AsyncSession, home_id: uuid.UUID, actor: str, subject: str, what: str,
                    now: datetime, detail: str = "No such session.") -> NotFound:
    """Audit, in the owning home's chain, a reach for its session (or clip) by someone it does not belong to."""
    await refused(db, home_id, actor, subject, what, "not_yours", now)
    return NotFound(detail, keep_changes=True)


async def unknown(db: AsyncSession, actor: str, subject: str, code: str, now: datetime,
                  err: ThresholdError) -> ThresholdError:
    """Audit, in the platform's chain, a refusal that names no home (an unknown delivery or link token)."""
    await audit.append(db, PLATFORM_CHAIN, actor, "entry.refused", subject[:100], {"codes": [code]}, now)
    err.keep_changes = True
    return err
