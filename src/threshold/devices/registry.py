"""The devices a hub knows: by address (reports), by id (commands), and by home, which says which camera records
the entries through a door (`homes.entry_devices`, the rule the session service uses too)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from threshold.devices.ports import DeviceKind
from threshold.homes import entry_devices


@dataclass(frozen=True, slots=True)
class Registered:
    """A device the hub knows, where it is, and the secret its adapter needs (an alarm code)."""

    device_id: uuid.UUID
    home_id: uuid.UUID
    kind: DeviceKind
    address: str
    secret: str | None
    entry_point_id: uuid.UUID | None = None  # None: it serves the whole home (a camera, an alarm panel)


class Registry:
    """Registered devices, found by address, by id, and by home."""

    def __init__(self) -> None:
        self.by_address: dict[str, Registered] = {}
        self.by_id: dict[uuid.UUID, Registered] = {}
        self._homes: dict[uuid.UUID, dict[uuid.UUID, Registered]] = {}

    def add(self, reg: Registered) -> None:
        """Add or refresh one device."""
        old = self.by_id.get(reg.device_id)
        if old is not None:
            self.by_address.pop(old.address, None)
            self._homes.get(old.home_id, {}).pop(old.device_id, None)
        self.by_address[reg.address] = reg
        self.by_id[reg.device_id] = reg
        self._homes.setdefault(reg.home_id, {})[reg.device_id] = reg

    def camera_for(self, door: Registered) -> Registered | None:
        """The camera that records the entries through this door; None when its entry point has none."""
        home = self._homes.get(door.home_id, {})
        # Chosen by the same rule, over the same enrolled devices, as the session's camera (access.service), so
        # a session's camera that can confirm at all is the one checked here.
        found = entry_devices.camera_for(
            door.entry_point_id, [entry_devices.Placed(r.device_id, r.kind, r.entry_point_id) for r in home.values()])
        return home.get(found) if found is not None else None
