"""Guest schedules as people write and read them (pure): the portal form's fields -> a guest grant (one-time, or
weekdays + times + dates -> an RRULE), and a grant -> words ("Tuesdays and Thursdays, 10:00-11:00, until 31 Dec"),
its next visits and a month calendar. Times are wall-clock times in the home's time zone."""

from __future__ import annotations

import calendar
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from threshold.access.schedule import next_occurrences
from threshold.access.schemas import GuestGrantIn
from threshold.inputs import day_in_range, is_line

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
# A schedule is set up for weeks or months, not forever: a household reviews it at least every two years.
LONGEST = timedelta(days=731)
# The calendar and the lists look this far ahead.
AHEAD = timedelta(days=62)
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(:[0-5]\d(\.\d+)?)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class GuestForm:
    """The guest form's fields as typed (strings), so that a refused form comes back as it was sent."""

    name: str = ""
    entry_point: str = ""
    mode: str = "repeat"
    once_date: str = ""
    once_from: str = ""
    once_to: str = ""
    days: tuple[str, ...] = ()
    repeat_from: str = ""
    repeat_to: str = ""
    starting: str = ""
    until: str = ""
    # "on" when a one-time guest may come in more than once during their time (a checkbox).
    several: str = ""

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> GuestForm:
        """The form from a request's (name, value) pairs; unknown names are ignored."""
        single: dict[str, str] = {}
        days: list[str] = []
        for key, value in pairs:
            if key == "days":
                days.append(value[:4])
            elif key in _FIELDS:
                single[key] = value[:400]
        return cls(days=tuple(days), **single)


_FIELDS = frozenset(GuestForm.__dataclass_fields__) - {"days"}


@dataclass(frozen=True, slots=True)
class Schedule:
    """A guest's access as a grant stores it: UTC bounds, an optional weekly RRULE and its visit length."""

    starts_at: datetime
    ends_at: datetime
    rrule: str | None
    duration_minutes: int | None
    timezone: str


@dataclass(frozen=True, slots=True)
class Visit:
    """One stretch of time the guest may come in, in the home's time zone."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """A day in a month calendar, with the start times of its visits."""

    day: date
    visits: tuple[str, ...]
    today: bool


@dataclass(frozen=True, slots=True)
class Month:
    """A month as weeks of seven days (None outside the month), Monday first."""

    title: str
    weeks: tuple[tuple[CalendarDay | None, ...], ...]


class Invalid(Exception):
    """Field -> message for everything wrong with the form; nothing may be saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def _time(raw: str, field: str, errors: dict[str, str]) -> time | None:
    match = _TIME.match(raw.strip())
    if not raw.strip():
        errors[field] = "Give a time, such as 10:00."
    elif match is None:
        errors[field] = "Give a time as hours and minutes, such as 10:00."
    else:
        return time(int(match.group(1)), int(match.group(2)))
    return None


def _date(raw: str, field: str, errors: dict[str, str]) -> date | None:
    if not raw.strip():
        errors[field] = "Choose a date."
        return None
    try:
        if not _DATE.match(raw.strip()):
            raise ValueError(raw)
        day = date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = "Give a date such as 2025-12-01."
        return None
    try:
        # Far days overflow once converted to UTC; none of them is a visit anyone plans.
        return day_in_range(day)
    except ValueError:
        errors[field] = "Choose a date before 2101."
    return None


def _local(day: date, at: time, zone: ZoneInfo, field: str, errors: dict[str, str]) -> datetime:
    """A wall-clock time in the home's zone, as UTC; a time the clocks skip that day is an error."""
    wall = datetime.combine(day, at)
    aware = wall.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        errors[field] = "The clocks change at this time that day: choose another time."
    return aware.astimezone(UTC)


def _minutes(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def to_schedule(form: GuestForm, tz: str, now: datetime) -> Schedule:
    """The schedule the form describes, or Invalid with a message per field (the chosen mode's fields only)."""
    zone, errors = ZoneInfo(tz), dict[str, str]()
    today = now.astimezone(zone).date()
    if form.mode == "once":
        day = _date(form.once_date, "once_date", errors)
        start, end = _time(form.once_from, "once_from", errors), _time(form.once_to, "once_to", errors)
        if day is not None and day < today:
            errors["once_date"] = "Choose today or a later date."
        if start and end and _minutes(start, end) <= 0:
            errors["once_to"] = "The end must be after the start."
        if errors or day is None or start is None or end is None:
            raise Invalid(errors)
        starts_at, ends_at = _local(day, start, zone, "once_from", errors), _local(day, end, zone, "once_to", errors)
        if ends_at <= now and "once_to" not in errors:
            errors["once_to"] = "This time has already passed today."
        if errors:
            raise Invalid(errors)
        return Schedule(starts_at, ends_at, None, None, tz)
    if form.mode != "repeat":
        raise Invalid({"mode": "Choose once or repeating."})
    days = [d for d in DAYS if d in form.days]
    if not days or len(days) != len(set(form.days)):
        errors["days"] = "Choose at least one weekday." if not form.days else "Choose weekdays from the list."
    start, end = _time(form.repeat_from, "repeat_from", errors), _time(form.repeat_to, "repeat_to", errors)
    if start and end and _minutes(start, end) <= 0:
        errors["repeat_to"] = "The end must be after the start."
    first, last = _date(form.starting, "starting", errors), _date(form.until, "until", errors)
    if first is not None and first < today:
        errors["starting"] = "The starting date cannot be in the past."
    if first is not None and last is not None and "starting" not in errors:
        if last <= first:
            errors["until"] = "The until date must be after the starting date."
        elif last - first > LONGEST:
            errors["until"] = "Choose an until date within two years of the start."
    if errors or start is None or end is None or first is None or last is None:
        raise Invalid(errors)
    rule = f"FREQ=WEEKLY;BYDAY={','.join(days)};BYHOUR={start.hour};BYMINUTE={start.minute};BYSECOND=0"
    schedule = Schedule(_local(first, start, zone, "repeat_from", errors), _local(last, end, zone, "repeat_to", errors),
                        rule, _minutes(start, end), tz)
    if not errors and not visits(schedule, now, 1, within=LONGEST):
        errors["days"] = "None of these weekdays has a visit left between the starting and until dates."
    if errors:
        raise Invalid(errors)
    return schedule


def to_grant(form: GuestForm, entry_points: Collection[str], tz: str, now: datetime) -> GuestGrantIn:
    """The guest grant the whole form asks for; Invalid names every wrong field at once."""
    errors: dict[str, str] = {}
    name = form.name.strip()
    if not name:
        errors["name"] = "Give the guest's name."
    elif len(name) > 200:
        errors["name"] = "Use at most 200 characters."
    elif not is_line(name):
        errors["name"] = "Use letters, digits and punctuation only."
    if form.entry_point not in entry_points:
        errors["entry_point"] = "Choose an entry point of this home."
    try:
        schedule = to_schedule(form, tz, now)
    except Invalid as exc:
        errors.update(exc.errors)
    if errors:
        raise Invalid(errors)
    return GuestGrantIn(guest_name=name, entry_point_id=uuid.UUID(form.entry_point), starts_at=schedule.starts_at,
                        ends_at=schedule.ends_at, rrule=schedule.rrule, duration_minutes=schedule.duration_minutes,
                        timezone=tz, several_entries=form.mode == "once" and form.several == "on")


def visits(s: Schedule, now: datetime, count: int = 5, within: timedelta = AHEAD) -> list[Visit]:
    """The visits not over yet at `now` (the one under way first), up to `count`, starting within `within`."""
    zone = ZoneInfo(s.timezone)
    horizon = now + within
    if s.rrule is None:
        if s.ends_at <= now or s.starts_at > horizon:
            return []
        return [Visit(s.starts_at.astimezone(zone), s.ends_at.astimezone(zone))]
    length = timedelta(minutes=s.duration_minutes or 0)
    found: list[Visit] = []
    # From one visit length back, so that a visit under way is listed too.
    for start in next_occurrences(s.rrule, s.starts_at, s.timezone, now - length, count + 1, s.ends_at):
        wall = start.astimezone(zone).replace(tzinfo=None)
        # The length is wall-clock time, as the access rules count it: 10:00-11:00 stays so on a DST day.
        visit = Visit(wall.replace(tzinfo=zone), (wall + length).replace(tzinfo=zone))
        if visit.end > now and start < s.ends_at and start <= horizon and len(found) < count:
            found.append(visit)
    return found


def _plural_days(days: Sequence[str]) -> str:
    if list(days) == list(DAYS):
        return "Every day"
    if list(days) == list(DAYS[:5]):
        return "Weekdays"
    names = [DAY_NAMES[DAYS.index(d)] + "s" for d in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def day_words(day: date, today: date | None = None) -> str:
    """A date as people say it: '31 Dec', with the year when it is not this year's."""
    words = f"{day.day} {MONTHS[day.month - 1][:3]}"
    return words if today is not None and day.year == today.year else f"{words} {day.year}"


def clock(at: datetime) -> str:
    """A time of day, 24-hour."""
    return at.strftime("%H:%M")


def visit_words(v: Visit, today: date | None = None) -> str:
    """One visit: 'Tue 1 Dec 10:00-11:00'."""
    start = f"{DAY_NAMES[v.start.weekday()][:3]} {day_words(v.start.date(), today)} {clock(v.start)}"
    if v.end.date() == v.start.date():
        return f"{start}-{clock(v.end)}"
    return f"{start} - {DAY_NAMES[v.end.weekday()][:3]} {day_words(v.end.date(), today)} {clock(v.end)}"


def _rule_parts(rule: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in rule.upper().removeprefix("RRULE:").split(";") if "=" in p)


def describe(s: Schedule, now: datetime) -> str:
    """The schedule in words: 'Tuesdays and Thursdays, 10:00-11:00, until 31 Dec' or 'Once: Tue 1 Dec 10:00-11:00'."""
    zone = ZoneInfo(s.timezone)
    today = now.astimezone(zone).date()
    first, last = s.starts_at.astimezone(zone), s.ends_at.astimezone(zone)
    if s.rrule is None:
        return "Once: " + visit_words(Visit(first, last), today)
    since = f" from {day_words(first.date(), today)}" if first.date() > today else ""
    bounds = f"{since} until {day_words(last.date(), today)}"
    parts = _rule_parts(s.rrule)
    days = parts.get("BYDAY", DAYS[first.weekday()]).split(",")
    weekly = parts.get("FREQ") in ("WEEKLY", "DAILY") and parts.get("INTERVAL", "1") == "1" and set(parts) <= {
        "FREQ", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND", "INTERVAL", "WKST"} and all(d in DAYS for d in days)
    try:
        hour, minute = int(parts.get("BYHOUR", first.hour)), int(parts.get("BYMINUTE", first.minute))
    except ValueError:
        weekly = False
    if not weekly:
        return f"A repeating schedule, {s.duration_minutes or 0} minutes each time,{bounds}"
    if parts["FREQ"] == "DAILY" and "BYDAY" not in parts:
        days = list(DAYS)
    start = datetime.combine(today, time(hour, minute))
    end = start + timedelta(minutes=s.duration_minutes or 0)
    return f"{_plural_days([d for d in DAYS if d in days])}, {clock(start)}-{clock(end)},{bounds}"


def month_calendar(found: Sequence[Visit], today: date, months: int = 2) -> list[Month]:
    """Month tables from the first visit's month to the last's (at most `months`), visit days marked."""
    if not found:
        return []
    by_day: dict[date, list[str]] = {}
    for v in found:
        by_day.setdefault(v.start.date(), []).append(clock(v.start))
    year, month = found[0].start.year, found[0].start.month
    end = (found[-1].start.year, found[-1].start.month)
    shown: list[Month] = []
    for _ in range(months):
        weeks = tuple(tuple(CalendarDay(d, tuple(by_day.get(d, ())), d == today) if d.month == month else None
                            for d in week)
                      for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month))
        shown.append(Month(f"{MONTHS[month - 1]} {year}", weeks))
        if (year, month) >= end:
            break
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return shown
