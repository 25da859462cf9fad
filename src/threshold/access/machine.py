"""The entry session as a pure state machine: `decide(session, event, now) -> Decision`.

It decides and never acts. Every wait has a deadline; the door is unlocked only from `unlocking`, which is
reached only after the camera confirmed recording and (where there is one) the alarm confirmed disarmed.
Every path that may have opened the door ends in `locking`, whose only exits are a confirmed lock or
`unsecured` with an incident a person must close.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """Where a session is."""

    AWAITING_APPROVAL = "awaiting_approval"
    CAMERA_STARTING = "camera_starting"
    DISARMING = "disarming"
    UNLOCKING = "unlocking"
    OPEN = "open"
    LOCKING = "locking"
    ARMING = "arming"
    DONE = "done"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    UNSECURED = "unsecured"


TERMINAL = frozenset({State.DONE, State.ABORTED, State.INTERRUPTED, State.UNSECURED})
# States in which the door may be unlocked (a command to unlock may have been sent and not yet undone).
DOOR_AT_RISK = frozenset({State.UNLOCKING, State.OPEN, State.LOCKING})

ARMED_STATES = frozenset({"armed_away", "armed_home", "armed_night", "armed_vacation", "armed_custom_bypass"})


@dataclass(frozen=True, slots=True)
class Timing:
    """How long each wait may last (seconds)."""

    approval: float = 120.0
    camera: float = 5.0
    alarm: float = 5.0
    unlock: float = 5.0
    dwell: float = 300.0
    lock: float = 5.0
    arm: float = 10.0
    lock_retries: int = 2


@dataclass(frozen=True, slots=True)
class Session:
    """What the machine needs to know about a session."""

    state: State
    has_alarm: bool
    deadline: datetime | None = None
    attempts: int = 0
    alarm_disarmed: bool = False
    outcome: State | None = None
    reason: str | None = None
    camera_gap: bool = False


# Events --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Approved:
    """The household approved this entry; `door_busy` when another session held the door at that moment."""

    door_busy: bool = False


@dataclass(frozen=True, slots=True)
class Declined:
    """The household declined this entry."""


@dataclass(frozen=True, slots=True)
class CameraConfirmed:
    """The camera reports recording with a fresh frame."""


@dataclass(frozen=True, slots=True)
class CameraFailed:
    """The camera reports an error or went offline."""


@dataclass(frozen=True, slots=True)
class CameraStalled:
    """The camera's frames stopped arriving while the session was live."""


@dataclass(frozen=True, slots=True)
class LockReport:
    """The lock's confirmed state: locked, unlocked, locking, unlocking, jammed, open."""

    state: str


@dataclass(frozen=True, slots=True)
class LockOffline:
    """The lock (or garage door) dropped off the network: commands cannot reach it, nor reports come back."""


@dataclass(frozen=True, slots=True)
class AlarmReport:
    """The alarm panel's confirmed state: disarmed, arming, armed_*, pending, triggered."""

    state: str


@dataclass(frozen=True, slots=True)
class DriverFinished:
    """The person inside says they are done."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; a wait whose deadline is behind us has timed out."""


@dataclass(frozen=True, slots=True)
class Restarted:
    """The platform restarted while this session was live."""


@dataclass(frozen=True, slots=True)
class Abort:
    """Someone ended the session early (grant revoked, household or operator)."""

    reason: str


Event = (
    Approved | Declined | CameraConfirmed | CameraFailed | CameraStalled | LockReport | LockOffline | AlarmReport
    | DriverFinished | Tick | Restarted | Abort
)


@dataclass(frozen=True, slots=True)
class Command:
    """A command for one of the session's devices."""

    device: str  # lock | camera | alarm
    action: str  # lock, unlock, start, stop, arm, disarm


@dataclass(frozen=True, slots=True)
class Decision:
    """The machine's answer: the next session, what to send, what to audit and whom to tell."""

    session: Session
    commands: tuple[Command, ...] = ()
    facts: tuple[tuple[str, dict[str, Any]], ...] = ()
    messages: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # (audience, topic, data)
    incident: str | None = None

    @property
    def changed(self) -> bool:
        """True when anything needs to be stored or sent."""
        return bool(self.commands or self.facts or self.messages or self.incident)


@dataclass(slots=True)
class _Out:
    commands: list[Command] = field(default_factory=list)
    facts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    incident: str | None = None

    def decision(self, session: Session) -> Decision:
        return Decision(session, tuple(self.commands), tuple(self.facts), tuple(self.messages), self.incident)


def _at(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def start(has_alarm: bool, ask_first: bool, now: datetime, timing: Timing) -> Decision:
    """The first decision of a session whose ask for entry passed every rule."""
    if ask_first:
        session = Session(State.AWAITING_APPROVAL, has_alarm, deadline=_at(now, timing.approval))
        return Decision(
            session,
            facts=(("session.awaiting_approval", {}),),
            messages=(("household", "approval.requested", {}),),
        )
    session = Session(State.CAMERA_STARTING, has_alarm, deadline=_at(now, timing.camera))
    return Decision(session, (Command("camera", "start"),), (("session.camera_requested", {}),))


def _end(s: Session, out: _Out, state: State, reason: str | None) -> Session:
    out.facts.append((f"session.{state.value}", {"reason": reason} if reason else {}))
    out.commands.append(Command("camera", "stop"))
    topic = "delivery.completed" if state is State.DONE else f"session.{state.value}"
    out.messages.append(("household", topic, {"reason": reason} if reason else {}))
    return replace(s, state=state, deadline=None, reason=reason, outcome=None)


def _to_locking(s: Session, out: _Out, now: datetime, t: Timing, outcome: State, reason: str | None) -> Session:
    out.commands.append(Command("lock", "lock"))
    out.facts.append(("session.locking", {"outcome": outcome.value, **({"reason": reason} if reason else {})}))
    return replace(s, state=State.LOCKING, deadline=_at(now, t.lock), attempts=0, outcome=outcome,
                   reason=reason or s.reason)


def _to_arming_or_end(s: Session, out: _Out, now: datetime, t: Timing) -> Session:
    outcome = s.outcome or State.DONE
    if s.has_alarm and s.alarm_disarmed:
        out.commands.append(Command("alarm", "arm"))
        out.facts.append(("session.arming", {}))
        return replace(s, state=State.ARMING, deadline=_at(now, t.arm))
    return _end(s, out, outcome, s.reason)


def _abort_before_unlock(s: Session, out: _Out, now: datetime, t: Timing, reason: str) -> Session:
    if s.state is State.DISARMING:
        # The disarm may have landed late: put the alarm back and wait to see it armed.
        s = replace(s, alarm_disarmed=True, outcome=State.ABORTED, reason=reason)
        return _to_arming_or_end(s, out, now, t)
    return _end(s, out, State.ABORTED, reason)


def decide(s: Session, event: Event, now: datetime, t: Timing | None = None) -> Decision:
    """Decide what a session does next when `event` happens at `now`."""
    t = t or Timing()
    out = _Out()
    if s.state in TERMINAL:
        if s.state is State.UNSECURED and isinstance(event, LockReport) and event.state == "locked":
            out.facts.append(("lock.confirmed_after_unsecured", {}))
        return out.decision(s)
    timed_out = isinstance(event, Tick) and s.deadline is not None and now >= s.deadline

    if isinstance(event, Restarted):
        out.messages.append(("household", "session.interrupted", {"state": s.state.value}))
        if s.state in DOOR_AT_RISK:
            return out.decision(_to_locking(s, out, now, t, State.INTERRUPTED, "interrupted"))
        if s.state in (State.DISARMING, State.ARMING):
            s = replace(s, alarm_disarmed=True, outcome=s.outcome if s.state is State.ARMING else None)
            s = replace(s, outcome=s.outcome or State.INTERRUPTED, reason=s.reason or "interrupted")
            return out.decision(_to_arming_or_end(s, out, now, t))
        return out.decision(_end(s, out, State.INTERRUPTED, "interrupted"))

    match s.state:
        case State.AWAITING_APPROVAL:
            if isinstance(event, Approved) and event.door_busy:
                # Two people never share an open door: the approval stands (the service records it on the
                # delivery), and the person asks again once the door is free, without waiting for a new yes.
                out.facts.append(("session.approved", {"door_busy": True}))
                s = _end(s, out, State.ABORTED, "door_busy")
            elif isinstance(event, Approved):
                out.commands.append(Command("camera", "start"))
                out.facts.append(("session.approved", {}))
                s = replace(s, state=State.CAMERA_STARTING, deadline=_at(now, t.camera))
            elif isinstance(event, Declined):
                s = _end(s, out, State.ABORTED, "approval_declined")
            elif isinstance(event, Abort):
                s = _end(s, out, State.ABORTED, event.reason)
            elif isinstance(event, LockOffline):
                s = _end(s, out, State.ABORTED, "lock_offline")
            elif timed_out:
                s = _end(s, out, State.ABORTED, "approval_timeout")
        case State.CAMERA_STARTING:
            if isinstance(event, CameraConfirmed):
                out.facts.append(("camera.confirmed", {}))
                if s.has_alarm:
                    out.commands.append(Command("alarm", "disarm"))
                    s = replace(s, state=State.DISARMING, deadline=_at(now, t.alarm))
                else:
                    out.commands.append(Command("lock", "unlock"))
                    s = replace(s, state=State.UNLOCKING, deadline=_at(now, t.unlock))
            elif isinstance(event, CameraFailed | CameraStalled) or timed_out:
                s = _end(s, out, State.ABORTED, "camera_not_confirmed")
            elif isinstance(event, LockOffline):
                # A door that cannot be told to lock again must not be opened.
                s = _end(s, out, State.ABORTED, "lock_offline")
            elif isinstance(event, Abort):
                s = _end(s, out, State.ABORTED, event.reason)
        case State.DISARMING:
            if isinstance(event, AlarmReport) and event.state == "disarmed":
                out.facts.append(("alarm.disarmed", {}))
                out.commands.append(Command("lock", "unlock"))
                s = replace(s, state=State.UNLOCKING, alarm_disarmed=True, deadline=_at(now, t.unlock))
            elif (isinstance(event, AlarmReport) and event.state == "triggered") or timed_out:
                s = _abort_before_unlock(s, out, now, t, "alarm_not_disarmed")
            elif isinstance(event, CameraFailed | CameraStalled):
                s = _abort_before_unlock(s, out, now, t, "camera_stalled")
            elif isinstance(event, LockOffline):
                s = _abort_before_unlock(s, out, now, t, "lock_offline")
            elif isinstance(event, Abort):
                s = _abort_before_unlock(s, out, now, t, event.reason)
        case State.UNLOCKING:
            if isinstance(event, LockReport) and event.state in ("unlocked", "open"):
                out.facts.append(("lock.unlocked", {}))
                s = replace(s, state=State.OPEN, deadline=_at(now, t.dwell))
            elif isinstance(event, LockReport) and event.state == "jammed":
                s = _to_locking(s, out, now, t, State.ABORTED, "lock_jammed")
            elif timed_out:
                s = _to_locking(s, out, now, t, State.ABORTED, "lock_not_confirmed")
            elif isinstance(event, CameraFailed | CameraStalled):
                s = _stalled(s, out, now, t, State.ABORTED)
            elif isinstance(event, LockOffline):
                # The unlock may have landed before the lock dropped off: secure the door as if it had.
                s = _to_locking(s, out, now, t, State.ABORTED, "lock_offline")
            elif isinstance(event, Abort):
                s = _to_locking(s, out, now, t, State.ABORTED, event.reason)
        case State.OPEN:
            if isinstance(event, DriverFinished):
                out.facts.append(("session.finished", {}))
                s = _to_locking(s, out, now, t, State.DONE, None)
            elif timed_out:
                # Locking does not shut anyone in: every lock opens from inside by hand, and a door opened
                # after the session ends is caught by the door watch. The household gets its home back secured.
                out.facts.append(("driver.lingered", {"dwell_limit": t.dwell}))
                out.messages.append(("household", "driver.lingered", {"dwell_limit": t.dwell}))
                out.messages.append(("operator", "driver.lingered", {"dwell_limit": t.dwell}))
                s = _to_locking(s, out, now, t, State.DONE, "driver_lingered")
            elif isinstance(event, CameraFailed | CameraStalled):
                s = _stalled(s, out, now, t, State.ABORTED)
            elif isinstance(event, LockOffline):
                # The driver is inside and the lock is out of reach: people hear now, not when locking fails.
                out.facts.append(("lock.offline", {}))
                out.messages.append(("household", "lock.offline", {}))
                out.messages.append(("operator", "lock.offline", {}))
            elif isinstance(event, Abort):
                s = _to_locking(s, out, now, t, State.ABORTED, event.reason)
        case State.LOCKING:
            if isinstance(event, LockReport) and event.state == "locked":
                out.facts.append(("lock.locked", {"attempts": s.attempts + 1}))
                s = _to_arming_or_end(s, out, now, t)
            elif (isinstance(event, LockReport) and event.state == "jammed") or timed_out:
                s = _retry_or_unsecured(s, out, now, t, "lock_jammed" if isinstance(event, LockReport) else
                                        "lock_not_confirmed")
            elif isinstance(event, LockOffline):
                # A retry cannot reach an offline lock; waiting out every retry only delays the alarm.
                s = _unsecured(s, out, "lock_offline")
            elif isinstance(event, CameraFailed | CameraStalled) and not s.camera_gap:
                out.facts.append(("camera.stalled", {}))
                out.messages.append(("household", "camera.stalled", {}))
                out.messages.append(("operator", "camera.stalled", {}))
                s = replace(s, camera_gap=True)
        case State.ARMING:
            if isinstance(event, AlarmReport) and event.state in ARMED_STATES:
                out.facts.append(("alarm.armed", {}))
                s = _end(s, out, s.outcome or State.DONE, s.reason)
            elif timed_out or (isinstance(event, AlarmReport) and event.state == "triggered"):
                out.incident = "alarm_not_rearmed"
                out.messages.append(("operator", "alarm.not_rearmed", {}))
                out.messages.append(("household", "alarm.not_rearmed", {}))
                s = _end(s, out, s.outcome or State.DONE, s.reason or "alarm_not_rearmed")
    return out.decision(s)


def _stalled(s: Session, out: _Out, now: datetime, t: Timing, outcome: State) -> Session:
    out.facts.append(("camera.stalled", {}))
    out.messages.append(("household", "camera.stalled", {}))
    out.messages.append(("operator", "camera.stalled", {}))
    return _to_locking(replace(s, camera_gap=True), out, now, t, outcome, "camera_stalled")


def _retry_or_unsecured(s: Session, out: _Out, now: datetime, t: Timing, why: str) -> Session:
    if s.attempts < t.lock_retries:
        out.commands.append(Command("lock", "lock"))
        out.facts.append(("lock.retry", {"attempt": s.attempts + 2, "why": why}))
        return replace(s, attempts=s.attempts + 1, deadline=_at(now, t.lock))
    return _unsecured(s, out, why)


def _unsecured(s: Session, out: _Out, why: str) -> Session:
    out.incident = "unsecured"
    out.facts.append(("session.unsecured", {"reason": why}))
    out.messages.append(("household", "door.unsecured", {"reason": why}))
    out.messages.append(("operator", "door.unsecured", {"reason": why}))
    # The camera keeps recording: an unsecured door is exactly when the household wants to see it.
    return replace(s, state=State.UNSECURED, deadline=None, reason=why, outcome=None)


def may_send_unlock(s: Session) -> bool:
    """True for the only state from which an unlock command may leave."""
    return s.state is State.UNLOCKING
