"""Which devices serve an entry point (pure): the door a session opens, the camera that records it, the alarm
panel, the door contacts. The one definition: the session service, the device hub's last check before a door
opens, keypad codes, closing incidents and the simulator's invariant checks all ask it.

Callers pass the home's devices as plain values. When several devices fit a role, the lowest id wins, so every
caller that sees the same devices picks the same one: above all, the camera a session starts is the camera the
hub checks before it opens that session's door.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from threshold.devices.ports import DeviceKind

# What must be shut for an entry point to be secured: its lock, its garage door, the contacts on its leaves.
SECURING_KINDS = frozenset({DeviceKind.LOCK, DeviceKind.GARAGE, DeviceKind.CONTACT})


@dataclass(frozen=True, slots=True)
class Placed:
    """A device and where it is: at an entry point, or home-wide (`entry_point_id` None)."""

    id: uuid.UUID
    kind: str
    entry_point_id: uuid.UUID | None


class _Located(Protocol):
    """Anything that says what a device is and where (a device row)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> str: ...

    @property
    def entry_point_id(self) -> uuid.UUID | None: ...


@dataclass(frozen=True, slots=True)
class EntryDevices:
    """The devices an entry at one entry point uses, by id; None where the home has none for the role."""

    door: uuid.UUID | None  # what a session unlocks: the garage door of a garage, the lock of any other way in
    camera: uuid.UUID | None
    alarm: uuid.UUID | None
    contacts: tuple[uuid.UUID, ...]


def placed(device: _Located) -> Placed:
    """The rule's view of a device."""
    return Placed(device.id, device.kind, device.entry_point_id)


def door_kind(entry_kind: str) -> DeviceKind:
    """The kind of device a session opens at an entry point of this kind."""
    return DeviceKind.GARAGE if entry_kind == "garage" else DeviceKind.LOCK


def camera_for(entry_point_id: uuid.UUID | None, devices: Iterable[Placed]) -> uuid.UUID | None:
    """The camera that records entries at this entry point: its own camera, else a home-wide one."""
    # A camera at another entry point never stands in: it films another door.
    cameras = [d for d in devices if d.kind == DeviceKind.CAMERA]
    own = min((d.id for d in cameras if entry_point_id is not None and d.entry_point_id == entry_point_id),
              default=None)
    if own is not None:
        return own
    return min((d.id for d in cameras if d.entry_point_id is None), default=None)


def lock_at(entry_point_id: uuid.UUID, devices: Iterable[Placed]) -> uuid.UUID | None:
    """The lock of an entry point, whatever its kind: where a guest's keypad code goes."""
    return _first(devices, DeviceKind.LOCK, entry_point_id)


def alarm_of(devices: Iterable[Placed]) -> uuid.UUID | None:
    """The home's alarm panel: it guards the whole home, whichever way in is used."""
    return min((d.id for d in devices if d.kind == DeviceKind.ALARM), default=None)


def securing(entry_point_id: uuid.UUID, devices: Iterable[Placed]) -> tuple[uuid.UUID, ...]:
    """Every lock, garage door and contact at an entry point: all must be shut for it to be secured."""
    return tuple(sorted(d.id for d in devices if d.entry_point_id == entry_point_id and d.kind in SECURING_KINDS))


def serving(entry_point_id: uuid.UUID, entry_kind: str, devices: Iterable[Placed]) -> EntryDevices:
    """The devices of one home (`devices`) that an entry at this entry point, of kind `entry_kind`, uses."""
    home = list(devices)
    return EntryDevices(
        door=_first(home, door_kind(entry_kind), entry_point_id),
        camera=camera_for(entry_point_id, home),
        alarm=alarm_of(home),
        contacts=tuple(sorted(d.id for d in home if d.entry_point_id == entry_point_id
                              and d.kind == DeviceKind.CONTACT)),
    )


def _first(devices: Iterable[Placed], kind: DeviceKind, entry_point_id: uuid.UUID) -> uuid.UUID | None:
    return min((d.id for d in devices if d.kind == kind and d.entry_point_id == entry_point_id), default=None)
