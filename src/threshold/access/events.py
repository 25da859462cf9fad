"""Translate confirmed device events into session machine events (pure)."""

from __future__ import annotations

from threshold.access import machine

# Transitional states change nothing in a session: they are dropped before any database work.
_PASSING = frozenset({"locking", "unlocking", "arming", "pending", "opening", "closing"})
_GARAGE = {"open": "open", "closed": "locked", "opening": "unlocking", "closing": "locking", "stopped": "jammed"}


def to_machine_event(role: str, kind: str, state: str) -> machine.Event | None:
    """The machine event for a device of `kind` playing `role` in a session, or None to ignore."""
    if state in _PASSING:
        return None
    if role == "camera":
        if state == "recording":
            return machine.CameraConfirmed()
        if state == "stalled":
            return machine.CameraStalled()
        if state in ("error", "offline"):
            return machine.CameraFailed()
        return None
    if role == "lock":
        if state == "offline":
            return machine.LockOffline()
        return machine.LockReport(_GARAGE.get(state, state) if kind == "garage" else state)
    if role == "alarm" and state != "offline":
        return machine.AlarmReport(state)
    return None


def ignorable(kind: str, state: str) -> bool:
    """True when no session could react to this device state, so no database work is needed."""
    return state in _PASSING or (kind == "camera" and state == "idle")
