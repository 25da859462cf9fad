"""What the demo has set up before anyone looks: the first household's rules, a blackout day and two guests, so the
portal opens on a lived-in home; and a driver account of the visitor's own, with stops the robot drivers never
take."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import guests
from threshold.access.schemas import GuestGrantIn
from threshold.config import Settings
from threshold.deliveries import service as deliveries
from threshold.deliveries.models import Carrier, Driver
from threshold.deliveries.schemas import StopOut
from threshold.homes import service as homes
from threshold.homes.models import Home
from threshold.homes.schemas import RulesBody
from threshold.security import hash_password
from threshold.sim.driver import Partner
from threshold.sim.neighbourhood import World

# The visitor's stops: how long a window is, and how long before its end a fresh stop replaces it.
STOP_WINDOW = timedelta(hours=2)
RENEW_WITHIN = timedelta(minutes=30)


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


async def seed_demo_driver(db: AsyncSession, world: World, homes: int = 2) -> None:
    """Add the visitor's own driver account, owning the stops at the last `homes` homes (robots keep away)."""
    carrier = (await db.execute(select(Carrier.id).where(Carrier.partner_id == world.partner_id))).scalar_one()
    email = f"you.driver-{world.partner_id.hex[:6]}@demo.threshold.invalid"
    driver = Driver(id=uuid.uuid4(), carrier_id=carrier, name="You (demo driver)", email=email,
                    password_hash=hash_password(world.password))
    db.add(driver)
    await db.flush()
    world.demo_driver = (driver.id, email)
    world.human_homes = tuple(range(len(world.homes) - homes, len(world.homes)))


def open_now(stops: list[StopOut], now: datetime) -> list[StopOut]:
    """The stops whose window is open now (an earlier stop at the same home may still be listed)."""
    return [s for s in stops if s.delivery.window_start <= now < s.delivery.window_end]


async def demo_stops(db: AsyncSession, world: World, now: datetime) -> list[StopOut]:
    """The visitor's stops that can be delivered now, in window order."""
    if world.demo_driver is None:
        return []
    return open_now(await deliveries.stops(db, world.demo_driver[0], now), now)


async def keep_demo_stops(sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], partner: Partner,
                          world: World) -> int:
    """Give each of the visitor's homes a stop whose window covers the next half hour; returns how many were made.

    Created through the partner API like any delivery, so the grant, eligibility and planning are the real ones.
    """
    if world.demo_driver is None:
        return 0
    now = datetime.now(UTC)
    async with sessions() as db:
        found = await demo_stops(db, world, now)
    covered = {s.delivery.home_id for s in found if s.delivery.window_end > now + RENEW_WITHIN}
    made = 0
    for index in world.human_homes:
        home = world.homes[index]
        if home.id in covered:
            continue
        barcode = f"YOU-{index + 1}-{uuid.uuid4().hex[:6].upper()}"
        r = await partner.create(home, world.demo_driver[0], barcode=barcode, start=now - timedelta(minutes=5),
                                 hours=STOP_WINDOW.total_seconds() / 3600)
        r.raise_for_status()
        made += 1
    return made
