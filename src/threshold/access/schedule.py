"""Guest schedules: RFC 5545 recurrence rules expanded in the household's time zone (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _local_rule(rule: str, zone: ZoneInfo) -> str:
    """RFC 5545 writes UNTIL in UTC when DTSTART has a zone; we expand on local wall time, so convert it."""

    def to_local(match: re.Match[str]) -> str:
        until = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + until.astimezone(zone).strftime("%Y%m%dT%H%M%S")

    return _UNTIL_UTC.sub(to_local, rule)


def parse_rrule(rule: str, dtstart: datetime, tz: str) -> None:
    """Raise ValueError when `rule` is not a valid RRULE."""
    zone = ZoneInfo(tz)
    local = dtstart.astimezone(zone).replace(tzinfo=None)
    try:
        rrulestr(_local_rule(rule, zone), dtstart=local)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid RRULE: {exc}") from exc


def within_schedule(rule: str, dtstart: datetime, duration_minutes: int, tz: str, now: datetime) -> bool:
    """True when `now` falls inside an occurrence of the rule (occurrences are wall-clock times in `tz`)."""
    zone = ZoneInfo(tz)
    # Expand on naive local wall time so that 09:00 stays 09:00 across daylight-saving changes.
    local_start = dtstart.astimezone(zone).replace(tzinfo=None)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    rule_set = rrulestr(_local_rule(rule, zone), dtstart=local_start)
    occurrence = rule_set.before(local_now, inc=True)
    if occurrence is None:
        return False
    end = occurrence + timedelta(minutes=duration_minutes)
    return local_now < end


def next_occurrences(rule: str, dtstart: datetime, tz: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` occurrence starts after `after`, as aware UTC datetimes."""
    zone = ZoneInfo(tz)
    local_start = dtstart.astimezone(zone).replace(tzinfo=None)
    local_after = after.astimezone(zone).replace(tzinfo=None)
    rule_set = rrulestr(_local_rule(rule, zone), dtstart=local_start)
    found: list[datetime] = []
    current = rule_set.after(local_after, inc=False)
    while current is not None and len(found) < count:
        found.append(current.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")))
        current = rule_set.after(current, inc=False)
    return found
