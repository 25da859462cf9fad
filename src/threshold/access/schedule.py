"""Guest schedules: RFC 5545 recurrence rules expanded in the household's time zone (pure)."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

# No schedule is expanded past this horizon: a rule that never occurs must not scan to the year 9999.
HORIZON = timedelta(days=3660)

_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _local_rule(rule: str, zone: ZoneInfo) -> str:
    """RFC 5545 writes UNTIL in UTC when DTSTART has a zone; we expand on local wall time, so convert it."""

    def to_local(match: re.Match[str]) -> str:
        until = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + until.astimezone(zone).strftime("%Y%m%dT%H%M%S")

    return _UNTIL_UTC.sub(to_local, rule)


def _expand(rule: str, dtstart: datetime, zone: ZoneInfo, ends_at: datetime | None) -> rrule:
    """The rule on local wall time, bounded by the grant's end and the horizon."""
    local_start = dtstart.astimezone(zone).replace(tzinfo=None)
    bound = local_start + HORIZON
    if ends_at is not None:
        bound = min(bound, ends_at.astimezone(zone).replace(tzinfo=None))
    parsed = rrulestr(_local_rule(rule, zone), dtstart=local_start)
    if not isinstance(parsed, rrule):
        raise ValueError("one RRULE expected")
    own = getattr(parsed, "_until", None)
    with warnings.catch_warnings():
        # COUNT with a bounding UNTIL is what we want here: whichever ends first.
        warnings.simplefilter("ignore", DeprecationWarning)
        return parsed.replace(until=min(own, bound) if own else bound)


_RANGES = {"BYMONTH": (1, 12, False), "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True),
           "BYWEEKNO": (1, 53, True), "BYHOUR": (0, 23, False), "BYMINUTE": (0, 59, False),
           "BYSECOND": (0, 59, False), "BYSETPOS": (1, 366, True)}
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _check_parts(rule: str) -> None:
    """Reject BY* values no calendar can meet; dateutil would search to the year 9999 for them."""
    parts = dict(p.split("=", 1) for p in rule.upper().removeprefix("RRULE:").split(";") if "=" in p)
    values: dict[str, list[int]] = {}
    for key, (low, high, signed) in _RANGES.items():
        if key not in parts:
            continue
        try:
            nums = [int(v) for v in parts[key].split(",")]
        except ValueError as exc:
            raise ValueError(f"{key} must be whole numbers") from exc
        for n in nums:
            if not (low <= abs(n) <= high if signed else low <= n <= high) or (signed and n == 0):
                raise ValueError(f"{key}={n} is out of range")
        values[key] = nums
    months, days = values.get("BYMONTH"), values.get("BYMONTHDAY")
    if months and days and not any(abs(d) <= _MONTH_DAYS[m] for m in months for d in days):
        raise ValueError("BYMONTHDAY never falls in BYMONTH")


def parse_rrule(rule: str, dtstart: datetime, tz: str, ends_at: datetime | None = None) -> None:
    """Raise ValueError when `rule` is not a valid RRULE, or never occurs before `ends_at`."""
    zone = ZoneInfo(tz)
    try:
        _check_parts(rule)
        expanded = _expand(rule, dtstart, zone, ends_at)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid RRULE: {exc}") from exc
    if ends_at is not None and expanded.after(dtstart.astimezone(zone).replace(tzinfo=None), inc=True) is None:
        raise ValueError("invalid RRULE: it never occurs before the grant ends")


def within_schedule(rule: str, dtstart: datetime, duration_minutes: int, tz: str, now: datetime,
                    ends_at: datetime | None = None) -> bool:
    """True when `now` falls inside an occurrence of the rule (occurrences are wall-clock times in `tz`)."""
    zone = ZoneInfo(tz)
    # Expand on naive local wall time so that 09:00 stays 09:00 across daylight-saving changes.
    local_now = now.astimezone(zone).replace(tzinfo=None)
    occurrence = _expand(rule, dtstart, zone, ends_at).before(local_now, inc=True)
    if occurrence is None:
        return False
    end = occurrence + timedelta(minutes=duration_minutes)
    return local_now < end


def next_occurrences(rule: str, dtstart: datetime, tz: str, after: datetime, count: int = 5,
                     ends_at: datetime | None = None) -> list[datetime]:
    """The next `count` occurrence starts after `after`, as aware UTC datetimes."""
    zone = ZoneInfo(tz)
    local_after = after.astimezone(zone).replace(tzinfo=None)
    rule_set = _expand(rule, dtstart, zone, ends_at)
    found: list[datetime] = []
    current = rule_set.after(local_after, inc=False)
    while current is not None and len(found) < count:
        found.append(current.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")))
        current = rule_set.after(current, inc=False)
    return found
