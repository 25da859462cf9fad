"""Shared story helpers for the session machine tests: a session driven step by step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threshold.access.machine import (
    AlarmReport,
    CameraConfirmed,
    Command,
    Decision,
    DriverFinished,
    Event,
    LockReport,
    Session,
    State,
    Tick,
    Timing,
    decide,
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


def drive_to(state: State) -> Story:
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
