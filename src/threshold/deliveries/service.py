"""Delivery use cases: create (idempotently), assign a driver, cancel, read. Never commits."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access import policy
from threshold.access.models import EntrySession, Grant
from threshold.audit import service as audit
from threshold.deliveries.models import Carrier, Delivery, Driver, IdempotentRequest, Package
from threshold.deliveries.schemas import DeliveryIn, DeliveryOut, PackageOut, StopOut
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes import partners
from threshold.homes.models import Device, EntryPoint, Home, HomeRules
from threshold.notify.models import OutboxMessage
from threshold.notify.outbox import enqueue


async def to_out(db: AsyncSession, d: Delivery) -> DeliveryOut:
    """The API view of a delivery."""
    pkgs = (await db.execute(select(Package).where(Package.delivery_id == d.id))).scalars()
    return DeliveryOut(
        id=d.id, home_id=d.home_id, status=d.status, mode=d.mode, ineligible_reasons=d.ineligible_reasons,
        entry_point_id=d.entry_point_id, driver_id=d.driver_id, window_start=d.window_start,
        window_end=d.window_end, external_ref=d.external_ref, approved=d.approved, fallback=d.fallback,
        packages=[PackageOut(barcode=p.barcode, size=p.size, weight_g=p.weight_g) for p in pkgs],
    )


def request_hash(body: dict[str, Any]) -> str:
    """A stable digest of a request body, to tell a retry from a different request under the same key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def remembered(db: AsyncSession, partner_id: uuid.UUID, key: str, digest: str) -> \
        tuple[int, dict[str, Any]] | None:
    """The stored answer for a retried Idempotency-Key, or None for a new key."""
    row = await db.get(IdempotentRequest, (partner_id, key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise ThresholdError("This Idempotency-Key was used for a different request.",
                             code="idempotency_key_reused", status=422, title="Idempotency-Key reused")
    return row.status_code, row.body


async def remember(db: AsyncSession, partner_id: uuid.UUID, key: str, digest: str, status: int,
                   body: dict[str, Any], now: datetime) -> None:
    """Store the answer under its Idempotency-Key, in the same transaction as the write."""
    db.add(IdempotentRequest(partner_id=partner_id, key=key, request_hash=digest, status_code=status,
                             body=body, created_at=now))
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("A request with this Idempotency-Key is in flight; retry.",
                       code="idempotency_in_flight") from exc


def _fits(size: str, limit: str) -> bool:
    return policy.SIZES.index(size) <= policy.SIZES.index(limit)


async def create(db: AsyncSession, partner_id: uuid.UUID, data: DeliveryIn, now: datetime) -> Delivery:
    """Create a delivery, decide whether it can be in-home, and issue its grant."""
    if data.window_end <= now:
        raise ThresholdError("The window has already ended.", code="window_in_past", status=422)
    home = await db.get(Home, data.home_id)
    if home is None:
        raise NotFound("No such home.", code="home_not_found")
    rules = await db.get(HomeRules, home.id)
    entries = list((await db.execute(select(EntryPoint).where(EntryPoint.home_id == home.id))).scalars())
    if data.entry_point_id and data.entry_point_id not in {e.id for e in entries}:
        raise ThresholdError("The entry point is not at this home.", code="entry_point_unknown", status=422)
    allowed = [e for e in entries if not rules or not rules.allowed_entry_points
               or str(e.id) in rules.allowed_entry_points]
    biggest = max((p.size for p in data.packages), key=policy.SIZES.index)
    candidates = [e for e in allowed if e.id == data.entry_point_id] if data.entry_point_id else allowed
    fitting = [e for e in candidates if _fits(biggest, e.max_package_size)]
    entry = fitting[0] if fitting else (candidates[0] if candidates else None)
    devices = list((await db.execute(select(Device).where(Device.home_id == home.id))).scalars())
    online = all(d.online for d in devices if d.kind in ("lock", "garage", "camera"))
    day = policy.local_date(data.window_start, home.timezone)
    reasons = policy.eligibility(
        in_home_enabled=bool(rules and rules.in_home_enabled),
        blackout=bool(rules and day in rules.blackout_dates), devices_online=online,
        size_ok=bool(fitting), entry_allowed=entry is not None)
    if not await partners.may_enter(db, home.id, partner_id):
        # A partner the household never chose learns nothing of the home (days away, devices, its rules).
        reasons = ["partner_not_authorized"]
    delivery = Delivery(
        id=uuid.uuid4(), partner_id=partner_id, home_id=home.id, entry_point_id=entry.id if entry else None,
        external_ref=data.external_ref, status="created", mode="in_home" if not reasons else "doorstep",
        ineligible_reasons=reasons, window_start=data.window_start, window_end=data.window_end,
        created_at=now, updated_at=now)
    db.add(delivery)
    await db.flush()
    for p in data.packages:
        db.add(Package(delivery_id=delivery.id, barcode=p.barcode, size=p.size, weight_g=p.weight_g))
    if entry is not None:
        db.add(Grant(kind="delivery", home_id=home.id, entry_point_id=entry.id, delivery_id=delivery.id,
                     starts_at=data.window_start, ends_at=data.window_end, single_use=True, created_at=now))
    await audit.append(db, home.id, f"partner:{partner_id}", "delivery.created", f"delivery:{delivery.id}",
                       {"mode": delivery.mode, "reasons": reasons, "packages": len(data.packages)}, now)
    enqueue(db, "household", "delivery.scheduled", home.id,
            {"delivery": str(delivery.id), "window_start": data.window_start.isoformat(),
             "window_end": data.window_end.isoformat(), "mode": delivery.mode},
            f"delivery:{delivery.id}:scheduled", now)
    if data.driver_id is not None:
        await db.flush()
        await assign(db, partner_id, delivery.id, data.driver_id, now)
    return delivery


async def get_for_partner(db: AsyncSession, partner_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
    """A partner's own delivery (another partner's is 'not found')."""
    d = await db.get(Delivery, delivery_id)
    if d is None or d.partner_id != partner_id:
        raise NotFound("No such delivery.")
    return d


async def assign(db: AsyncSession, partner_id: uuid.UUID, delivery_id: uuid.UUID, driver_id: uuid.UUID,
                 now: datetime) -> Delivery:
    """Bind a delivery and its grant to one of the partner's drivers."""
    d = await get_for_partner(db, partner_id, delivery_id)
    driver = await db.get(Driver, driver_id)
    carrier = await db.get(Carrier, driver.carrier_id) if driver else None
    if driver is None or carrier is None or carrier.partner_id != partner_id or not driver.active:
        raise NotFound("No such driver.", code="driver_not_found")
    if d.status not in ("created", "assigned"):
        raise Conflict(f"A {d.status} delivery cannot be assigned.", code="delivery_not_assignable")
    d.driver_id, d.status, d.updated_at = driver.id, "assigned", now
    grant = (await db.execute(select(Grant).where(Grant.delivery_id == d.id))).scalar_one_or_none()
    if grant is not None:
        grant.driver_id = driver.id
    await audit.append(db, d.home_id, f"partner:{partner_id}", "grant.bound", f"delivery:{d.id}",
                       {"driver": str(driver.id)}, now)
    return d


async def cancel(db: AsyncSession, partner_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime) -> \
        tuple[Delivery, uuid.UUID | None]:
    """Cancel a delivery and revoke its grant; returns the live session to abort, if any."""
    d = await get_for_partner(db, partner_id, delivery_id)
    if d.status in ("delivered", "failed"):
        raise Conflict(f"A {d.status} delivery cannot be cancelled.", code="delivery_not_cancellable")
    live = (await db.execute(select(EntrySession.id).where(
        EntrySession.delivery_id == d.id, EntrySession.live.is_(True)))).scalar_one_or_none()
    if d.status != "cancelled":
        d.status, d.updated_at = "cancelled", now
        grant = (await db.execute(select(Grant).where(Grant.delivery_id == d.id))).scalar_one_or_none()
        if grant is not None and grant.revoked_at is None:
            grant.revoked_at = now
        await audit.append(db, d.home_id, f"partner:{partner_id}", "grant.revoked", f"delivery:{d.id}",
                           {"why": "delivery_cancelled"}, now)
    return d, live


async def apply_fallback(db: AsyncSession, d: Delivery, fallback: str, reason: str, actor: str,
                         now: datetime) -> Delivery:
    """The household's fallback replaces the in-home entry: recorded, audited, and the household told."""
    # Out of the driver's stops and closed to entry: the driver now follows the fallback, not the door.
    d.fallback, d.status, d.updated_at = fallback, "fallback", now
    await audit.append(db, d.home_id, actor, "delivery.fallback", f"delivery:{d.id}",
                       {"fallback": fallback, "reason": reason}, now)
    enqueue(db, "household", "delivery.fallback", d.home_id,
            {"delivery": str(d.id), "home": str(d.home_id), "fallback": fallback, "reason": reason},
            f"delivery:{d.id}:fallback", now)
    return d


# Where a driver may leave a package instead of inside.
OUTSIDE = ("doorstep", "locker")


def may_leave_outside(d: Delivery, where: str) -> bool:
    """True when this delivery may end with the package left `where`: a doorstep delivery at the door, or an
    in-home one whose household's fallback replaced the entry."""
    if where not in OUTSIDE:
        return False
    if d.mode == "doorstep" and d.status in ("assigned", "in_progress"):
        return where == "doorstep"
    return d.status == "fallback" and d.fallback == where


async def left_outside(db: AsyncSession, driver_id: uuid.UUID, delivery_id: uuid.UUID, where: str,
                       now: datetime) -> Delivery:
    """The driver left the package at the door or in a locker: the delivery is done, audited, and the household
    told."""
    d = await db.get(Delivery, delivery_id)
    if d is None or d.driver_id != driver_id:
        raise NotFound("No such delivery.")
    if not may_leave_outside(d, where):
        raise Conflict(f"This delivery cannot be left at the {where}.", code="not_left_outside")
    d.status, d.fallback, d.updated_at = "delivered", d.fallback or where, now
    await audit.append(db, d.home_id, f"driver:{driver_id}", "delivery.left_outside", f"delivery:{d.id}",
                       {"where": where}, now)
    enqueue(db, "household", "delivery.left_outside", d.home_id,
            {"delivery": str(d.id), "home": str(d.home_id), "where": where, "finished_at": now.isoformat()},
            f"delivery:{d.id}:left", now)
    return d


async def stops(db: AsyncSession, driver_id: uuid.UUID, now: datetime) -> list[StopOut]:
    """A driver's stops: assigned deliveries whose window is today or still open."""
    q = select(Delivery).where(
        Delivery.driver_id == driver_id, Delivery.status.in_(("assigned", "in_progress")),
        Delivery.window_end >= now - timedelta(hours=2), Delivery.window_start <= now + timedelta(hours=24),
    ).order_by(Delivery.window_start)
    found = []
    for d in (await db.execute(q)).scalars():
        home = await db.get(Home, d.home_id)
        rules = await db.get(HomeRules, d.home_id)
        entry = await db.get(EntryPoint, d.entry_point_id) if d.entry_point_id else None
        assert home is not None
        found.append(StopOut(delivery=await to_out(db, d), address=home.address, lat=home.lat, lon=home.lon,
                             entry_point=entry.label if entry and d.mode == "in_home" else None,
                             driver_note=rules.driver_note if rules else ""))
    return found


async def on_the_way(db: AsyncSession, driver_id: uuid.UUID, delivery_id: uuid.UUID, eta_minutes: int,
                     now: datetime) -> Delivery:
    """The assigned driver is heading to the home: the household hears once, with the expected time."""
    d = await db.get(Delivery, delivery_id)
    if d is None or d.driver_id != driver_id:
        raise NotFound("No such delivery.")
    if d.status not in ("assigned", "in_progress"):
        raise Conflict(f"A {d.status} delivery is not on its way.", code="delivery_not_on_way")
    key = f"delivery:{d.id}:on_way"
    if (await db.execute(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))).first() is None:
        eta = now + timedelta(minutes=eta_minutes)
        enqueue(db, "household", "driver.on_way", d.home_id, {"delivery": str(d.id), "eta": eta.isoformat()},
                key, now)
        await audit.append(db, d.home_id, f"driver:{driver_id}", "driver.on_way", f"delivery:{d.id}",
                           {"eta": eta.isoformat()}, now)
    return d
