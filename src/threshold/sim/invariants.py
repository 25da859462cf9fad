"""Checks of DESIGN.md's invariants over a finished simulation: what must be true, whatever happened."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.access.watch import DOOR_INCIDENTS
from threshold.audit import service as audit
from threshold.devices.simulated import SimulatedGateway
from threshold.homes import entry_devices
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
    """Replay the devices' own log: at every unlock, the camera that records that door recorded and the home's
    alarm was off."""
    homes: dict[uuid.UUID, list[entry_devices.Placed]] = {}
    for d in by_address.values():
        homes.setdefault(d.home_id, []).append(entry_devices.placed(d))
    said: dict[uuid.UUID, str] = {}  # each camera's and alarm panel's latest reported state
    broken = []
    for _, address, what in gateway.log:
        device = by_address.get(address)
        if device is None:
            continue
        if what.startswith("="):
            said[device.id] = what[1:]
            continue
        if (device.kind, what) in (("lock", "unlock"), ("garage", "open")):
            home = homes[device.home_id]
            camera, alarm = entry_devices.camera_for(device.entry_point_id, home), entry_devices.alarm_of(home)
            watching = said.get(camera) if camera is not None else "missing"
            if watching != "recording":
                broken.append(f"unlock of {address} while its camera was {watching}")
            if alarm is not None and said.get(alarm) != "disarmed":
                broken.append(f"unlock of {address} while the alarm was {said.get(alarm)}")
    return broken
