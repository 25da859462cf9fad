"""Each member's own notification choices: the member's choice, else the household's, else the moment's default."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.notify import moments
from threshold.notify.fanout import preferences
from threshold.notify.models import MemberNotificationPreference
from threshold.notify.service import check_choices


async def own_preferences(db: AsyncSession, member_id: uuid.UUID) -> dict[str, list[str]]:
    """The moments this member chose for themself (others are absent)."""
    rows = (await db.execute(select(MemberNotificationPreference)
                             .where(MemberNotificationPreference.member_id == member_id))).scalars()
    return {r.moment: list(r.channels) for r in rows}


async def member_preferences(db: AsyncSession, member_id: uuid.UUID,
                             household_id: uuid.UUID) -> dict[str, list[str]]:
    """Every moment with the channels this member will be told on."""
    chosen = {**await preferences(db, household_id), **await own_preferences(db, member_id)}
    return {m: list(moments.channels_for(m, chosen)) for m in moments.MOMENTS}


async def set_member_preferences(db: AsyncSession, member_id: uuid.UUID, household_id: uuid.UUID,
                                 wanted: dict[str, list[str]], home_ids: list[uuid.UUID],
                                 now: datetime) -> dict[str, list[str]]:
    """Replace this member's channels for the moments given; validated whole so nothing is half-saved."""
    check_choices(wanted)
    for moment, channels in wanted.items():
        row = await db.get(MemberNotificationPreference, (member_id, moment))
        unique = sorted(set(channels))
        if row is None:
            db.add(MemberNotificationPreference(member_id=member_id, moment=moment, channels=unique))
        else:
            row.channels = unique
    for home_id in home_ids:
        await audit.append(db, home_id, f"member:{member_id}", "notifications.member_preferences_set",
                           f"member:{member_id}", {"moments": sorted(wanted)}, now)
    return await member_preferences(db, member_id, household_id)
