"""Guest schedules: recurrence rules keep their wall-clock time in the household's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from threshold.access.schedule import next_occurrences, parse_rrule, within_schedule

BERLIN = "Europe/Berlin"
# Monday 17 March 2025, 09:00 in Berlin (CET, UTC+1). Clocks go forward on Sunday 30 March.
BERLIN_START = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)
WEEKLY = "FREQ=WEEKLY"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def in_berlin_schedule(now: datetime) -> bool:
    return within_schedule(WEEKLY, BERLIN_START, 120, BERLIN, now)


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        # Before the change: 09:00-11:00 CET is 08:00-10:00 UTC.
        (utc(2025, 3, 24, 7, 59), False),
        (utc(2025, 3, 24, 8, 0), True),
        (utc(2025, 3, 24, 9, 59), True),
        (utc(2025, 3, 24, 10, 0), False),
        # After the change: 09:00-11:00 CEST is 07:00-09:00 UTC.
        (utc(2025, 3, 31, 6, 59), False),
        (utc(2025, 3, 31, 7, 0), True),
        (utc(2025, 3, 31, 8, 59), True),
        (utc(2025, 3, 31, 9, 0), False),
        (utc(2025, 3, 31, 9, 30), False),
    ],
)
def test_weekly_schedule_stays_at_nine_local_across_the_spring_clock_change(now: datetime, inside: bool) -> None:
    assert in_berlin_schedule(now) is inside


def test_weekly_schedule_stays_at_nine_local_across_the_autumn_clock_change() -> None:
    # Clocks go back on Sunday 26 October 2025: 09:00 CEST is 07:00 UTC, 09:00 CET is 08:00 UTC.
    assert in_berlin_schedule(utc(2025, 10, 20, 7, 0))
    assert not in_berlin_schedule(utc(2025, 10, 20, 9, 0))
    assert not in_berlin_schedule(utc(2025, 10, 27, 7, 30))
    assert in_berlin_schedule(utc(2025, 10, 27, 8, 0))
    assert in_berlin_schedule(utc(2025, 10, 27, 9, 59))
    assert not in_berlin_schedule(utc(2025, 10, 27, 10, 0))


def test_next_occurrences_keep_the_local_start_time_and_shift_in_utc() -> None:
    starts = next_occurrences(WEEKLY, BERLIN_START, BERLIN, after=BERLIN_START, count=3)
    assert starts == [utc(2025, 3, 24, 8, 0), utc(2025, 3, 31, 7, 0), utc(2025, 4, 7, 7, 0)]
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in starts)
    assert {s.astimezone(ZoneInfo(BERLIN)).hour for s in starts} == {9}


def test_next_occurrences_stop_when_the_rule_runs_out() -> None:
    starts = next_occurrences("FREQ=DAILY;COUNT=3", BERLIN_START, BERLIN, after=BERLIN_START - timedelta(days=1))
    assert starts == [utc(2025, 3, 17, 8, 0), utc(2025, 3, 18, 8, 0), utc(2025, 3, 19, 8, 0)]


def test_next_occurrences_are_strictly_after_the_given_instant() -> None:
    starts = next_occurrences(WEEKLY, BERLIN_START, BERLIN, after=utc(2025, 3, 24, 8, 0), count=1)
    assert starts == [utc(2025, 3, 31, 7, 0)]


def test_schedule_on_chosen_weekdays_admits_only_those_days() -> None:
    rule = "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    start = utc(2025, 6, 2, 16, 0)  # Monday 12:00 in New York (EDT, UTC-4)
    tz = "America/New_York"
    assert within_schedule(rule, start, 60, tz, utc(2025, 6, 4, 16, 30))  # Wednesday
    assert not within_schedule(rule, start, 60, tz, utc(2025, 6, 5, 16, 30))  # Thursday
    assert within_schedule(rule, start, 60, tz, utc(2025, 6, 6, 16, 59))  # Friday
    assert not within_schedule(rule, start, 60, tz, utc(2025, 6, 6, 17, 0))


def test_schedule_is_judged_by_the_local_day_not_the_utc_day() -> None:
    # Every Monday 20:00-22:00 in New York is Tuesday 00:00-02:00 UTC in summer.
    start = utc(2025, 6, 3, 0, 0)
    assert within_schedule("FREQ=WEEKLY;BYDAY=MO", start, 120, "America/New_York", utc(2025, 6, 10, 1, 0))
    assert not within_schedule("FREQ=WEEKLY;BYDAY=TU", start, 120, "America/New_York", utc(2025, 6, 10, 1, 0))


def test_nobody_is_inside_a_schedule_before_it_starts() -> None:
    assert not within_schedule(WEEKLY, BERLIN_START, 120, BERLIN, BERLIN_START - timedelta(weeks=1))
    assert not within_schedule(WEEKLY, BERLIN_START, 120, BERLIN, BERLIN_START - timedelta(seconds=1))


def test_schedule_with_a_count_ends_after_its_last_occurrence() -> None:
    rule = "FREQ=WEEKLY;COUNT=2"
    assert within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 3, 24, 9, 0))
    assert not within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 3, 31, 7, 30))


def test_schedule_with_a_local_until_ends_on_that_day() -> None:
    rule = "FREQ=WEEKLY;UNTIL=20250331T235959"
    assert within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 3, 31, 7, 30))
    assert not within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 4, 7, 7, 30))


def test_schedule_with_a_utc_until_as_rfc_5545_requires_is_accepted() -> None:
    rule = "FREQ=WEEKLY;UNTIL=20250331T215959Z"
    parse_rrule(rule, BERLIN_START, BERLIN)
    assert within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 3, 31, 7, 30))
    assert not within_schedule(rule, BERLIN_START, 120, BERLIN, utc(2025, 4, 7, 7, 30))


def test_zero_length_schedule_admits_nobody() -> None:
    assert not within_schedule(WEEKLY, BERLIN_START, 0, BERLIN, BERLIN_START)


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY", "FREQ=DAILY;INTERVAL=2;COUNT=10", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1"])
def test_valid_rule_is_accepted(rule: str) -> None:
    parse_rrule(rule, BERLIN_START, BERLIN)


@pytest.mark.parametrize("rule", ["", "FREQ=SOMETIMES", "FREQ=WEEKLY;BYDAY=XX", "not a rule", "FREQ=DAILY;COUNT=x"])
def test_invalid_rule_is_refused_with_a_value_error(rule: str) -> None:
    with pytest.raises(ValueError, match="invalid RRULE"):
        parse_rrule(rule, BERLIN_START, BERLIN)
