"""zigbee2mqtt and Home Assistant MQTT discovery, as pure functions: topics in, reports and payloads out.

Conventions followed (zigbee2mqtt): a device's state is JSON on `<base>/<friendly name>`, commands go to
`<base>/<friendly name>/set`, availability is on `<base>/<friendly name>/availability` (`{"state": "online"}`
or the legacy plain `online`), and the bridge says `online`/`offline` on `<base>/bridge/state`. Friendly names
may contain slashes. Cameras are not zigbee devices; ours publish their state the same way and frame
heartbeats on `<base>/<name>/frame`. Nothing here does I/O, so every oddity of the wire is unit-testable.

Keypad codes follow zigbee2mqtt's `pin_code` expose: `{"pin_code": {"user": 3, "user_type": "unrestricted",
"user_enabled": true, "pin_code": "123456"}}` on `/set` sets slot 3, `{"pin_code": {"user": 3, "pin_code": null}}`
clears it, and the lock's state carries `"users": {"3": {"status": "enabled"}}` (or `available` once cleared).
The PIN itself is never in a state message (zigbee2mqtt's `expose_pin` option is off by default and not relied on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from threshold.devices.ports import SLOT_STATUSES, DeviceCommand, DeviceKind, DiscoveredDevice

SUFFIXES = ("availability", "set", "get", "frame")

# zigbee2mqtt's own words mapped to threshold's (which are Home Assistant's).
_LOCK_WORDS = {"lock": "locked", "locked": "locked", "unlock": "unlocked", "unlocked": "unlocked",
               "not_fully_locked": "jammed", "jammed": "jammed", "locking": "locking", "unlocking": "unlocking",
               "open": "open"}
_COVER_WORDS = {"open": "open", "close": "closed", "closed": "closed", "opening": "opening",
                "closing": "closing", "stop": "stopped", "stopped": "stopped"}
# The command each (kind, action) is published as; the simulated devices read commands with the same table.
COMMANDS: dict[tuple[DeviceKind, str], dict[str, Any]] = {
    (DeviceKind.LOCK, "lock"): {"state": "LOCK"}, (DeviceKind.LOCK, "unlock"): {"state": "UNLOCK"},
    (DeviceKind.GARAGE, "open"): {"state": "OPEN"}, (DeviceKind.GARAGE, "close"): {"state": "CLOSE"},
    (DeviceKind.ALARM, "arm"): {"state": "ARM_AWAY"}, (DeviceKind.ALARM, "disarm"): {"state": "DISARM"},
    (DeviceKind.CAMERA, "start"): {"state": "START"}, (DeviceKind.CAMERA, "stop"): {"state": "STOP"},
}
_DISCOVERY_KINDS = {"lock": DeviceKind.LOCK, "alarm_control_panel": DeviceKind.ALARM, "camera": DeviceKind.CAMERA}
_CONTACT_CLASSES = frozenset({"door", "garage_door", "opening", "window"})
# Home Assistant's discovery abbreviations that matter here.
_ABBREVIATIONS = {"stat_t": "state_topic", "cmd_t": "command_topic", "avty_t": "availability_topic",
                  "val_tpl": "value_template", "dev_cla": "device_class", "uniq_id": "unique_id",
                  "pl_lock": "payload_lock", "pl_unlk": "payload_unlock", "pl_open": "payload_open",
                  "pl_cls": "payload_close", "pl_avail": "payload_available", "pl_not_avail": "payload_not_available",
                  "avty": "availability", "json_attr_t": "json_attributes_topic", "t": "topic",
                  "pl_disarm": "payload_disarm", "pl_arm_away": "payload_arm_away"}
_PAYLOAD_KEYS: dict[DeviceKind | None, tuple[tuple[str, str, str], ...]] = {
    DeviceKind.LOCK: (("lock", "payload_lock", "LOCK"), ("unlock", "payload_unlock", "UNLOCK")),
    DeviceKind.GARAGE: (("open", "payload_open", "OPEN"), ("close", "payload_close", "CLOSE")),
    DeviceKind.ALARM: (("disarm", "payload_disarm", "DISARM"), ("arm", "payload_arm_away", "ARM_AWAY")),
}
# zigbee2mqtt's locks take users 0..pinCodeCount-1; threshold never addresses more slots than this.
MAX_SLOT = 249
_PIN = re.compile(r"^[0-9]{4,8}$")
_TEMPLATE = re.compile(r"^\{\{\s*value_json(?:\.(\w+)|\[['\"](\w+)['\"]\])\s*(?:\|[^}]*)?\}\}$")


class MessageError(ValueError):
    """A message that cannot be understood: counted and logged by the caller, never acted on."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one MQTT message says about one device (any field may be absent)."""

    name: str
    state: str | None = None
    available: bool | None = None
    battery: int | None = None
    frame_at: datetime | None = None
    at: datetime | None = None  # the device's own time (zigbee2mqtt's `last_seen`), when it sends one
    codes: tuple[tuple[int, str], ...] = ()  # keypad user slots and their status


@dataclass(slots=True)
class Topics:
    """Where one device's state, commands and availability travel, and how its payloads read."""

    state: str
    command: str
    availability: str | None = None
    template_key: str | None = None  # the JSON key the discovery value_template reads
    payloads: dict[str, str] = field(default_factory=dict)  # action -> literal payload from discovery
    availability_words: tuple[str, str] = ("online", "offline")


def split(topic: str, base: str) -> tuple[str, str] | None:
    """(friendly name, suffix or '') for a topic under `base`, or None when it is not a device topic."""
    if not topic.startswith(base + "/"):
        return None
    rest = topic[len(base) + 1:]
    if not rest or rest.startswith("bridge/") or rest == "bridge":
        return None
    head, _, last = rest.rpartition("/")
    if head and last in SUFFIXES:
        return head, last
    return rest, ""


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch milliseconds (zigbee2mqtt's two last_seen forms)."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MessageError(f"bad time {value!r}") from exc
    raise MessageError(f"bad time {value!r}")


def availability(name: str, payload: bytes, words: tuple[str, str] = ("online", "offline")) -> Parsed:
    """An availability message: JSON `{"state": "online"}` or a plain word (a discovered device's own words)."""
    text = _text(payload).strip()
    word: Any = text
    if text.startswith("{"):
        word = _json(payload).get("state")
    if word not in words:
        raise MessageError(f"bad availability {text[:40]!r}")
    return Parsed(name, available=word == words[0])


def frame(name: str, payload: bytes) -> Parsed:
    """A camera frame heartbeat: JSON with `frame_at` (or empty, meaning now)."""
    text = _text(payload).strip()
    if not text:
        now = datetime.now(UTC)
        return Parsed(name, frame_at=now, at=now)
    at = parse_time(_json(payload).get("frame_at"))
    if at is None:
        raise MessageError("frame without frame_at")
    return Parsed(name, frame_at=at, at=at)


def state(name: str, kind: DeviceKind | None, payload: bytes, template_key: str | None = None,
          plain: bool = False) -> Parsed:
    """A device state message, read the zigbee2mqtt way for its kind (None: not told, read by its keys).

    `plain` allows a bare word as the payload, as Home Assistant-style devices without a JSON template send.
    """
    if plain and template_key is None and not _text(payload).lstrip().startswith("{"):
        return Parsed(name, state=_word(kind, _text(payload).strip()))
    data = _json(payload)
    battery = data.get("battery")
    if battery is not None and (not isinstance(battery, int | float) or isinstance(battery, bool)
                                or not 0 <= battery <= 100):
        raise MessageError(f"bad battery {battery!r}")
    raw: Any
    if template_key is not None:
        raw = data.get(template_key)
        if isinstance(raw, bool) and kind is DeviceKind.CONTACT:
            raw = "closed" if raw else "open"
    elif kind in (DeviceKind.LOCK, None) and "lock_state" in data:
        raw = data["lock_state"]
    elif kind in (DeviceKind.CONTACT, None) and "contact" in data:
        contact = data["contact"]
        # zigbee2mqtt's contact is true when the magnet touches: the door is closed.
        raw = "closed" if contact is True else "open" if contact is False else contact
    else:
        raw = data.get("state")
    if raw is not None and not isinstance(raw, str):
        raise MessageError(f"bad state {raw!r}")
    codes = users(data.get("users")) if kind in (DeviceKind.LOCK, None) else ()
    return Parsed(name, state=_word(kind, raw) if raw is not None else None,
                  battery=int(battery) if battery is not None else None,
                  frame_at=parse_time(data.get("frame_at")), at=parse_time(data.get("last_seen")), codes=codes)


def users(raw: Any) -> tuple[tuple[int, str], ...]:
    """A lock's `users` (slot -> {"status": ...}) as (slot, status) pairs; a PIN in it is dropped unread."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MessageError("users is not an object")
    found = []
    for key, entry in raw.items():
        status = entry.get("status") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key.isdigit() or not 0 <= int(key) <= MAX_SLOT:
            raise MessageError(f"bad user slot {str(key)[:10]!r}")
        if status not in SLOT_STATUSES:
            # zigbee2mqtt says `not_supported_<n>` for a status it cannot name: nothing to confirm with it.
            continue
        found.append((int(key), str(status)))
    return tuple(sorted(found))


def keypad_payload(slot: int, pin: str | None) -> dict[str, Any]:
    """zigbee2mqtt's `pin_code` command: set `pin` in user slot `slot`, or clear the slot when `pin` is None."""
    if not 0 <= slot <= MAX_SLOT:
        raise MessageError(f"slot {slot} out of range")
    if pin is None:
        return {"pin_code": {"user": slot, "pin_code": None}}
    if not _PIN.match(pin):
        raise MessageError("a PIN is 4 to 8 digits")
    return {"pin_code": {"user": slot, "user_type": "unrestricted", "user_enabled": True, "pin_code": pin}}


def command_payload(command: DeviceCommand, topics: Topics | None = None) -> bytes:
    """The bytes to publish for a command: zigbee2mqtt JSON, or the literal payload discovery gave."""
    if command.action in ("set_code", "clear_code"):
        pin = command.code if command.action == "set_code" else None
        if topics is not None or command.slot is None or (command.action == "set_code" and pin is None):
            # A device with topics of its own speaks Home Assistant's discovery, which has no keypad codes.
            raise MessageError(f"{command.address} takes no such keypad command")
        return json.dumps(keypad_payload(command.slot, pin)).encode()
    if topics is not None and command.action in topics.payloads:
        return topics.payloads[command.action].encode()
    body = COMMANDS.get((command.kind, command.action))
    if body is None:
        raise MessageError(f"{command.kind} cannot {command.action}")
    if command.code is not None:
        body = {**body, "code": command.code}
    return json.dumps(body).encode()


def discovery(topic: str, payload: bytes, prefix: str = "homeassistant") -> tuple[DiscoveredDevice, Topics] | None:
    """A Home Assistant MQTT discovery config as a device and its topics; None for kinds threshold does not use."""
    parts = topic[len(prefix) + 1:].split("/") if topic.startswith(prefix + "/") else []
    if len(parts) not in (3, 4) or parts[-1] != "config":
        raise MessageError(f"not a discovery topic: {topic}")
    component = parts[0]
    if not payload:
        return None  # an empty config removes a device; enrolment is a person's decision, so ignore it
    cfg = _expand(_json(payload))
    kind = _DISCOVERY_KINDS.get(component)
    device_class = cfg.get("device_class")
    if not isinstance(device_class, str | None):
        raise MessageError(f"bad device_class {device_class!r}")
    if component == "cover" and device_class in ("garage", "gate"):
        kind = DeviceKind.GARAGE
    elif component == "binary_sensor" and device_class in _CONTACT_CLASSES:
        kind = DeviceKind.CONTACT
    if kind is None:
        return None
    state_topic = cfg.get("state_topic")
    if not isinstance(state_topic, str) or not state_topic:
        raise MessageError("discovery config without state_topic")
    command_topic = cfg.get("command_topic") or f"{state_topic}/set"
    avail = cfg.get("availability_topic")
    if avail is None and isinstance(cfg.get("availability"), list) and cfg["availability"]:
        first = cfg["availability"][0]
        if isinstance(first, dict):
            entry = _expand({"~": cfg["~"], **first} if isinstance(cfg.get("~"), str) else first)
            avail = entry.get("topic")
            cfg.setdefault("payload_available", entry.get("payload_available"))
            cfg.setdefault("payload_not_available", entry.get("payload_not_available"))
    template = cfg.get("value_template")
    match = _TEMPLATE.match(template.strip()) if isinstance(template, str) else None
    # Home Assistant's own defaults where the config names none; zigbee2mqtt devices get JSON instead (mqtt.py).
    payloads = {action: str(cfg.get(key) or default) for action, key, default in _PAYLOAD_KEYS.get(kind, ())}
    words = (str(cfg.get("payload_available") or "online"), str(cfg.get("payload_not_available") or "offline"))
    name = str(cfg.get("name") or cfg.get("unique_id") or state_topic)
    device = DiscoveredDevice(address=state_topic, kind=kind, name=name, source="mqtt-discovery")
    return device, Topics(state_topic, str(command_topic), avail if isinstance(avail, str) else None,
                          (match.group(1) or match.group(2)) if match else None, payloads, words)


def _expand(cfg: dict[str, Any]) -> dict[str, Any]:
    """Long keys for abbreviated ones, and `~` replaced by the base topic."""
    out = {_ABBREVIATIONS.get(k, k): v for k, v in cfg.items()}
    base = out.get("~")
    if isinstance(base, str):
        for key, value in list(out.items()):
            if isinstance(value, str) and key.endswith("topic"):
                out[key] = value.replace("~", base) if value.startswith("~") or value.endswith("~") else value
    return out


def _word(kind: DeviceKind | None, raw: str) -> str:
    low = raw.lower()
    if kind is None:
        # Not told the kind: the words of locks and covers do not clash, so read either.
        return _LOCK_WORDS.get(low) or _COVER_WORDS.get(low) or low
    if kind is DeviceKind.LOCK:
        return _LOCK_WORDS.get(low, low)
    if kind is DeviceKind.GARAGE:
        return _COVER_WORDS.get(low, low)
    if kind is DeviceKind.CONTACT:
        return {"on": "open", "off": "closed"}.get(low, low)
    return low


def _text(payload: bytes) -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:
        raise MessageError("payload is not UTF-8") from exc


def _json(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MessageError("payload is not JSON") from exc
    if not isinstance(data, dict):
        raise MessageError("payload is not a JSON object")
    return data
