"""Device ports: what threshold asks of a lock, camera, alarm panel, garage door and door contact.

Adapters (simulated, MQTT with zigbee2mqtt and Home Assistant discovery, Home Assistant REST/WebSocket)
implement `DeviceGateway`. Commands are fire-and-forget; what counts is the confirmed state the device
reports back as a `DeviceReport`. States follow Home Assistant's vocabulary so the adapters map one to one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class DeviceKind(StrEnum):
    """The kinds of device an entry point can have."""

    LOCK = "lock"
    CAMERA = "camera"
    ALARM = "alarm"
    GARAGE = "garage"
    CONTACT = "contact"


# Confirmed states each kind may report, transitional ones included (locking, arming, opening).
STATES: dict[DeviceKind, frozenset[str]] = {
    DeviceKind.LOCK: frozenset({"locked", "unlocked", "locking", "unlocking", "jammed", "open"}),
    DeviceKind.CAMERA: frozenset({"idle", "recording", "error"}),
    DeviceKind.ALARM: frozenset({"disarmed", "arming", "armed_away", "armed_home", "armed_night",
                                 "armed_vacation", "armed_custom_bypass", "pending", "triggered"}),
    DeviceKind.GARAGE: frozenset({"open", "closed", "opening", "closing", "stopped"}),
    DeviceKind.CONTACT: frozenset({"open", "closed"}),
}

# Commands each kind accepts.
ACTIONS: dict[DeviceKind, frozenset[str]] = {
    DeviceKind.LOCK: frozenset({"lock", "unlock"}),
    DeviceKind.CAMERA: frozenset({"start", "stop"}),
    DeviceKind.ALARM: frozenset({"arm", "disarm"}),
    DeviceKind.GARAGE: frozenset({"open", "close"}),
    DeviceKind.CONTACT: frozenset(),
}

# Keypad user codes on a lock: set a PIN in a slot, or clear the slot. Separate from ACTIONS because the session
# machine never sends them; the keypad reconciler does, through `KeypadSink`.
KEYPAD_ACTIONS = frozenset({"set_code", "clear_code"})
# What a lock says about one of its user slots (zigbee2mqtt's words): a code is on the keypad and opens the door,
# the slot is empty, or a code is held but does not open the door.
SLOT_STATUSES = frozenset({"enabled", "available", "disabled"})


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """One command for one device, addressed the way its adapter knows it."""

    address: str
    kind: DeviceKind
    action: str
    # An alarm panel's code, or the PIN of a keypad `set_code`: never in a repr, so never in a log line.
    code: str | None = field(default=None, repr=False)
    slot: int | None = None  # the keypad user slot of `set_code` / `clear_code`


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """What a device said about itself: a state, a frame heartbeat, availability or battery."""

    address: str
    at: datetime
    state: str | None = None
    frame_at: datetime | None = None
    available: bool | None = None
    battery: int | None = None
    # Keypad user slots the lock reported, as (slot, status in SLOT_STATUSES); never a PIN.
    codes: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """A device an adapter found (MQTT discovery, a Home Assistant entity), ready to be enrolled in a home."""

    address: str
    kind: DeviceKind
    name: str
    source: str  # "zigbee2mqtt", "mqtt-discovery" or "homeassistant"


ReportHandler = Callable[[DeviceReport], Awaitable[None]]


class DeviceGateway(Protocol):
    """An adapter that reaches devices: sends commands and streams back what they report."""

    async def start(self, on_report: ReportHandler) -> None:
        """Connect and begin delivering reports to `on_report`."""

    async def send(self, command: DeviceCommand) -> None:
        """Send one command; confirmation arrives later as a report."""

    async def stop(self) -> None:
        """Disconnect."""


class CommandSink(Protocol):
    """What the access service needs from the device side: send a command to a known device."""

    async def send_to(self, device_id: str, action: str) -> None:
        """Send `action` to the registered device with this id."""


@dataclass(frozen=True, slots=True)
class KeypadLock:
    """What the keypad reconciler knows of one lock: can it hold codes, is it reachable, what its slots hold."""

    capable: bool
    online: bool
    slots: Mapping[int, str]


class KeypadSink(Protocol):
    """What keypad sync needs from the device side: a lock's keypad as last reported, and the two commands."""

    def keypad(self, device_id: uuid.UUID) -> KeypadLock | None:
        """The lock's keypad as this worker knows it; None when this worker does not handle the device."""

    async def send_code(self, device_id: uuid.UUID, slot: int, pin: str | None) -> bool:
        """Set `pin` in `slot` (None clears it); True when the command left for the lock."""
