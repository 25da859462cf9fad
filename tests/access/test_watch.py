"""The door watch's rule: a door leaf may move only while a session holds the door unlocked."""

from __future__ import annotations

import pytest

from threshold.access.machine import DOOR_AT_RISK, TERMINAL, State
from threshold.access.watch import Verdict, judge, position, watched

LOCKED_STATES = sorted(s.value for s in State if s not in DOOR_AT_RISK and s not in TERMINAL)


# Written out, not read from the machine: adding a state to DOOR_AT_RISK must fail here until it is meant.
@pytest.mark.parametrize("state", ["locking", "open", "unlocking"])
def test_door_opening_while_a_session_holds_it_unlocked_is_the_person_entering(state: str) -> None:
    assert judge("contact", "open", state, covered=False) is Verdict.EXPECTED
    assert judge("contact", "closed", state, covered=False) is Verdict.EXPECTED


def test_door_opening_after_the_session_ended_is_an_alert() -> None:
    assert judge("contact", "open", None, covered=False) is Verdict.ALERT


@pytest.mark.parametrize("state", LOCKED_STATES)
def test_door_opening_during_a_session_that_has_not_unlocked_or_already_relocked_is_an_alert(state: str) -> None:
    # Waiting for approval, the camera or the alarm, or re-arming after a confirmed lock: the door is locked.
    assert judge("contact", "open", state, covered=False) is Verdict.ALERT


def test_door_opening_under_an_open_incident_is_recorded_there_not_raised_again() -> None:
    assert judge("contact", "open", None, covered=True) is Verdict.COVERED
    assert judge("garage", "open", None, covered=True) is Verdict.COVERED


def test_door_closing_with_nobody_involved_needs_nothing_but_is_recorded_on_an_open_incident() -> None:
    assert judge("contact", "closed", None, covered=False) is None
    assert judge("contact", "closed", None, covered=True) is Verdict.COVERED


@pytest.mark.parametrize("state", ["open", "stopped"])
def test_garage_door_open_or_stopped_part_way_with_no_session_is_an_alert(state: str) -> None:
    assert position("garage", state) == "open"
    assert judge("garage", state, None, covered=False) is Verdict.ALERT


@pytest.mark.parametrize(("kind", "state"), [("contact", "offline"), ("garage", "opening"), ("lock", "unlocked"),
                                              ("contact", "weird")])
def test_states_that_say_nothing_about_the_leaf_are_ignored(kind: str, state: str) -> None:
    assert judge(kind, state, None, covered=False) is None


def test_only_contacts_and_garage_doors_are_watched() -> None:
    assert watched("contact") and watched("garage")
    assert not any(watched(kind) for kind in ("lock", "camera", "alarm"))
