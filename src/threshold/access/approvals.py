"""Who waits for the household's approval, with what, and until when: the facts behind the portal's banner and
the "ask me first" message. Reads only; never commits."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold import times
from threshold.access.models import EntrySession, Grant
from threshold.deliveries.models import Delivery, Driver, Package, Partner

# The end of a barcode is enough to match it against the label on the box; the whole of it says more than needed.
SUFFIX = 4


@dataclass(frozen=True, slots=True)
class Waiting:
    """One session waiting for the household's yes or no, as people read it."""

    session_id: uuid.UUID
    who: str
    package: str | None
    requested_at: datetime
    deadline: datetime | None
    # The deadline as the household reads it (their zone, named) and the whole minutes left at `now` (rounded up).
    until: str = ""
    minutes_left: int = 0


def package_line(barcodes: list[str], sizes: list[str]) -> str | None:
    """The packages in a few words: how many, their sizes, and the end of the first barcode."""
    if not barcodes:
        return None
    count = f"{len(barcodes)} package" + ("s" if len(barcodes) > 1 else "")
    sized = f" ({', '.join(sizes)})" if sizes else ""
    ends = f", barcode ending {barcodes[0][-SUFFIX:]}"
    more = f" and {len(barcodes) - 1} more" if len(barcodes) > 1 else ""
    return f"{count}{sized}{ends}{more}"


def who_line(driver_name: str | None, partner_name: str | None, guest_name: str | None) -> str:
    """The person at the door: a guest by name, a driver by first name and whom they deliver for."""
    if guest_name:
        return guest_name
    first = driver_name.split()[0] if driver_name and driver_name.split() else None
    if first and partner_name:
        return f"{first} from {partner_name}"
    if partner_name:
        return f"A driver from {partner_name}"
    return first or "A driver"


async def package_of(db: AsyncSession, delivery_id: uuid.UUID | None) -> str | None:
    """The package words for a delivery (None for a guest's entry)."""
    if delivery_id is None:
        return None
    rows = list((await db.execute(select(Package.barcode, Package.size).where(Package.delivery_id == delivery_id)
                                  .order_by(Package.barcode))).all())
    return package_line([b for b, _ in rows], [s for _, s in rows if s])


async def describe(db: AsyncSession, row: EntrySession) -> Waiting:
    """Who waits in this session, for which package, and until when."""
    driver_name = partner_name = guest_name = None
    if row.delivery_id is not None:
        delivery = await db.get(Delivery, row.delivery_id)
        if delivery is not None:
            partner = await db.get(Partner, delivery.partner_id)
            partner_name = partner.name if partner else None
            driver = await db.get(Driver, delivery.driver_id) if delivery.driver_id else None
            driver_name = driver.name if driver else None
    else:
        grant = await db.get(Grant, row.grant_id)
        guest_name = grant.guest_name if grant else None
    return Waiting(row.id, who_line(driver_name, partner_name, guest_name), await package_of(db, row.delivery_id),
                   row.requested_at, row.deadline)


def minutes_left(deadline: datetime | None, now: datetime) -> int:
    """Whole minutes until the deadline, rounded up (0 once it has passed)."""
    if deadline is None:
        return 0
    return max(0, math.ceil((deadline - now).total_seconds() / 60))


async def waiting_at(db: AsyncSession, home_id: uuid.UUID, tz: str, now: datetime) -> list[Waiting]:
    """Every session of a home that waits for the household's approval, oldest first, with its time left."""
    q = (select(EntrySession).where(EntrySession.home_id == home_id, EntrySession.live.is_(True),
                                    EntrySession.state == "awaiting_approval")
         .order_by(EntrySession.requested_at))
    found = []
    for row in (await db.execute(q)).scalars():
        w = await describe(db, row)
        until = times.clock(w.deadline, tz) if w.deadline else ""
        found.append(replace(w, until=until, minutes_left=minutes_left(w.deadline, now)))
    return found
