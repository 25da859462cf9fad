"""The household's yes at a door someone else holds: the session ends door_busy, sending nothing to any device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threshold.access.machine import Approved, Command, Declined, Session, State, Timing, decide, start

NOW = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
TIMING = Timing()


def waiting() -> Session:
    """A session waiting for the household's approval."""
    return start(has_alarm=True, ask_first=True, now=NOW, timing=TIMING).session


def test_an_approval_at_a_free_door_starts_the_camera() -> None:
    d = decide(waiting(), Approved(), NOW + timedelta(seconds=10), TIMING)
    assert d.session.state is State.CAMERA_STARTING
    assert d.commands == (Command("camera", "start"),)
    assert d.facts == (("session.approved", {}),)


def test_an_approval_at_a_busy_door_ends_door_busy_and_never_starts_the_camera_or_touches_the_lock() -> None:
    d = decide(waiting(), Approved(door_busy=True), NOW + timedelta(seconds=10), TIMING)
    assert (d.session.state, d.session.reason, d.session.deadline) == (State.ABORTED, "door_busy", None)
    assert ("session.approved", {"door_busy": True}) in d.facts
    assert all(c.device != "lock" and c.action != "start" for c in d.commands)
    assert ("household", "session.aborted", {"reason": "door_busy"}) in d.messages


def test_door_busy_means_nothing_outside_an_approval() -> None:
    opening = start(has_alarm=False, ask_first=False, now=NOW, timing=TIMING).session
    d = decide(opening, Approved(door_busy=True), NOW, TIMING)
    assert d.session == opening and not d.changed
    declined = decide(waiting(), Declined(), NOW, TIMING)
    assert declined.session.reason == "approval_declined"
