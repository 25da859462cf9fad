"""The alert rules (pure): which incidents alarm people, when they are reminded, when a problem has cleared, and
what a device outage or a low battery means for deliveries.

One problem is one incident: it alarms once when it opens, reminds on a fixed schedule the household can read, and
ends with an all-clear when the devices themselves say it is over (a person still closes the incident).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from threshold.access import machine

# Incidents that alarm the household; each is followed by reminders and, when it clears, an all-clear.
DOOR_KINDS = frozenset({"unsecured", "door_reopened", "door_found_open"})
ALARM_KINDS = frozenset({"alarm_not_rearmed"})
ALARMED = DOOR_KINDS | ALARM_KINDS

# Reminders after the first alert: at 5, 15 and 60 minutes, then every 4 hours until the problem clears.
REMIND_AFTER = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
REMIND_EVERY = timedelta(hours=4)
SCHEDULE_WORDS = "5, 15 and 60 minutes after the first message, then every 4 hours, until it is resolved"

# What each securing device says when its door is shut and locked.
SECURED = {"lock": "locked", "garage": "closed", "contact": "closed"}

# A session that just ended may have its relock confirmed in a device row not yet written (rows are written
# behind): for this long after its end, the door is still the session's, and the watch leaves it alone.
OWNER_GRACE = timedelta(seconds=10)

# Below LOW_BATTERY the household is told once; it is told again only after the battery was seen at BATTERY_OK.
LOW_BATTERY = 20
BATTERY_OK = 30
# A device back within this long was a blip, not an outage worth a message.
OFFLINE_GRACE = timedelta(seconds=60)

# What a device being unreachable means for the household's deliveries.
OFFLINE_MEANING = {
    "lock": "In-home deliveries through this door are paused: nobody is let in by a lock we cannot lock again. "
            "Drivers follow your fallback instead.",
    "garage": "In-home deliveries through the garage are paused: nobody is let in by a door we cannot close "
              "again. Drivers follow your fallback instead.",
    "camera": "In-home deliveries are paused: nobody enters unrecorded. Drivers follow your fallback instead.",
    "alarm": "In-home deliveries are paused: the alarm cannot be switched off and on again for a driver. "
             "Drivers follow your fallback instead.",
    "contact": "In-home deliveries through this door are paused: we cannot see whether the door is shut. "
               "Drivers follow your fallback instead.",
}
BATTERY_MEANING = ("Please replace the battery soon: when it runs out the device goes offline and in-home "
                   "deliveries pause until it is back.")


def next_reminder(opened_at: datetime, sent: int) -> datetime:
    """When reminder number `sent + 1` is due for an incident opened at `opened_at`."""
    if sent < len(REMIND_AFTER):
        return opened_at + REMIND_AFTER[sent]
    return opened_at + REMIND_AFTER[-1] + REMIND_EVERY * (sent - len(REMIND_AFTER) + 1)


def moment_kind(kind: str) -> str:
    """The household's moment for an incident kind's alarm and reminders."""
    return "alarm_not_rearmed" if kind in ALARM_KINDS else "door_not_relocked"


def door_secured(states: Iterable[tuple[str, str]]) -> bool:
    """True when every securing device of a door, given as (kind, state), says shut and locked (and one exists)."""
    seen = False
    for kind, state in states:
        if kind in SECURED:
            seen = True
            if state != SECURED[kind]:
                return False
    return seen


def alarm_armed(state: str | None) -> bool:
    """True for every armed state of an alarm panel."""
    return state in machine.ARMED_STATES


def battery_low(battery: int | None, told: bool) -> bool | None:
    """True: tell the household now; False: the battery recovered, forget we told; None: nothing to do."""
    if battery is None:
        return None
    if battery < LOW_BATTERY and not told:
        return True
    if battery >= BATTERY_OK and told:
        return False
    return None


def offline_meaning(kind: str) -> str:
    """What a device of this kind being offline means for deliveries."""
    return OFFLINE_MEANING.get(kind, "In-home deliveries that need this device are paused until it is back.")
