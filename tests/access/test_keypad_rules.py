"""Keypad code rules: a code is wanted on the lock only inside a visit (with a short lead), never after revoke or
expiry, on the household's wall clock across daylight-saving changes; each sync step waits for the lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threshold.access.keypad_rules import (
    BACKOFF_CAP,
    LEAD,
    MAX_ATTEMPTS,
    CodeView,
    GrantWindow,
    LockView,
    backoff,
    guessable,
    pin_problem,
    step,
    wanted,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2025, 3, 24, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin (winter time)
END = datetime(2025, 4, 20, 22, 0, tzinfo=UTC)  # midnight at home, 21 April
# Every day 09:00-10:00 in Berlin until 21 April (the last Sunday of March moves Berlin to summer time).
DAILY = GrantWindow(T0, END, False, "FREQ=DAILY", 60, "Europe/Berlin")
ONCE = GrantWindow(datetime(2025, 6, 1, 12, tzinfo=UTC), datetime(2025, 6, 1, 18, tzinfo=UTC), False)
ONLINE = LockView(True, True, None)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC time in late March 2025."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def test_a_recurring_code_is_wanted_only_inside_visits_and_from_the_lead_before() -> None:
    # 24 March, winter time: 09:00 in Berlin is 08:00 UTC.
    assert wanted(DAILY, at(24, 8, 30)) == "present"
    assert wanted(DAILY, at(24, 7, 50)) == "present"  # ten minutes early: inside the lead
    assert wanted(DAILY, at(24, 7, 40)) == "absent"  # twenty minutes early
    assert wanted(DAILY, at(24, 9, 0)) == "absent"  # the visit ended at 10:00
    assert wanted(DAILY, at(24, 15, 0)) == "absent"


def test_the_visit_follows_the_households_clock_across_the_dst_change() -> None:
    # Sunday 30 March Berlin moves to UTC+2: 09:00 at home is 07:00 UTC from then on.
    assert wanted(DAILY, at(29, 8, 30)) == "present"  # Saturday, still UTC+1
    assert wanted(DAILY, at(29, 7, 30)) == "absent"
    assert wanted(DAILY, at(30, 7, 30)) == "present"  # Sunday 09:30 at home
    assert wanted(DAILY, at(30, 8, 30)) == "absent"  # Sunday 10:30 at home, although 08:30 UTC was a visit
    assert wanted(DAILY, at(30, 6, 50)) == "present"  # 08:50 at home: the lead before the visit


def test_a_code_is_never_wanted_after_revoke_or_expiry() -> None:
    inside = at(25, 8, 15)
    assert wanted(DAILY, inside) == "present"
    revoked = GrantWindow(DAILY.starts_at, DAILY.ends_at, True, DAILY.rrule, 60, "Europe/Berlin")
    assert wanted(revoked, inside) == "absent"
    # 21 April would be a visit if the grant had not ended on 21 April 00:00.
    assert wanted(DAILY, datetime(2025, 4, 21, 7, 30, tzinfo=UTC)) == "absent"
    assert wanted(ONCE, ONCE.ends_at + timedelta(seconds=1)) == "absent"
    not_allowed = GrantWindow(ONCE.starts_at, ONCE.ends_at, False, entry_allowed=False)
    assert wanted(not_allowed, ONCE.starts_at + timedelta(hours=1)) == "absent"


def test_a_one_time_window_is_wanted_from_the_lead_to_its_end() -> None:
    assert wanted(ONCE, ONCE.starts_at - LEAD - timedelta(seconds=1)) == "absent"
    assert wanted(ONCE, ONCE.starts_at - LEAD) == "present"
    assert wanted(ONCE, ONCE.ends_at) == "present"


@given(st.integers(min_value=-60, max_value=29 * 24 * 60))
def test_a_code_is_wanted_exactly_from_the_lead_before_a_visit_to_its_end(minutes: int) -> None:
    now = T0 + timedelta(minutes=minutes)
    local = now.astimezone(BERLIN)
    at_home = local.hour * 60 + local.minute
    in_visit = 9 * 60 - LEAD.total_seconds() / 60 <= at_home < 10 * 60
    assert (wanted(DAILY, now) == "present") == (in_visit and T0 - LEAD <= now <= END)


def code(desired: str, state: str, attempts: int = 0, since: datetime = T0) -> CodeView:
    """A stored code as the step sees it."""
    return CodeView(desired, state, attempts, since)


def test_a_code_is_set_then_waits_for_the_lock_and_is_confirmed_only_by_the_lock() -> None:
    first = step(code("present", "pending"), ONLINE, T0)
    assert (first.sync_state, first.send, first.attempts) == ("setting", "set", 1)
    waiting = step(code("present", "setting", 1, T0), ONLINE, T0 + timedelta(seconds=2))
    assert (waiting.sync_state, waiting.send, waiting.audit) == ("setting", None, None)
    done = step(code("present", "setting", 1, T0), LockView(True, True, "enabled"), T0 + timedelta(seconds=2))
    assert (done.sync_state, done.audit, done.synced, done.attempts) == ("on_lock", "keypad.on_lock", True, 0)


def test_an_unconfirmed_change_is_retried_with_backoff_then_fails_with_the_detail() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 80, 160]
    retry = step(code("present", "setting", 2, T0), ONLINE, T0 + backoff(2))
    assert (retry.send, retry.attempts, retry.touched) == ("set", 3, True)
    assert step(code("present", "setting", 2, T0), ONLINE, T0 + backoff(2) - timedelta(seconds=1)).send is None
    failed = step(code("present", "setting", MAX_ATTEMPTS, T0), ONLINE, T0 + backoff(MAX_ATTEMPTS))
    assert (failed.sync_state, failed.audit, failed.send) == ("failed", "keypad.failed", None)
    assert failed.detail and str(MAX_ATTEMPTS) in failed.detail
    assert step(code("present", "failed", MAX_ATTEMPTS, T0), ONLINE, T0 + timedelta(hours=1)).send is None


def test_an_offline_lock_spends_no_tries_and_keeps_the_code_waiting() -> None:
    offline = LockView(True, False, None)
    assert step(code("present", "pending"), offline, T0).sync_state == "pending"
    later = step(code("present", "setting", 1, T0), offline, T0 + timedelta(hours=2))
    assert (later.sync_state, later.attempts, later.send) == ("setting", 1, None)
    back = step(code("present", "setting", 1, T0), ONLINE, T0 + timedelta(hours=2))
    assert (back.send, back.attempts) == ("set", 2)


def test_a_code_no_longer_wanted_is_cleared_and_confirmed_gone() -> None:
    clear = step(code("absent", "on_lock"), ONLINE, T0)
    assert (clear.sync_state, clear.send) == ("clearing", "clear")
    gone = step(code("removed", "clearing", 1, T0), LockView(True, True, "available"), T0)
    assert (gone.sync_state, gone.audit) == ("cleared", "keypad.cleared")
    # Never sent: nothing to clear, nothing to audit.
    assert step(code("removed", "pending"), ONLINE, T0) == step(code("removed", "pending"), ONLINE, T0)
    assert step(code("removed", "pending"), ONLINE, T0).send is None


def test_a_code_that_failed_is_still_cleared_at_the_end_without_a_new_failure_each_round() -> None:
    first = step(code("absent", "failed", 5, T0), ONLINE, T0 + timedelta(hours=1))
    assert (first.sync_state, first.send, first.audit) == ("failed", "clear", None)
    assert step(code("absent", "failed", 6, T0), ONLINE, T0 + BACKOFF_CAP - timedelta(seconds=1)).send is None
    gone = step(code("absent", "failed", 6, T0), LockView(True, True, "available"), T0 + timedelta(seconds=1))
    assert gone.sync_state == "cleared"


def test_a_lock_that_lost_the_code_gets_it_again_and_a_lock_without_keypad_is_unsupported() -> None:
    lost = step(code("present", "on_lock"), LockView(True, True, "available"), T0)
    assert (lost.sync_state, lost.send) == ("setting", "set")
    no_keypad = step(code("present", "pending"), LockView(False, True, None), T0)
    assert (no_keypad.sync_state, no_keypad.audit, no_keypad.send) == ("unsupported", "keypad.unsupported", None)
    assert step(code("present", "unsupported"), LockView(False, True, None), T0).audit is None


@pytest.mark.parametrize("pin", ["0000", "1111", "1234", "123456", "4321", "987654", "1212", "121212", "123123",
                                 "6969", "1221", "7890", "98765432"])
def test_trivially_guessable_pins_are_refused(pin: str) -> None:
    assert guessable(pin)
    assert pin_problem(pin) is not None and "too easy" in (pin_problem(pin) or "")


@pytest.mark.parametrize(("pin", "why"), [("12a4", "digits only"), ("123", "4 to 8"), ("123456789", "4 to 8"),
                                          ("", "digits only"), ("\uff11\uff12\uff13\uff17", "digits only")])
def test_a_pin_must_be_4_to_8_plain_digits(pin: str, why: str) -> None:
    assert why in (pin_problem(pin) or "").lower().replace("use ", "")


@pytest.mark.parametrize("pin", ["2749", "508316", "80417263"])
def test_ordinary_pins_are_accepted(pin: str) -> None:
    assert pin_problem(pin) is None
