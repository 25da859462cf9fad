"""What the demo's first household has set up before anyone looks: rules, a blackout day and two guests, so the
portal opens on a lived-in home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import guests
from threshold.access.schemas import GuestGrantIn
from threshold.config import Settings
from threshold.homes import service as homes
from threshold.homes.models import Home
from threshold.homes.schemas import RulesBody
from threshold.sim.neighbourhood import World


async def seed_portal(db: AsyncSession, world: World, settings: Settings) -> None:
    """Give the first household rules and guests (one weekly, one once) as a person would in the portal."""
    first = world.homes[0]
    home = await db.get(Home, first.id)
    assert home is not None
    now = datetime.now(UTC)
    member = f"member:{first.member_email}"
    zone = ZoneInfo(home.timezone)
    local = now.astimezone(zone)
    await homes.set_rules(db, home, RulesBody(
        in_home_enabled=True, driver_note="Place parcels on the hall table, please.", fallback="doorstep",
        blackout_dates=[(local + timedelta(days=30)).date()]), member, now)
    # The pet sitter comes every weekday morning, starting today, for a month.
    start = local.replace(hour=9, minute=0, second=0, microsecond=0)
    sitter = GuestGrantIn(guest_name="Sam (pet sitter)", entry_point_id=first.front_door, starts_at=start,
                          ends_at=start + timedelta(days=30), rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                          duration_minutes=60, timezone=home.timezone)
    _, token = await guests.create(db, home.id, member, sitter, now)
    world.guests.append((sitter.guest_name, token))
    # The cleaner comes once, for three hours starting now: their link opens the door during the demo.
    cleaner = GuestGrantIn(guest_name="Lee (cleaner)", entry_point_id=first.front_door, starts_at=now,
                           ends_at=now + timedelta(hours=3), timezone=home.timezone)
    _, token = await guests.create(db, home.id, member, cleaner, now)
    world.guests.append((cleaner.guest_name, token))
