"""The door watch's rule (pure): a door that opens or closes outside a session's unlock is judged here.

A door contact, or a garage door (its own contact), says where the door leaf is. The leaf may move only while a
session holds the door unlocked (`machine.DOOR_AT_RISK`): that is the person entering. At any other moment an
opening is an alert, unless an open incident already has a person looking at that entry point.
"""

from __future__ import annotations

from enum import StrEnum

from threshold.access import machine

# Session states in which the door may be unlocked, so the leaf may move.
AT_RISK = frozenset(s.value for s in machine.DOOR_AT_RISK)
# Where the leaf is, by device kind and reported state. A garage door that stopped part-way is open.
_POSITION = {
    "contact": {"open": "open", "closed": "closed"},
    "garage": {"open": "open", "stopped": "open", "closed": "closed"},
}
# Incidents that already put a person in charge of an entry point's door.
DOOR_INCIDENTS = ("unsecured", "door_reopened", "door_found_open")


class Verdict(StrEnum):
    """What the watch does about a door that moved."""

    EXPECTED = "expected"  # a session holds the door unlocked: record it on the session
    COVERED = "covered"  # an open incident already covers this door: record it on the incident
    ALERT = "alert"  # nobody should be opening this door: open an incident and tell people


def watched(kind: str) -> bool:
    """True for the device kinds that say where a door leaf is."""
    return kind in _POSITION


def position(kind: str, state: str) -> str | None:
    """'open' or 'closed' for a door contact or garage door state; None when the state says neither."""
    return _POSITION.get(kind, {}).get(state)


def judge(kind: str, state: str, session_state: str | None, covered: bool) -> Verdict | None:
    """What the watch does when a door reports `state`, given the live session at its entry point, if any.

    None means there is nothing worth recording (a door closing with nobody involved, or an unknown state).
    """
    where = position(kind, state)
    if where is None:
        return None
    if session_state in AT_RISK:
        return Verdict.EXPECTED
    if covered:
        return Verdict.COVERED
    # A door closing by itself is how it should be; a door opening that no session unlocked is not.
    return Verdict.ALERT if where == "open" else None
