"""Example-based tests of the entry session machine: one story per test, told through `decide`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from threshold.access.machine import (
    TERMINAL,
    Abort,
    AlarmReport,
    Approved,
    CameraConfirmed,
    CameraFailed,
    CameraStalled,
    Command,
    Decision,
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

T0 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
TIMING = Timing()

UNLOCK = Command("lock", "unlock")
LOCK = Command("lock", "lock")
CAMERA_START = Command("camera", "start")
CAMERA_STOP = Command("camera", "stop")
DISARM = Command("alarm", "disarm")
ARM = Command("alarm", "arm")


class Story:
    """A session driven step by step, keeping every decision and a clock the test controls."""

    def __init__(self, has_alarm: bool = False, ask_first: bool = False, timing: Timing = TIMING) -> None:
        self.now = T0
        self.timing = timing
        self.decisions: list[Decision] = [start(has_alarm, ask_first, self.now, timing)]

    @property
    def session(self) -> Session:
        return self.decisions[-1].session

    @property
    def last(self) -> Decision:
        return self.decisions[-1]

    def state(self) -> State:
        # A method, not a property: the state changes under the test's feet, so no type narrowing.
        return self.session.state

    def send(self, *events: Event) -> Decision:
        for event in events:
            self.decisions.append(decide(self.session, event, self.now, self.timing))
        return self.last

    def wait(self, seconds: float) -> Decision:
        """Let time pass and deliver a Tick."""
        self.now += timedelta(seconds=seconds)
        return self.send(Tick())

    def time_out(self) -> Decision:
        """Let the current wait run out and deliver a Tick."""
        assert self.session.deadline is not None, "every wait must have a deadline"
        self.now = max(self.now, self.session.deadline) + timedelta(milliseconds=1)
        return self.send(Tick())

    def all_commands(self) -> list[Command]:
        return [c for d in self.decisions for c in d.commands]

    def all_facts(self) -> list[str]:
        return [name for d in self.decisions for name, _ in d.facts]

    def all_messages(self) -> list[tuple[str, str]]:
        return [(aud, topic) for d in self.decisions for aud, topic, _ in d.messages]

    def incidents(self) -> list[str]:
        return [d.incident for d in self.decisions if d.incident]


def open_door(has_alarm: bool) -> Story:
    """A session that got as far as the driver inside with the door unlocked."""
    story = Story(has_alarm=has_alarm)
    story.send(CameraConfirmed())
    if has_alarm:
        story.send(AlarmReport("disarmed"))
    story.send(LockReport("unlocked"))
    assert story.state() is State.OPEN
    return story


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


def _drive_to(state: State) -> Story:
    """A session with an alarm driven to `state` through the machine."""
    story = Story(has_alarm=True, ask_first=state is State.AWAITING_APPROVAL)
    steps: list[Event] = [
        CameraConfirmed(),
        AlarmReport("disarmed"),
        LockReport("unlocked"),
        DriverFinished(),
        LockReport("locked"),
    ]
    for event in steps:
        if story.state() is state:
            break
        story.send(event)
    assert story.state() is state
    return story


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
    story = _drive_to(state)
    d = story.send(Restarted())
    assert story.state() is next_state
    assert command in d.commands
    assert UNLOCK not in d.commands and DISARM not in d.commands
    assert ("household", "session.interrupted") in [(a, t) for a, t, _ in d.messages]
    if next_state not in TERMINAL:
        assert story.session.deadline is not None


@pytest.mark.parametrize("state", [State.UNLOCKING, State.OPEN, State.LOCKING, State.DISARMING, State.ARMING])
def test_session_restarted_mid_entry_ends_interrupted_once_the_home_is_secured_again(state: State) -> None:
    story = _drive_to(state)
    story.send(Restarted())
    if story.state() is State.LOCKING:
        story.send(LockReport("locked"))
    assert story.state() is State.ARMING
    story.send(AlarmReport("armed_away"))
    # A restart while re-arming keeps the outcome already reached: the door was locked and confirmed.
    expected = State.DONE if state is State.ARMING else State.INTERRUPTED
    assert story.state() is expected


def test_restart_while_locking_starts_the_lock_attempts_afresh() -> None:
    story = _drive_to(State.LOCKING)
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
