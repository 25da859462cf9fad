"""The session machine when the lock drops off the network, and when the driver stays past the dwell limit."""

from __future__ import annotations

import pytest
from stories import CAMERA_STOP, DISARM, LOCK, TIMING, UNLOCK, Story, drive_to, open_door

from threshold.access.events import to_machine_event
from threshold.access.machine import (
    AlarmReport,
    Approved,
    CameraConfirmed,
    DriverFinished,
    LockOffline,
    LockReport,
    State,
    Timing,
)

# Before the unlock ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ask_first", [True, False])
def test_lock_offline_before_the_unlock_aborts_without_ever_unlocking(ask_first: bool) -> None:
    story = Story(has_alarm=False, ask_first=ask_first)
    d = story.send(LockOffline())
    assert story.state() is State.ABORTED
    assert story.session.reason == "lock_offline"
    assert UNLOCK not in story.all_commands()
    assert CAMERA_STOP in d.commands
    assert story.incidents() == []


def test_lock_offline_while_disarming_aborts_and_rearms_the_alarm() -> None:
    story = Story(has_alarm=True)
    assert story.send(CameraConfirmed()).commands == (DISARM,)
    story.send(LockOffline())
    assert story.state() is State.ARMING
    assert UNLOCK not in story.all_commands()
    story.send(AlarmReport("armed_away"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "lock_offline"


def test_lock_offline_right_after_the_unlock_was_sent_secures_the_door_as_if_it_had_opened() -> None:
    story = Story(has_alarm=False)
    story.send(CameraConfirmed())
    assert story.state() is State.UNLOCKING
    d = story.send(LockOffline())
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    assert story.session.reason == "lock_offline"


# With the door open -------------------------------------------------------------------------------------------


def test_lock_offline_with_the_driver_inside_tells_people_at_once_and_lets_the_driver_finish() -> None:
    story = open_door(has_alarm=False)
    d = story.send(LockOffline())
    assert story.state() is State.OPEN
    assert d.commands == ()
    assert [f for f, _ in d.facts] == ["lock.offline"]
    assert {(a, t) for a, t, _ in d.messages} == {("household", "lock.offline"), ("operator", "lock.offline")}
    assert story.send(DriverFinished()).commands == (LOCK,)
    assert story.state() is State.LOCKING


def test_lock_offline_while_locking_is_unsecured_at_once_without_pointless_retries() -> None:
    story = drive_to(State.LOCKING)
    before = len(story.all_commands())
    d = story.send(LockOffline())
    assert story.state() is State.UNSECURED
    assert story.session.reason == "lock_offline"
    assert d.incident == "unsecured"
    assert {(a, t) for a, t, _ in d.messages} == {("household", "door.unsecured"), ("operator", "door.unsecured")}
    assert len(story.all_commands()) == before, "no retry can reach an offline lock"
    # The camera keeps watching an unsecured door.
    assert CAMERA_STOP not in d.commands


def test_lock_back_online_and_locked_after_going_unsecured_is_recorded() -> None:
    story = drive_to(State.LOCKING)
    story.send(LockOffline())
    d = story.send(LockReport("locked"))
    assert story.state() is State.UNSECURED
    assert [f for f, _ in d.facts] == ["lock.confirmed_after_unsecured"]


def test_lock_offline_while_arming_changes_nothing_because_the_door_is_already_confirmed_locked() -> None:
    story = drive_to(State.ARMING)
    d = story.send(LockOffline())
    assert story.state() is State.ARMING
    assert not d.changed


@pytest.mark.parametrize("kind", ["lock", "garage"])
def test_an_offline_report_from_the_sessions_door_reaches_the_machine(kind: str) -> None:
    assert to_machine_event("lock", kind, "offline") == LockOffline()


# The driver who lingers -----------------------------------------------------------------------------------


def test_driver_past_the_dwell_limit_is_audited_then_the_door_locks_and_the_alarm_rearms() -> None:
    timing = Timing(dwell=60.0)
    story = Story(has_alarm=True, timing=timing)
    story.send(CameraConfirmed(), AlarmReport("disarmed"), LockReport("unlocked"))
    d = story.time_out()
    assert ("driver.lingered", {"dwell_limit": 60.0}) in d.facts
    assert d.commands == (LOCK,)
    story.send(LockReport("locked"))
    assert story.state() is State.ARMING
    d = story.send(AlarmReport("armed_away"))
    assert story.state() is State.DONE
    assert story.session.reason == "driver_lingered"
    assert ("session.done", {"reason": "driver_lingered"}) in d.facts
    assert story.incidents() == []


def test_driver_who_finishes_within_the_limit_is_not_reported() -> None:
    story = open_door(has_alarm=False)
    story.wait(TIMING.dwell - 1)
    story.send(DriverFinished(), LockReport("locked"))
    assert story.state() is State.DONE
    assert "driver.lingered" not in story.all_facts()
    assert all(t != "driver.lingered" for _, t in story.all_messages())


def test_approved_session_still_aborts_when_the_lock_drops_off_before_the_camera_confirms() -> None:
    story = Story(has_alarm=False, ask_first=True)
    story.send(Approved())
    assert story.state() is State.CAMERA_STARTING
    story.send(LockOffline())
    assert story.state() is State.ABORTED
    assert UNLOCK not in story.all_commands()
