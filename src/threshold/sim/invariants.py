"""Checks of DESIGN.md's invariants over a finished simulation: what must be true, whatever happened."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.access.watch import DOOR_INCIDENTS
from threshold.audit import service as audit
from threshold.devices.simulated import SimulatedGateway
from threshold.homes.models import Device

# A door is secured when its lock is locked, its garage door closed and its contact (the leaf) closed.
SECURED = {"lock": "locked", "garage": "closed", "contact": "closed"}


async def check(db: AsyncSession, gateway: SimulatedGateway) -> list[str]:
    """Every broken invariant, described; empty when all hold."""
    broken: list[str] = []
    devices = list((await db.execute(select(Device))).scalars())
    by_address = {d.address: d for d in devices}
    # An entry point is accounted for while a session holds it or a person is on it (an open door incident).
    escalated = set((await db.execute(select(Incident.entry_point_id).where(
        Incident.kind.in_(DOOR_INCIDENTS), Incident.status == "open"))).scalars())
    live = set((await db.execute(
        select(EntrySession.entry_point_id).where(EntrySession.live.is_(True)))).scalars())
    for d in devices:
        if d.kind in SECURED and d.address in gateway.devices:
            physical = gateway.state(d.address)
            if physical != SECURED[d.kind] and (d.entry_point_id is None or d.entry_point_id not in escalated | live):
                broken.append(f"door {d.address} is {physical} with no live session and no open incident")
    broken += _unlocks_were_guarded(gateway, by_address)
    homes = {d.home_id for d in devices}
    for home_id in sorted(homes, key=str):
        _, findings = await audit.verify_home(db, home_id)
        broken += [f"audit chain of home {home_id}: {f.problem} at {f.seq}" for f in findings]
    return broken


def _unlocks_were_guarded(gateway: SimulatedGateway, by_address: dict[str, Device]) -> list[str]:
    """Replay the devices' own log: at every unlock, the home's camera recorded and its alarm was off."""
    camera: dict[uuid.UUID, str] = {}
    alarm: dict[uuid.UUID, str] = {}
    has_alarm = {d.home_id for d in by_address.values() if d.kind == "alarm"}
    broken = []
    for _, address, what in gateway.log:
        device = by_address.get(address)
        if device is None:
            continue
        if what.startswith("="):
            if device.kind == "camera":
                camera[device.home_id] = what[1:]
            elif device.kind == "alarm":
                alarm[device.home_id] = what[1:]
            continue
        if (device.kind, what) in (("lock", "unlock"), ("garage", "open")):
            if camera.get(device.home_id) != "recording":
                broken.append(f"unlock of {address} while the camera was {camera.get(device.home_id)}")
            if device.home_id in has_alarm and alarm.get(device.home_id) != "disarmed":
                broken.append(f"unlock of {address} while the alarm was {alarm.get(device.home_id)}")
    return broken
