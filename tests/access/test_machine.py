"""Example-based tests of the entry session machine: one story per test, told through `decide`."""

from __future__ import annotations

import pytest
from stories import (
    ARM,
    CAMERA_START,
    CAMERA_STOP,
    DISARM,
    LOCK,
    TIMING,
    UNLOCK,
    Story,
    open_door,
)

from threshold.access.machine import (
    Abort,
    AlarmReport,
    CameraConfirmed,
    CameraFailed,
    CameraStalled,
    DriverFinished,
    Event,
    LockReport,
    Restarted,
    State,
    Tick,
    Timing,
    may_send_unlock,
)

# Happy paths ---------------------------------------------------------------------------------------------


def test_session_without_alarm_unlocks_only_after_camera_confirms_and_ends_done_after_confirmed_lock() -> None:
    story = Story(has_alarm=False)
    assert story.state() is State.CAMERA_STARTING
    assert story.last.commands == (CAMERA_START,)
    assert UNLOCK not in story.all_commands()

    d = story.send(CameraConfirmed())
    assert d.commands == (UNLOCK,)
    assert story.state() is State.UNLOCKING

    story.send(LockReport("unlocked"))
    assert story.state() is State.OPEN
    d = story.send(DriverFinished())
    assert d.commands == (LOCK,)
    assert story.state() is State.LOCKING

    d = story.send(LockReport("locked"))
    assert story.state() is State.DONE
    assert CAMERA_STOP in d.commands
    assert ("household", "delivery.completed") in story.all_messages()
    assert story.all_commands() == [CAMERA_START, UNLOCK, LOCK, CAMERA_STOP]
    assert story.incidents() == []
    assert story.session.deadline is None


def test_session_with_alarm_disarms_after_camera_unlocks_after_disarm_and_rearms_before_done() -> None:
    story = Story(has_alarm=True)
    d = story.send(CameraConfirmed())
    assert d.commands == (DISARM,)
    assert story.state() is State.DISARMING

    d = story.send(AlarmReport("disarmed"))
    assert d.commands == (UNLOCK,)
    story.send(LockReport("unlocked"), DriverFinished())
    d = story.send(LockReport("locked"))
    assert d.commands == (ARM,)
    assert story.state() is State.ARMING

    d = story.send(AlarmReport("armed_away"))
    assert story.state() is State.DONE
    assert story.all_commands() == [CAMERA_START, DISARM, UNLOCK, LOCK, ARM, CAMERA_STOP]
    assert story.all_facts().index("alarm.armed") < story.all_facts().index("session.done")
    assert story.incidents() == []


@pytest.mark.parametrize("alarm_state", ["pending", "arming", "armed_away", "armed_home"])
def test_alarm_that_has_not_confirmed_disarmed_keeps_the_door_locked(alarm_state: str) -> None:
    story = Story(has_alarm=True)
    story.send(CameraConfirmed())
    d = story.send(AlarmReport(alarm_state))
    assert story.state() is State.DISARMING
    assert UNLOCK not in d.commands
    assert not may_send_unlock(story.session)


def test_lock_report_before_the_camera_confirms_does_not_open_the_session() -> None:
    story = Story(has_alarm=False)
    story.send(LockReport("unlocked"), LockReport("locked"), DriverFinished())
    assert story.state() is State.CAMERA_STARTING
    assert UNLOCK not in story.all_commands()


# Camera ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [CameraFailed(), CameraStalled()], ids=["failed", "stalled"])
@pytest.mark.parametrize("has_alarm", [False, True])
def test_camera_that_fails_while_starting_aborts_camera_not_confirmed_and_never_unlocks(
    event: Event, has_alarm: bool
) -> None:
    story = Story(has_alarm=has_alarm)
    d = story.send(event)
    assert story.state() is State.ABORTED
    assert story.session.reason == "camera_not_confirmed"
    assert CAMERA_STOP in d.commands
    assert ("household", "session.aborted") in story.all_messages()
    assert UNLOCK not in story.all_commands()
    assert DISARM not in story.all_commands()


def test_camera_that_never_confirms_times_out_as_camera_not_confirmed() -> None:
    story = Story(has_alarm=False)
    story.wait(TIMING.camera / 2)
    assert story.state() is State.CAMERA_STARTING
    story.time_out()
    assert story.state() is State.ABORTED
    assert story.session.reason == "camera_not_confirmed"
    assert UNLOCK not in story.all_commands()


def test_camera_that_stalls_while_disarming_puts_the_alarm_back_and_never_unlocks() -> None:
    story = Story(has_alarm=True)
    story.send(CameraConfirmed())
    d = story.send(CameraStalled())
    assert story.state() is State.ARMING
    assert d.commands == (ARM,)
    story.send(AlarmReport("armed_away"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "camera_stalled"
    assert UNLOCK not in story.all_commands()


@pytest.mark.parametrize("has_alarm", [False, True])
def test_camera_that_stalls_while_the_door_is_open_locks_the_door_and_alerts_household_and_operator(
    has_alarm: bool,
) -> None:
    story = open_door(has_alarm)
    d = story.send(CameraStalled())
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    assert ("household", "camera.stalled") in story.all_messages()
    assert ("operator", "camera.stalled") in story.all_messages()
    story.send(LockReport("locked"))
    if has_alarm:
        story.send(AlarmReport("armed_away"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "camera_stalled"


def test_camera_that_stalls_while_locking_alerts_once_and_keeps_locking() -> None:
    story = open_door(has_alarm=False)
    story.send(DriverFinished())
    first = story.send(CameraStalled())
    second = story.send(CameraFailed())
    assert story.state() is State.LOCKING
    assert ("operator", "camera.stalled") in [(a, t) for a, t, _ in first.messages]
    assert not second.changed
    story.send(LockReport("locked"))
    assert story.state() is State.DONE


# Lock -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 2, 3])
def test_lock_that_jams_every_time_ends_unsecured_with_incident(retries: int) -> None:
    timing = Timing(lock_retries=retries)
    story = Story(has_alarm=False, timing=timing)
    story.send(CameraConfirmed(), LockReport("unlocked"), DriverFinished())
    for _ in range(retries):
        d = story.send(LockReport("jammed"))
        assert story.state() is State.LOCKING
        assert d.commands == (LOCK,)
        assert d.incident is None
    d = story.send(LockReport("jammed"))
    assert story.state() is State.UNSECURED
    assert d.incident == "unsecured"
    assert story.session.deadline is None
    assert ("household", "door.unsecured") in [(a, t) for a, t, _ in d.messages]
    assert ("operator", "door.unsecured") in [(a, t) for a, t, _ in d.messages]
    # One first attempt plus one command per retry.
    assert story.all_commands().count(LOCK) == 1 + retries
    # The camera keeps recording while the door is unsecured.
    assert CAMERA_STOP not in story.all_commands()


def test_lock_that_never_confirms_ends_unsecured_after_every_retry_times_out() -> None:
    story = open_door(has_alarm=True)
    story.send(DriverFinished())
    for _ in range(TIMING.lock_retries):
        d = story.time_out()
        assert d.commands == (LOCK,)
    d = story.time_out()
    assert story.state() is State.UNSECURED
    assert d.incident == "unsecured"
    assert story.session.reason == "lock_not_confirmed"
    # The alarm is not re-armed over an unsecured door; a person decides.
    assert ARM not in story.all_commands()


def test_lock_that_jams_once_then_locks_ends_done_without_incident() -> None:
    story = open_door(has_alarm=False)
    story.send(DriverFinished(), LockReport("jammed"))
    assert story.state() is State.LOCKING
    story.send(LockReport("locking"), LockReport("locked"))
    assert story.state() is State.DONE
    assert story.incidents() == []
    assert "lock.retry" in story.all_facts()


def test_transitional_and_stale_lock_reports_do_not_count_as_locked() -> None:
    story = open_door(has_alarm=False)
    story.send(DriverFinished(), LockReport("locking"), LockReport("unlocked"), LockReport("open"))
    assert story.state() is State.LOCKING
    assert story.session.attempts == 0


def test_unsecured_session_stays_unsecured_and_only_records_a_late_lock() -> None:
    story = Story(has_alarm=False, timing=Timing(lock_retries=0))
    story.send(CameraConfirmed(), LockReport("unlocked"), DriverFinished(), LockReport("jammed"))
    assert story.state() is State.UNSECURED
    late = story.send(LockReport("locked"))
    assert story.state() is State.UNSECURED
    assert late.facts == (("lock.confirmed_after_unsecured", {}),)
    assert late.commands == ()
    for event in (Restarted(), Tick(), DriverFinished(), Abort("operator")):
        assert not story.send(event).changed
        assert story.state() is State.UNSECURED


def test_lock_that_jams_while_unlocking_is_locked_again() -> None:
    story = Story(has_alarm=False)
    story.send(CameraConfirmed())
    d = story.send(LockReport("jammed"))
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    assert story.session.reason == "lock_jammed"


def test_unlock_that_never_confirms_is_followed_by_a_lock_command() -> None:
    story = Story(has_alarm=False)
    story.send(CameraConfirmed())
    d = story.time_out()
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    story.send(LockReport("locked"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "lock_not_confirmed"
