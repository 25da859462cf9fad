"""Bulk seeding for benchmarks: thousands of homes, one assigned delivery each, in a few seconds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from threshold.audit.chain import GENESIS
from threshold.models import (
    ApiKey,
    AuditHead,
    Carrier,
    Delivery,
    Device,
    Driver,
    EntryPoint,
    Grant,
    Home,
    HomeRules,
    Household,
    Package,
    Partner,
    PartnerAuthorization,
)
from threshold.security import hash_password, new_api_key


@dataclass(frozen=True, slots=True)
class Stop:
    """One home with one delivery waiting for a driver."""

    delivery_id: str
    barcode: str
    lat: float
    lon: float
    lock: str
    camera: str
    alarm: str | None
    driver_index: int


async def seed(engine: AsyncEngine, homes: int, drivers: int, alarm_every: int = 3) -> tuple[list[str], list[Stop]]:
    """Create `drivers` drivers and `homes` homes with an assigned delivery each; returns driver ids and stops."""
    now = datetime.now(UTC)
    partner_id, carrier_id = uuid.uuid4(), uuid.uuid4()
    _, prefix, digest = new_api_key()
    pw = hash_password("bench-password")
    driver_ids = [uuid.uuid4() for _ in range(drivers)]
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (
        Household, Home, EntryPoint, HomeRules, PartnerAuthorization, AuditHead, Device, Delivery, Package, Grant)}
    stops: list[Stop] = []
    for i in range(homes):
        hh, home, ep, delivery = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        lat, lon = 52.3 + (i % 400) * 0.001, 13.1 + (i // 400) * 0.001
        rows[Household].append({"id": hh, "name": f"bench {i}", "created_at": now})
        rows[Home].append({"id": home, "household_id": hh, "label": "home", "address": f"{i} Bench Road",
                           "timezone": "Europe/Berlin", "lat": lat, "lon": lon, "created_at": now})
        rows[EntryPoint].append({"id": ep, "home_id": home, "kind": "front_door", "label": "Front door",
                                 "max_package_size": "L"})
        rows[HomeRules].append({"home_id": home, "in_home_enabled": True, "allowed_entry_points": [],
                                "blackout_dates": [], "ask_first": False, "driver_note": "", "fallback": "doorstep",
                                "extra": {}})
        # Each household lets the bench's partner deliver inside (a partner it never chose delivers to the door).
        rows[PartnerAuthorization].append({"home_id": home, "partner_id": partner_id, "authorized_at": now,
                                           "authorized_by": "seed"})
        rows[AuditHead].append({"home_id": home, "seq": 0, "hash": GENESIS})
        lock, camera = f"bench-{i}-lock", f"bench-{i}-camera"
        alarm = f"bench-{i}-alarm" if alarm_every and i % alarm_every == 0 else None
        for kind, address, entry, state in (("lock", lock, ep, "locked"), ("camera", camera, None, "idle"),
                                            ("alarm", alarm, None, "armed_away")):
            if address:
                rows[Device].append({"id": uuid.uuid4(), "home_id": home, "entry_point_id": entry, "kind": kind,
                                     "adapter": "simulated", "address": address, "state": state, "online": True,
                                     "battery": None, "last_seen": None,
                                     "secret": "1234" if kind == "alarm" else None})
        d = i % drivers
        barcode = f"BENCH-{i:06d}"
        rows[Delivery].append({"id": delivery, "partner_id": partner_id, "home_id": home, "entry_point_id": ep,
                               "driver_id": driver_ids[d], "external_ref": None, "status": "assigned",
                               "mode": "in_home", "ineligible_reasons": [], "approved": False,
                               "window_start": now - timedelta(hours=1), "window_end": now + timedelta(hours=6),
                               "created_at": now, "updated_at": now})
        rows[Package].append({"id": uuid.uuid4(), "delivery_id": delivery, "barcode": barcode, "size": "M",
                              "weight_g": 900})
        rows[Grant].append({"id": uuid.uuid4(), "kind": "delivery", "home_id": home, "entry_point_id": ep,
                            "delivery_id": delivery, "driver_id": driver_ids[d], "guest_name": None,
                            "token_hash": None, "starts_at": now - timedelta(hours=1),
                            "ends_at": now + timedelta(hours=6), "rrule": None, "duration_minutes": None,
                            "timezone": "UTC", "single_use": True, "used_at": None, "revoked_at": None,
                            "created_at": now})
        stops.append(Stop(str(delivery), barcode, lat, lon, lock, camera, alarm, d))
    async with engine.begin() as conn:
        await conn.execute(insert(Partner), [{"id": partner_id, "name": "bench", "webhook_url": None}])
        await conn.execute(insert(ApiKey), [{"id": uuid.uuid4(), "partner_id": partner_id, "prefix": prefix,
                                             "key_hash": digest, "created_at": now, "revoked_at": None}])
        await conn.execute(insert(Carrier), [{"id": carrier_id, "name": "bench", "partner_id": partner_id}])
        await conn.execute(insert(Driver), [{"id": d, "carrier_id": carrier_id, "name": f"d{i}", "active": True,
                                             "email": f"bench-driver-{i}@bench.example", "password_hash": pw}
                                            for i, d in enumerate(driver_ids)])
        for table in (Household, Home, EntryPoint, HomeRules, PartnerAuthorization, AuditHead, Device, Delivery,
                      Package, Grant):
            batch = rows[table]
            for start in range(0, len(batch), 5000):
                await conn.execute(insert(table), batch[start:start + 5000])
    return [str(d) for d in driver_ids], stops
