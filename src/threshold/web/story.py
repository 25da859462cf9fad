"""An entry in plain words: each step of its timeline, its state, and one sentence saying what happened
("Driver Ana from Parcelco opened the front door at 14:01, left 1 package, and locked it at 14:02 CET").
Pure: the caller gathers the facts; times are read in the household's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threshold.times import clock

# Each fact an entry's timeline can hold (access/machine.py, access/service.py, video/service.py), as words.
STEP_WORDS: dict[str, str] = {
    "entry.granted": "Asked to come in; every check passed",
    "entry.refused": "Asked to come in; refused",
    "session.awaiting_approval": "Waiting for the household to say yes",
    "session.approved": "The household said yes",
    "session.camera_requested": "Camera asked to start recording",
    "camera.confirmed": "Camera recording",
    "alarm.disarmed": "Alarm turned off",
    "lock.unlocked": "Door unlocked",
    "session.finished": "Done inside and out of the door",
    "driver.lingered": "Took longer than allowed: locking the door",
    "session.locking": "Locking the door",
    "lock.retry": "The lock did not confirm: trying again",
    "lock.locked": "Door locked",
    "lock.offline": "The lock stopped answering",
    "session.arming": "Turning the alarm back on",
    "alarm.armed": "Alarm back on",
    "alarm.not_rearmed": "The alarm did not turn back on",
    "session.done": "Finished: the door is locked",
    "session.aborted": "Stopped",
    "session.interrupted": "Interrupted",
    "session.unsecured": "The door could not be locked",
    "lock.confirmed_after_unsecured": "Door confirmed locked again",
    "camera.stalled": "The camera stopped sending pictures",
    "incident.opened": "An operator was told",
    "recording.failed": "The recording failed",
    "clip.sealed": "Clip saved and sealed",
    "clip.partial": "Clip saved (only part of the visit)",
    "clip.gap": "A gap in the camera's picture",
    "clip.viewed": "Clip watched",
    "clip.refused": "A view of the clip was refused",
    "live.viewed": "Watched live",
    "live.refused": "A live view was refused",
    "clip.held": "Clip kept for a claim",
    "clip.released": "Clip no longer kept for a claim",
    "clip.purged": "Clip deleted after its keeping time",
}

# Why an entry stopped or was refused, finishing "..., because ..." (the access and session codes).
REASONS: dict[str, str] = {
    "camera_not_confirmed": "the camera could not be confirmed to be recording",
    "camera_stalled": "the camera stopped sending pictures",
    "lock_offline": "the lock could not be reached",
    "device_offline": "a device at the door could not be reached",
    "lock_jammed": "the lock jammed",
    "lock_not_confirmed": "the lock did not confirm it opened",
    "alarm_not_disarmed": "the alarm could not be turned off",
    "alarm_not_rearmed": "the alarm did not turn back on",
    "approval_declined": "the household said no",
    "approval_timeout": "nobody answered the request to come in",
    "driver_lingered": "the visit took longer than allowed",
    "driver_deactivated": "the driver's account was switched off",
    "blackout_day": "it was a day set aside for no entries",
    "household_opted_out": "in-home delivery is turned off",
    "interrupted": "the system restarted or the entry was cancelled",
}

# A state as the household reads it (the entry's badge).
STATES: dict[str, str] = {
    "awaiting_approval": "Waiting for you to say yes",
    "camera_starting": "Starting the camera",
    "disarming": "Turning the alarm off",
    "unlocking": "Unlocking the door",
    "open": "Door unlocked: someone is inside",
    "locking": "Locking the door",
    "arming": "Turning the alarm back on",
    "done": "Done: door locked",
    "aborted": "Stopped",
    "interrupted": "Interrupted: door locked again",
    "unsecured": "Door left unlocked",
}


def readable(code: str) -> str:
    """A code nobody wrote words for, spelled out: "door.reopened" -> "Door reopened"."""
    text = code.replace(".", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def reason_words(code: str | None) -> str | None:
    """Why, in words (None for no reason)."""
    if not code:
        return None
    return REASONS.get(code, readable(code).lower())


def step_words(action: str, data: dict[str, Any] | None = None) -> str:
    """One timeline step in plain words; a step's reason follows when it has one."""
    words = STEP_WORDS.get(action, readable(action))
    why = reason_words(str((data or {}).get("reason") or "")) if action.startswith("session.") else None
    return f"{words}: {why}" if why else words


@dataclass(frozen=True, slots=True)
class Facts:
    """What the sentence needs, gathered by the caller from the entry and what it belongs to."""

    state: str
    reason: str | None
    actor_kind: str
    tz: str
    who: str | None = None            # the driver's first name or the guest's name
    partner: str | None = None
    entry_point: str | None = None
    packages: int = 0
    asked_at: datetime | None = None
    opened_at: datetime | None = None
    locked_at: datetime | None = None
    left_at: datetime | None = None   # when they said they were done (session.finished)
    resolved_at: datetime | None = None  # the door confirmed locked again after it was left unlocked
    closed_at: datetime | None = None    # an operator closed the entry's incident


def _someone(f: Facts) -> str:
    if f.actor_kind == "driver":
        # A carrier may name its drivers "Driver 7": the name then says "driver" already.
        name = (f.who if f.who.lower().startswith("driver") else f"Driver {f.who}") if f.who else "A driver"
        return f"{name} from {f.partner}" if f.partner else name
    if f.actor_kind == "guest":
        return f.who or "Your guest"
    return "Someone"


def _door(f: Facts) -> str:
    return f"the {f.entry_point.lower()}" if f.entry_point else "the door"


def _packages(n: int) -> str:
    return "1 package" if n == 1 else f"{n} packages"


def badge(f: Facts) -> str:
    """The entry's state in a few words; an unlocked door follows its incident."""
    if f.state == "unsecured":
        return unsecured_words(f)
    if f.state == "aborted" and f.opened_at is not None:
        return "Stopped: door locked again"
    return STATES.get(f.state, readable(f.state))


def unsecured_words(f: Facts) -> str:
    """A door left unlocked, and whether it is locked again."""
    if f.resolved_at is not None:
        return f"Door left unlocked \N{EM DASH} locked again at {clock(f.resolved_at, f.tz)}"
    if f.closed_at is not None:
        return f"Door left unlocked \N{EM DASH} an operator closed it at {clock(f.closed_at, f.tz)}"
    return "Door left unlocked \N{EM DASH} an operator has been told"


def sentence(f: Facts) -> str:
    """What happened (or is happening), in one or two sentences."""
    who, door, tz = _someone(f), _door(f), f.tz
    came = (f"opened {door}" if f.actor_kind == "driver" else f"came in by {door}")
    opened = f"{came} at {clock(f.opened_at, tz)}" if f.opened_at else came
    asked = f" at {clock(f.asked_at, tz)}" if f.asked_at else ""
    why = reason_words(f.reason)
    if f.state == "awaiting_approval":
        return f"{who} is at {door} and asked to come in{asked}; the door stays locked until you answer."
    if f.state in ("camera_starting", "disarming", "unlocking"):
        return f"{who} asked to come in by {door}{asked}; the door is being made ready."
    if f.state == "open":
        return f"{who} {opened} and is inside now."
    if f.state in ("locking", "arming"):
        return f"{who} {opened}; the door is being locked again."
    locked = f" and locked it at {clock(f.locked_at, tz)}" if f.locked_at else ""
    if f.state == "done":
        if f.actor_kind == "driver":
            left = f", left {_packages(f.packages)}" if f.packages else ""
            return f"{who} {opened}{left}{',' if left and locked else ''}{locked}."
        out = f" and left at {clock(f.left_at, tz)}" if f.left_at else ""
        return f"{who} {opened}{out}; the door was locked again{_at(f.locked_at, tz)}."
    if f.state == "unsecured":
        return f"{who} {opened}. {unsecured_words(f)}."
    if f.opened_at is None:
        because = f", because {why}" if why else ""
        return f"{who} asked to come in by {door}{asked}, but the door stayed locked{because}."
    stopped = "was interrupted" if f.state == "interrupted" else "was stopped"
    because = f" because {why}" if why else ""
    return f"{who} {opened}; the entry {stopped}{because}, and the door was locked again{_at(f.locked_at, tz)}."


def _at(when: datetime | None, tz: str) -> str:
    return f" at {clock(when, tz)}" if when else ""
