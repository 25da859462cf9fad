"""Enrolment: a device an adapter discovered becomes one of a home's devices, audited on the home's chain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit import service as audit
from threshold.devices.ports import DeviceKind, DiscoveredDevice
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes.models import Device, EntryPoint, Home

ADAPTERS = {"zigbee2mqtt": "mqtt", "mqtt-discovery": "mqtt", "homeassistant": "homeassistant",
            "simulated": "simulated"}
# A door needs its lock at an entry point; a camera or an alarm panel watches the whole home.
_AT_ENTRY_POINT = frozenset({DeviceKind.LOCK, DeviceKind.GARAGE, DeviceKind.CONTACT})


class EnrolmentRefused(ThresholdError):
    """The device cannot be enrolled as asked."""

    status, code, title = 422, "enrolment_refused", "Device cannot be enrolled"


async def enrol(db: AsyncSession, home_id: uuid.UUID, found: DiscoveredDevice, *, now: datetime,
                entry_point_id: uuid.UUID | None = None, secret: str | None = None,
                actor: str = "operator") -> Device:
    """Add a discovered device to a home; refuses a device already enrolled or an entry point of another home."""
    home = await db.get(Home, home_id)
    if home is None:
        raise NotFound(f"No home {home_id}.", code="home_not_found")
    taken = (await db.execute(select(Device).where(Device.address == found.address))).scalar_one_or_none()
    if taken is not None:
        raise Conflict(f"{found.address} is already enrolled.", code="device_already_enrolled")
    if found.kind in _AT_ENTRY_POINT:
        entry = await db.get(EntryPoint, entry_point_id) if entry_point_id else None
        if entry is None or entry.home_id != home_id:
            raise EnrolmentRefused(f"A {found.kind} must be enrolled at one of this home's entry points.",
                                   code="entry_point_required")
        if found.kind is DeviceKind.GARAGE and entry.kind != "garage":
            raise EnrolmentRefused("A garage door belongs to a garage entry point.", code="entry_point_mismatch")
        at_door = (await db.execute(select(Device).where(Device.entry_point_id == entry.id,
                                                         Device.kind == found.kind.value))).first()
        if at_door is not None and found.kind is not DeviceKind.CONTACT:
            raise Conflict(f"This entry point already has a {found.kind}.", code="entry_point_has_device")
    elif entry_point_id is not None:
        raise EnrolmentRefused(f"A {found.kind} watches the home, not an entry point.", code="entry_point_not_used")
    if found.kind is DeviceKind.ALARM and not secret:
        raise EnrolmentRefused("An alarm panel needs the household's code to disarm it.", code="alarm_code_required")
    device = Device(id=uuid.uuid4(), home_id=home_id, entry_point_id=entry_point_id, kind=found.kind.value,
                    adapter=ADAPTERS.get(found.source, found.source), address=found.address, state="unknown",
                    online=False, secret=secret)
    db.add(device)
    await db.flush()
    await audit.append(db, home_id, actor, "device.enrolled", f"device:{device.id}",
                       {"address": found.address, "kind": found.kind.value, "source": found.source,
                        "name": found.name}, now)
    return device
