"""The moments a household hears about, which event topics they come from, and their default channels."""

from __future__ import annotations

from typing import Any

CHANNELS = ("email", "sms")

# Moment -> default channels. Safety moments also go by SMS: people read texts sooner than email.
MOMENTS: dict[str, tuple[str, ...]] = {
    "window_today": ("email",),
    "driver_on_way": ("email",),
    "delivered": ("email",),
    "camera_offline": ("email", "sms"),
    "door_not_relocked": ("email", "sms"),
    "alarm_not_rearmed": ("email", "sms"),
    "guest_entered": ("email",),
    "guest_left": ("email",),
    "delivery_refused": ("email",),
    "approval_requested": ("email", "sms"),
    # The all-clear goes wherever the alarm went: a text that says "door open" needs a text that says "locked".
    "all_clear": ("email", "sms"),
    "door_relocked": ("email",),
    "device_offline": ("email",),
    "battery_low": ("email",),
    "session_update": (),
}

_BY_TOPIC = {
    "window.today": "window_today",
    "driver.on_way": "driver_on_way",
    "delivery.completed": "delivered",
    "delivery.left_outside": "delivered",
    "camera.stalled": "camera_offline",
    "recording.failed": "camera_offline",
    "door.unsecured": "door_not_relocked",
    "door.found_open": "door_not_relocked",
    "door.reopened": "door_not_relocked",
    "lock.offline": "door_not_relocked",
    "alarm.not_rearmed": "alarm_not_rearmed",
    "guest.entered": "guest_entered",
    "delivery.fallback": "delivery_refused",
    "approval.requested": "approval_requested",
    "incident.resolved": "all_clear",
    "door.relocked": "door_relocked",
    "device.offline": "device_offline",
    "device.online": "device_offline",
    "device.battery_low": "battery_low",
}


def moment_of(topic: str, payload: dict[str, Any]) -> str | None:
    """The moment an event belongs to, or None for events nobody is told about."""
    guest = payload.get("actor") == "guest"
    if topic == "delivery.completed":
        return "guest_left" if guest else "delivered"
    if topic == "session.aborted":
        # A refused delivery says why and what happens instead; a guest's aborted entry is only an update.
        return "session_update" if guest or not payload.get("delivery") else "delivery_refused"
    if topic == "delivery.scheduled":
        return None
    if topic == "incident.reminder":
        # A reminder is heard where its alarm was: the alarm's own moment.
        return "alarm_not_rearmed" if payload.get("kind") == "alarm_not_rearmed" else "door_not_relocked"
    return _BY_TOPIC.get(topic, "session_update")


def channels_for(moment: str, chosen: dict[str, list[str]]) -> tuple[str, ...]:
    """The channels for a moment: the household's choice if it made one, else the default."""
    if moment in chosen:
        return tuple(c for c in chosen[moment] if c in CHANNELS)
    return MOMENTS.get(moment, ())
