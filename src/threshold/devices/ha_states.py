"""Home Assistant entities in threshold's words: which entities are devices, what their states mean, which
service carries each command. Pure: no I/O, so the mapping is tested without a Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from threshold.devices.ports import DeviceKind

# Entities of these domains are reported to the hub; the hub ignores addresses it has not enrolled.
DOMAIN_KIND: dict[str, DeviceKind] = {
    "lock": DeviceKind.LOCK,
    "alarm_control_panel": DeviceKind.ALARM,
    "camera": DeviceKind.CAMERA,
    "cover": DeviceKind.GARAGE,
    "binary_sensor": DeviceKind.CONTACT,
}
# A cover or binary sensor is a device threshold enrols only with one of these device classes: a window
# blind is not a way in, and a motion sensor says nothing about a door.
ENROL_CLASSES: dict[str, frozenset[str]] = {
    "cover": frozenset({"garage"}),
    "binary_sensor": frozenset({"door", "garage_door", "opening"}),
}
# Home Assistant's words for "I cannot reach this device right now".
UNAVAILABLE = frozenset({"unavailable", "unknown"})
# CameraEntityFeature.ON_OFF: only such cameras accept camera.turn_on / camera.turn_off.
CAMERA_ON_OFF = 1

_CONTACT = {"on": "open", "off": "closed"}
_CAMERA = {"recording": "recording", "streaming": "recording", "idle": "idle"}

SERVICES: dict[tuple[DeviceKind, str], tuple[str, str]] = {
    (DeviceKind.LOCK, "lock"): ("lock", "lock"),
    (DeviceKind.LOCK, "unlock"): ("lock", "unlock"),
    (DeviceKind.ALARM, "disarm"): ("alarm_control_panel", "alarm_disarm"),
    (DeviceKind.ALARM, "arm"): ("alarm_control_panel", "alarm_arm_away"),
    (DeviceKind.GARAGE, "open"): ("cover", "open_cover"),
    (DeviceKind.GARAGE, "close"): ("cover", "close_cover"),
    (DeviceKind.CAMERA, "start"): ("camera", "turn_on"),
    (DeviceKind.CAMERA, "stop"): ("camera", "turn_off"),
}


def domain(entity_id: str) -> str:
    """The domain part of an entity id (`lock` for `lock.front_door`)."""
    return entity_id.partition(".")[0]


def report_kind(entity_id: str) -> DeviceKind | None:
    """The kind whose vocabulary this entity's states are reported in, or None for entities threshold ignores."""
    return DOMAIN_KIND.get(domain(entity_id))


def enrol_kind(entity_id: str, attributes: Mapping[str, Any]) -> DeviceKind | None:
    """The kind a household would enrol this entity as, or None when it is not a way in."""
    kind = report_kind(entity_id)
    classes = ENROL_CLASSES.get(domain(entity_id))
    if kind is None or (classes is not None and attributes.get("device_class") not in classes):
        return None
    return kind


def map_state(kind: DeviceKind, state: str) -> str:
    """threshold's word for an entity state; an unknown state comes back unchanged so the hub counts it."""
    if kind is DeviceKind.CONTACT:
        return _CONTACT.get(state, state)
    if kind is DeviceKind.CAMERA:
        return _CAMERA.get(state, state)
    return state


def is_available(state: str) -> bool:
    """False when Home Assistant says it cannot reach the device."""
    return state not in UNAVAILABLE


def features(attributes: Mapping[str, Any]) -> int:
    """The entity's supported_features bit mask (0 when it declares none)."""
    value = attributes.get("supported_features")
    return value if isinstance(value, int) else 0


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from one of Home Assistant's ISO timestamps, or None when there is none."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
