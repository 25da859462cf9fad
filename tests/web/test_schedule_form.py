"""The guest form's schedule (pure): fields -> a grant with a weekly RRULE, the grant -> words, visits that keep
their wall-clock time across daylight-saving changes, a month calendar, and a message for every wrong field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from threshold.access.schedule import within_schedule
from threshold.web.schedule_form import (
    GuestForm,
    Invalid,
    Schedule,
    describe,
    month_calendar,
    to_grant,
    to_schedule,
    visit_words,
    visits,
)

LONDON = "Europe/London"
# Monday 20 October 2025, 09:00 in London (BST, UTC+1). The clocks go back on Sunday 26 October.
NOW = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)
DOOR = str(uuid.uuid4())


def form(**changes: Any) -> GuestForm:
    """A valid repeating form: Tuesdays and Thursdays 10:00-11:00 from 20 Oct to 30 Nov 2025."""
    values: dict[str, Any] = dict(name="Pet sitter", entry_point=DOOR, mode="repeat", days=("TU", "TH"),
                                  repeat_from="10:00", repeat_to="11:00", starting="2025-10-20", until="2025-11-30")
    values.update(changes)
    return GuestForm(**values)


def errors_of(f: GuestForm, now: datetime = NOW, tz: str = LONDON) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        to_grant(f, {DOOR}, tz, now)
    return caught.value.errors


def test_weekdays_and_times_become_a_weekly_rrule_bounded_by_the_dates() -> None:
    grant = to_grant(form(days=("TH", "TU")), {DOOR}, LONDON, NOW)
    assert grant.rrule == "FREQ=WEEKLY;BYDAY=TU,TH;BYHOUR=10;BYMINUTE=0;BYSECOND=0"
    assert grant.duration_minutes == 60 and grant.timezone == LONDON and grant.guest_name == "Pet sitter"
    assert grant.starts_at == datetime(2025, 10, 20, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert grant.ends_at == datetime(2025, 11, 30, 11, 0, tzinfo=UTC)  # 11:00 GMT on the last day
    assert str(grant.entry_point_id) == DOOR


def test_one_time_access_is_a_start_and_an_end_without_a_rule() -> None:
    grant = to_grant(form(mode="once", once_date="2025-10-27", once_from="09:30", once_to="12:15"), {DOOR}, LONDON,
                     NOW)
    assert grant.rrule is None and grant.duration_minutes is None
    assert (grant.starts_at, grant.ends_at) == (datetime(2025, 10, 27, 9, 30, tzinfo=UTC),
                                                datetime(2025, 10, 27, 12, 15, tzinfo=UTC))
    schedule = to_schedule(form(mode="once", once_date="2025-10-27", once_from="09:30", once_to="12:15"), LONDON,
                           NOW)
    assert describe(schedule, NOW) == "Once: Mon 27 Oct 09:30-12:15"


def test_visits_keep_their_wall_clock_time_when_the_clocks_go_back() -> None:
    schedule = to_schedule(form(), LONDON, NOW)
    found = visits(schedule, NOW, 4)
    assert [visit_words(v, NOW.date()) for v in found] == [
        "Tue 21 Oct 10:00-11:00", "Thu 23 Oct 10:00-11:00", "Tue 28 Oct 10:00-11:00", "Thu 30 Oct 10:00-11:00"]
    # 10:00 BST is 09:00 UTC; after 26 October 10:00 GMT is 10:00 UTC.
    assert [v.start.astimezone(UTC).hour for v in found] == [9, 9, 10, 10]
    # The access rules agree with the visits shown: inside at 10:30 local on both sides of the change.
    assert grant_allows(schedule, datetime(2025, 10, 21, 9, 30, tzinfo=UTC))
    assert grant_allows(schedule, datetime(2025, 10, 28, 10, 30, tzinfo=UTC))
    assert not grant_allows(schedule, datetime(2025, 10, 28, 9, 30, tzinfo=UTC))  # 09:30 GMT: too early


def grant_allows(s: Schedule, now: datetime) -> bool:
    """What the access service's schedule check says at `now`."""
    assert s.rrule and s.duration_minutes
    return s.starts_at <= now <= s.ends_at and within_schedule(s.rrule, s.starts_at, s.duration_minutes,
                                                               s.timezone, now, s.ends_at)


def test_a_visit_under_way_is_listed_first_and_the_last_day_is_included() -> None:
    schedule = to_schedule(form(), LONDON, NOW)
    during = datetime(2025, 10, 21, 9, 45, tzinfo=UTC)  # 10:45 BST on a Tuesday
    assert visit_words(visits(schedule, during, 1)[0], during.date()) == "Tue 21 Oct 10:00-11:00"
    late = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)
    assert [visit_words(v, late.date()) for v in visits(schedule, late)] == ["Thu 27 Nov 10:00-11:00"]
    last_day = to_schedule(form(until="2025-10-23"), LONDON, NOW)
    assert [v.start.day for v in visits(last_day, NOW)] == [21, 23]


@pytest.mark.parametrize(("days", "words"), [
    (("TU", "TH"), "Tuesdays and Thursdays, 10:00-11:00, until 30 Nov"),
    (("TU",), "Tuesdays, 10:00-11:00, until 30 Nov"),
    (("MO", "WE", "FR"), "Mondays, Wednesdays and Fridays, 10:00-11:00, until 30 Nov"),
    (("MO", "TU", "WE", "TH", "FR"), "Weekdays, 10:00-11:00, until 30 Nov"),
    (("MO", "TU", "WE", "TH", "FR", "SA", "SU"), "Every day, 10:00-11:00, until 30 Nov"),
])
def test_the_schedule_reads_as_words(days: tuple[str, ...], words: str) -> None:
    assert describe(to_schedule(form(days=days), LONDON, NOW), NOW) == words


def test_words_say_when_a_schedule_starts_later_or_ends_another_year() -> None:
    later = to_schedule(form(starting="2025-11-03", until="2026-01-31"), LONDON, NOW)
    assert describe(later, NOW) == "Tuesdays and Thursdays, 10:00-11:00, from 3 Nov until 31 Jan 2026"
    custom = Schedule(NOW, datetime(2025, 12, 31, tzinfo=UTC), "FREQ=MONTHLY;BYMONTHDAY=1", 90, LONDON)
    assert describe(custom, NOW) == "A repeating schedule, 90 minutes each time, until 31 Dec"


def test_the_month_calendar_marks_visit_days_with_their_start_time() -> None:
    schedule = to_schedule(form(), LONDON, NOW)
    months = month_calendar(visits(schedule, NOW, 40), date(2025, 10, 20))
    assert [m.title for m in months] == ["October 2025", "November 2025"]
    october = [d for week in months[0].weeks for d in week if d is not None]
    assert len(october) == 31 and months[0].weeks[0][:2] == (None, None)  # 1 October 2025 is a Wednesday
    marked = {d.day.day: d.visits for d in october if d.visits}
    assert marked == {21: ("10:00",), 23: ("10:00",), 28: ("10:00",), 30: ("10:00",)}
    assert [d.day.day for d in october if d.today] == [20]
    assert month_calendar([], date(2025, 10, 20)) == []


@pytest.mark.parametrize(("changes", "field", "message"), [
    (dict(name="  "), "name", "Give the guest's name."),
    (dict(entry_point=str(uuid.uuid4())), "entry_point", "Choose an entry point of this home."),
    (dict(days=()), "days", "Choose at least one weekday."),
    (dict(days=("TU", "XX")), "days", "Choose weekdays from the list."),
    (dict(repeat_from="ten"), "repeat_from", "Give a time as hours and minutes, such as 10:00."),
    (dict(repeat_to=""), "repeat_to", "Give a time, such as 10:00."),
    (dict(repeat_to="09:00"), "repeat_to", "The end must be after the start."),
    (dict(starting="2025-10-19"), "starting", "The starting date cannot be in the past."),
    (dict(starting="20/10/2025"), "starting", "Give a date such as 2025-12-01."),
    (dict(until="2025-10-20"), "until", "The until date must be after the starting date."),
    (dict(until="2028-01-01"), "until", "Choose an until date within two years of the start."),
    (dict(days=("SA",), until="2025-10-24"), "days",
     "None of these weekdays has a visit left between the starting and until dates."),
    (dict(mode="sometimes"), "mode", "Choose once or repeating."),
    (dict(mode="once", once_date="2025-10-19", once_from="10:00", once_to="11:00"), "once_date",
     "Choose today or a later date."),
    (dict(mode="once", once_date="2025-10-20", once_from="07:00", once_to="08:30"), "once_to",
     "This time has already passed today."),
    (dict(mode="once", once_date="2026-03-29", once_from="01:30", once_to="03:00"), "once_from",
     "The clocks change at this time that day: choose another time."),
])
def test_each_wrong_field_gets_its_own_message(changes: dict[str, Any], field: str, message: str) -> None:
    assert errors_of(form(**changes))[field] == message


def test_every_wrong_field_is_reported_at_once() -> None:
    found = errors_of(form(name="", days=(), repeat_from="", until=""))
    assert set(found) == {"name", "days", "repeat_from", "until"}


def test_the_form_is_read_from_request_pairs_and_ignores_unknown_names() -> None:
    f = GuestForm.from_pairs([("csrf", "x"), ("name", "Ann"), ("days", "MO"), ("days", "FR"), ("evil", "1"),
                              ("mode", "repeat")])
    assert (f.name, f.days, f.mode) == ("Ann", ("MO", "FR"), "repeat")


def test_times_are_in_the_homes_zone() -> None:
    berlin = to_grant(form(), {DOOR}, "Europe/Berlin", NOW)
    assert berlin.starts_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 10
    assert berlin.starts_at == datetime(2025, 10, 20, 8, 0, tzinfo=UTC)
