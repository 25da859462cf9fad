"""Example-based tests of the entry session machine: drivers, alarms, restarts and approval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from stories import (
    ARM,
    CAMERA_START,
    CAMERA_STOP,
    DISARM,
    LOCK,
    T0,
    TIMING,
    UNLOCK,
    Story,
    drive_to,
    open_door,
)

from threshold.access.machine import (
    TERMINAL,
    Abort,
    AlarmReport,
    Approved,
    CameraConfirmed,
    Command,
    Declined,
    DriverFinished,
    Event,
    LockReport,
    Restarted,
    Session,
    State,
    Tick,
    Timing,
    decide,
    may_send_unlock,
    start,
)

# Driver ---------------------------------------------------------------------------------------------------


def test_driver_who_lingers_past_the_dwell_limit_is_locked_in_and_reported() -> None:
    story = open_door(has_alarm=False)
    story.wait(TIMING.dwell - 1)
    assert story.state() is State.OPEN
    d = story.time_out()
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    topics = [(a, t) for a, t, _ in d.messages]
    assert ("household", "driver.lingered") in topics
    assert ("operator", "driver.lingered") in topics
    story.send(LockReport("locked"))
    assert story.state() is State.DONE
    assert story.session.reason == "driver_lingered"


def test_abort_while_the_door_is_open_locks_before_ending() -> None:
    story = open_door(has_alarm=True)
    d = story.send(Abort("grant_revoked"))
    assert story.state() is State.LOCKING
    assert d.commands == (LOCK,)
    story.send(LockReport("locked"), AlarmReport("armed_home"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "grant_revoked"


# Alarm ----------------------------------------------------------------------------------------------------


def test_alarm_that_never_disarms_puts_it_back_and_aborts_without_unlocking() -> None:
    story = Story(has_alarm=True)
    story.send(CameraConfirmed())
    d = story.time_out()
    assert story.state() is State.ARMING
    assert d.commands == (ARM,)
    story.send(AlarmReport("armed_away"))
    assert story.state() is State.ABORTED
    assert story.session.reason == "alarm_not_disarmed"
    assert UNLOCK not in story.all_commands()


def test_alarm_that_will_not_rearm_ends_the_session_with_an_incident() -> None:
    story = open_door(has_alarm=True)
    story.send(DriverFinished(), LockReport("locked"))
    assert story.state() is State.ARMING
    d = story.time_out()
    assert story.state() is State.DONE
    assert d.incident == "alarm_not_rearmed"
    assert ("operator", "alarm.not_rearmed") in story.all_messages()
    assert story.session.reason == "alarm_not_rearmed"


# Restart --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "next_state", "command"),
    [
        (State.AWAITING_APPROVAL, State.INTERRUPTED, CAMERA_STOP),
        (State.CAMERA_STARTING, State.INTERRUPTED, CAMERA_STOP),
        (State.DISARMING, State.ARMING, ARM),
        (State.UNLOCKING, State.LOCKING, LOCK),
        (State.OPEN, State.LOCKING, LOCK),
        (State.LOCKING, State.LOCKING, LOCK),
        (State.ARMING, State.ARMING, ARM),
    ],
)
def test_restart_in_each_live_state_tells_the_household_and_secures_what_may_be_open(
    state: State, next_state: State, command: Command
) -> None:
    story = drive_to(state)
    d = story.send(Restarted())
    assert story.state() is next_state
    assert command in d.commands
    assert UNLOCK not in d.commands and DISARM not in d.commands
    assert ("household", "session.interrupted") in [(a, t) for a, t, _ in d.messages]
    if next_state not in TERMINAL:
        assert story.session.deadline is not None


@pytest.mark.parametrize("state", [State.UNLOCKING, State.OPEN, State.LOCKING, State.DISARMING, State.ARMING])
def test_session_restarted_mid_entry_ends_interrupted_once_the_home_is_secured_again(state: State) -> None:
    story = drive_to(state)
    story.send(Restarted())
    if story.state() is State.LOCKING:
        story.send(LockReport("locked"))
    assert story.state() is State.ARMING
    story.send(AlarmReport("armed_away"))
    # A restart while re-arming keeps the outcome already reached: the door was locked and confirmed.
    expected = State.DONE if state is State.ARMING else State.INTERRUPTED
    assert story.state() is expected


def test_restart_while_locking_starts_the_lock_attempts_afresh() -> None:
    story = drive_to(State.LOCKING)
    story.send(LockReport("jammed"))
    assert story.session.attempts == 1
    story.send(Restarted())
    assert story.session.attempts == 0
    assert story.session.outcome is State.INTERRUPTED


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_restart_after_the_session_ended_changes_nothing(state: State) -> None:
    session = Session(state, has_alarm=True)
    d = decide(session, Restarted(), T0, TIMING)
    assert d.session == session
    assert not d.changed


# Approval -------------------------------------------------------------------------------------------------


def test_session_that_asks_first_sends_nothing_to_devices_until_approved() -> None:
    story = Story(has_alarm=False, ask_first=True)
    assert story.state() is State.AWAITING_APPROVAL
    assert story.last.commands == ()
    assert ("household", "approval.requested") in story.all_messages()
    story.send(CameraConfirmed(), LockReport("unlocked"), DriverFinished())
    assert story.state() is State.AWAITING_APPROVAL
    d = story.send(Approved())
    assert d.commands == (CAMERA_START,)
    assert story.state() is State.CAMERA_STARTING
    story.send(CameraConfirmed(), LockReport("unlocked"), DriverFinished(), LockReport("locked"))
    assert story.state() is State.DONE


@pytest.mark.parametrize(
    ("event", "reason"),
    [(Declined(), "approval_declined"), (Abort("household"), "household"), (Tick(), "approval_timeout")],
)
def test_entry_not_approved_aborts_without_touching_lock_or_alarm(event: Event, reason: str) -> None:
    story = Story(has_alarm=True, ask_first=True)
    if isinstance(event, Tick):
        story.wait(TIMING.approval - 1)
        assert story.state() is State.AWAITING_APPROVAL
        story.time_out()
    else:
        story.send(event)
    assert story.state() is State.ABORTED
    assert story.session.reason == reason
    assert not {UNLOCK, LOCK, DISARM, ARM} & set(story.all_commands())


def test_approval_after_the_session_ended_does_not_start_the_camera() -> None:
    story = Story(has_alarm=False, ask_first=True)
    story.send(Declined())
    d = story.send(Approved())
    assert story.state() is State.ABORTED
    assert d.commands == ()


# Generic --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [s for s in State if s not in TERMINAL])
def test_tick_before_the_deadline_changes_nothing(state: State) -> None:
    session = Session(state, has_alarm=True, deadline=T0 + timedelta(seconds=1), alarm_disarmed=True)
    d = decide(session, Tick(), T0, TIMING)
    assert d.session == session
    assert not d.changed


def test_only_the_unlocking_state_may_send_an_unlock() -> None:
    allowed = {s for s in State if may_send_unlock(Session(s, has_alarm=False))}
    assert allowed == {State.UNLOCKING}


def test_decide_defaults_to_standard_timing() -> None:
    session = start(False, False, T0, TIMING).session
    d = decide(session, CameraConfirmed(), T0)
    assert d.session.deadline == T0 + timedelta(seconds=Timing().unlock)
