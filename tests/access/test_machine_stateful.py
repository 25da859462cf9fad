"""The entry session machine against a simulated home whose devices misbehave.

The invariants are the safety rules from DESIGN.md, checked on the world, not on the machine's own states:
no door unlocked without a live session or an open incident; no unlock before the camera confirmed and the
alarm confirmed disarmed; every wait bounded; and time alone always ends a session.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

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
    LockOffline,
    LockReport,
    Restarted,
    Session,
    State,
    Tick,
    Timing,
    decide,
    start,
)

T0 = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
ARMED = "armed_away"


@dataclass(frozen=True, slots=True)
class World:
    """The physical home: what the devices are really doing, whatever the server believes."""

    has_alarm: bool
    lock: str = "locked"  # locked | unlocked | jammed (a jammed bolt is not a locked door)
    alarm: str = "none"  # none | armed_away | disarmed | triggered
    recording: bool = False
    jams: bool = False

    def run(self, command: Command) -> World:
        """The device carries out one command."""
        match (command.device, command.action):
            case ("lock", "unlock"):
                return replace(self, lock="unlocked")
            case ("lock", "lock"):
                return replace(self, lock="jammed" if self.jams else "locked")
            case ("camera", "start"):
                return replace(self, recording=True)
            case ("camera", "stop"):
                return replace(self, recording=False)
            case ("alarm", "disarm") if self.has_alarm:
                return replace(self, alarm="disarmed")
            case ("alarm", "arm") if self.has_alarm:
                return replace(self, alarm=ARMED)
        raise AssertionError(f"the machine sent a command this home cannot carry out: {command}")


def _max_wait(t: Timing) -> timedelta:
    return timedelta(seconds=max(t.approval, t.camera, t.alarm, t.unlock, t.dwell, t.lock, t.arm))


def _ticks_to_end(t: Timing) -> int:
    # Longest chain of timeouts: unlocking -> locking -> each retry -> unsecured, plus slack for arming.
    return t.lock_retries + 5


timings = st.builds(
    Timing,
    approval=st.sampled_from([30.0, 120.0]),
    camera=st.sampled_from([2.0, 5.0]),
    dwell=st.sampled_from([60.0, 300.0]),
    lock_retries=st.integers(min_value=0, max_value=3),
)


class EntrySessionInAHome(RuleBasedStateMachine):
    """Sessions one after another at one home, a hostile network and a clock that the test moves."""

    session: Session

    @initialize(has_alarm=st.booleans(), ask_first=st.booleans(), timing=timings)
    def begin(self, has_alarm: bool, ask_first: bool, timing: Timing) -> None:
        self.timing = timing
        self.now = T0
        self.world = World(has_alarm, alarm=ARMED if has_alarm else "none")
        self.drop_next = 0
        self.incident_open = False
        self._begin_session(has_alarm, ask_first)

    def _begin_session(self, has_alarm: bool, ask_first: bool) -> None:
        # What the world has told the server, in the order the safety rule needs it.
        self.camera_confirmed = False
        self.alarm_confirmed_disarmed = False
        self.unlocks_sent = 0
        self.securing_started = False
        self._apply(start(has_alarm, ask_first, self.now, self.timing))

    # Plumbing ---------------------------------------------------------------------------------------------

    def _deliver(self, event: Event) -> Decision:
        decision = decide(self.session, event, self.now, self.timing)
        self._apply(decision)
        return decision

    def _apply(self, decision: Decision) -> None:
        for command in decision.commands:
            self._check_command_is_safe(command)
        self.session = decision.session
        if decision.incident == "unsecured":
            self.incident_open = True
        for command in decision.commands:
            if self.drop_next:
                self.drop_next -= 1
                continue
            self.world = self.world.run(command)
            if command == Command("camera", "stop"):
                self.camera_confirmed = False
            if command == Command("alarm", "arm"):
                self.alarm_confirmed_disarmed = False

    def _check_command_is_safe(self, command: Command) -> None:
        if command == Command("alarm", "disarm"):
            assert self.camera_confirmed, "alarm disarmed before the camera confirmed recording"
        if command == Command("lock", "lock"):
            self.securing_started = True
        if command == Command("lock", "unlock"):
            assert self.camera_confirmed, "unlock sent without a camera confirmed recording with fresh frames"
            assert not self.world.has_alarm or self.alarm_confirmed_disarmed, (
                "unlock sent before the alarm confirmed disarmed"
            )
            assert not self.securing_started, "unlock sent after the session began securing the door"
            assert self.unlocks_sent == 0, "a second unlock in one session"
            self.unlocks_sent += 1

    @property
    def terminal(self) -> bool:
        return self.session.state in TERMINAL

    # The network and the clock ----------------------------------------------------------------------------

    @precondition(lambda self: self.terminal and not self.incident_open)
    @rule(has_alarm=st.booleans(), ask_first=st.booleans())
    def next_session_starts(self, has_alarm: bool, ask_first: bool) -> None:
        """A new entry at the same home once the last one ended with nothing left open."""
        self.world = replace(self.world, has_alarm=has_alarm, alarm=ARMED if has_alarm else "none")
        self._begin_session(has_alarm, ask_first)

    @rule(fault=st.sampled_from(["drop_next_command", "lock_jams", "lock_works"]))
    def home_misbehaves(self, fault: str) -> None:
        """The network loses the next command, or the lock starts (or stops) jamming when told to lock."""
        if fault == "drop_next_command":
            self.drop_next += 1
        else:
            self.world = replace(self.world, jams=fault == "lock_jams")

    @rule(seconds=st.floats(min_value=0, max_value=30, allow_nan=False), past_deadline=st.booleans())
    def time_passes(self, seconds: float, past_deadline: bool) -> None:
        """The clock moves on a little, or past the current wait's deadline."""
        if past_deadline and self.session.deadline is not None:
            self.now = max(self.now, self.session.deadline)
        self.now += timedelta(seconds=seconds)
        self._deliver(Tick())

    @rule(cause=st.sampled_from(["server_restart", "grant_revoked", "household", "operator"]))
    def session_is_interrupted(self, cause: str) -> None:
        """The server restarts mid-session, or a person ends the session early."""
        self._deliver(Restarted() if cause == "server_restart" else Abort(cause))

    # People -----------------------------------------------------------------------------------------------

    @rule(approve=st.booleans())
    def household_answers(self, approve: bool) -> None:
        self._deliver(Approved() if approve else Declined())

    @rule()
    def driver_finishes(self) -> None:
        self._deliver(DriverFinished())

    # Devices ----------------------------------------------------------------------------------------------

    @rule()
    def devices_report_promptly(self) -> None:
        """Every device says what it is really doing, the way a healthy home does."""
        if self.world.recording:
            self.camera_confirms_fresh_frames()
        self._deliver(LockReport(self.world.lock))
        if self.world.has_alarm:
            self.alarm_reports(None)

    @rule(transition=st.sampled_from([None, "locking", "unlocking"]))
    def lock_reports(self, transition: str | None) -> None:
        """The lock reports its true state, or that it is moving."""
        self._deliver(LockReport(transition or self.world.lock))

    @rule()
    def lock_drops_off_the_network(self) -> None:
        """The lock goes dark: the next command to reach the home is lost with it."""
        self.drop_next += 1
        self._deliver(LockOffline())

    @precondition(lambda self: self.world.recording)
    @rule()
    def camera_confirms_fresh_frames(self) -> None:
        if self.session.state is State.CAMERA_STARTING:
            self.camera_confirmed = True
        self._deliver(CameraConfirmed())

    @precondition(lambda self: self.world.recording)
    @rule(failed=st.booleans())
    def camera_stalls(self, failed: bool) -> None:
        self.world = replace(self.world, recording=False)
        self.camera_confirmed = self.alarm_confirmed_disarmed = False
        self._deliver(CameraFailed() if failed else CameraStalled())

    @precondition(lambda self: self.world.has_alarm)
    @rule(transition=st.sampled_from([None, "arming", "pending"]))
    def alarm_reports(self, transition: str | None) -> None:
        """The alarm panel reports its true state, or that it is changing."""
        if transition is None and self.world.alarm == "disarmed" and self.camera_confirmed:
            self.alarm_confirmed_disarmed = True
        self._deliver(AlarmReport(transition or self.world.alarm))

    @precondition(lambda self: self.world.has_alarm and self.world.alarm == ARMED)
    @rule()
    def alarm_triggers(self) -> None:
        self.world = replace(self.world, alarm="triggered")
        self._deliver(AlarmReport("triggered"))

    # Safety -----------------------------------------------------------------------------------------------

    @invariant()
    def no_unlocked_door_without_a_live_session_or_an_open_incident(self) -> None:
        if self.world.lock != "locked":
            assert not self.terminal or self.incident_open, (
                f"door {self.world.lock} but session {self.session.state} and no unsecured incident"
            )

    @invariant()
    def every_wait_is_bounded(self) -> None:
        if not self.terminal:
            assert self.session.deadline is not None, f"{self.session.state} waits without a deadline"
            assert self.session.deadline <= self.now + _max_wait(self.timing)

    @invariant()
    def time_alone_ends_the_session_even_if_no_device_answers(self) -> None:
        session, now, world, incident = self.session, self.now, self.world, self.incident_open
        for _ in range(_ticks_to_end(self.timing)):
            if session.state in TERMINAL:
                break
            assert session.deadline is not None
            now = max(now, session.deadline) + timedelta(seconds=1)
            decision = decide(session, Tick(), now, self.timing)
            session, incident = decision.session, incident or decision.incident == "unsecured"
            # Every command is lost: the home stays as it is.
        assert session.state in TERMINAL, f"still {session.state} after {_ticks_to_end(self.timing)} timeouts"
        if world.lock != "locked":
            assert incident, f"silent home left {world.lock} and the session ended {session.state} quietly"

    @invariant()
    def a_cooperative_home_ends_the_session_and_secures_the_door(self) -> None:
        if self.terminal:
            return
        # From here on every command arrives, the lock stops jamming and devices report their true state.
        before = self.session.state
        session, now = self.session, self.now
        world = replace(self.world, jams=False, alarm=ARMED if self.world.alarm == "triggered" else self.world.alarm)
        incidents: list[str] = []

        def deliver(event: Event) -> None:
            nonlocal session, world
            decision = decide(session, event, now, self.timing)
            incidents.extend([decision.incident] if decision.incident else [])
            session = decision.session
            for command in decision.commands:
                world = world.run(command)

        for _ in range(12):
            if session.state in TERMINAL:
                break
            seen = session.state
            deliver(LockReport(world.lock))
            if world.has_alarm:
                deliver(AlarmReport(world.alarm))
            if session.state is seen and session.deadline is not None:
                # Nothing the devices said moved the session on: let its wait run out.
                now = max(now, session.deadline) + timedelta(seconds=1)
                deliver(Tick())
        assert session.state in TERMINAL, f"a cooperative home left the session in {session.state}"
        assert world.lock == "locked" or "unsecured" in incidents
        if world.has_alarm and session.alarm_disarmed:
            # An unsecured door is left to a person, who decides about the alarm too.
            assert world.alarm == ARMED or incidents
        if before in (State.AWAITING_APPROVAL, State.CAMERA_STARTING, State.DISARMING, State.UNLOCKING, State.OPEN):
            # Nothing has failed yet that a person must look at: a cooperative home needs no incident.
            assert incidents == [], f"incidents {incidents} from {before} in a cooperative home"


EntrySessionInAHome.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEntrySessionInAHome = EntrySessionInAHome.TestCase
