"""Times as people read them: in the household's zone, with the zone's abbreviation ("14:02 CET",
"Mon 7 Dec, 14:02 CET"). One implementation for the web's pages and the notifications' words."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: Any) -> tzinfo:
    """The zone named `name` (or given as a zone), or UTC when missing or unknown (the words then say UTC)."""
    if isinstance(name, tzinfo):
        return name
    found = _zone(name) if isinstance(name, str) and name else None
    return found or UTC


def moment(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string (naive means UTC, as everything is stored)."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _abbrev(local: datetime) -> str:
    # A zone without a letter abbreviation (Sao Paulo's is "-03") reads better as an offset from UTC.
    name = local.strftime("%Z")
    return name if name.isalpha() else f"UTC{name}" if name[:1] in "+-" else name


def clock(value: Any, tz: Any = None, seconds: bool = False, named: bool = True) -> str:
    """The time of day in the zone, such as 14:02 CET (14:02:05 CET with seconds); '' for no time."""
    at = moment(value)
    if at is None:
        return ""
    local = at.astimezone(zone(tz))
    text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{text} {_abbrev(local)}" if named else text


def day_clock(value: Any, tz: Any = None, seconds: bool = False) -> str:
    """The day and time in the zone, such as Mon 7 Dec, 14:02 CET; '' for no time."""
    at = moment(value)
    if at is None:
        return ""
    local = at.astimezone(zone(tz))
    time = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local:%a} {local.day} {local:%b}, {time} {_abbrev(local)}"


def day_span(start: Any, end: Any, tz: Any = None) -> str:
    """A window with its day, such as Mon 7 Dec, 14:00 to 16:00 CET (an en dash between)."""
    a = moment(start)
    if a is None:
        return span(start, end, tz)
    local = a.astimezone(zone(tz))
    return f"{local:%a} {local.day} {local:%b}, {span(start, end, tz)}"


def span(start: Any, end: Any, tz: Any = None) -> str:
    """A window in the zone, such as 10:00 to 12:00 CET with an en dash (the zone once when it does not change)."""
    a, b = clock(start, tz), clock(end, tz)
    if a and b:
        first, _, a_zone = a.partition(" ")
        return f"{first}\N{EN DASH}{b}" if a_zone == b.partition(" ")[2] else f"{a}\N{EN DASH}{b}"
    return a or b


def zone_name(tz: Any, at: Any = None) -> str:
    """The zone's abbreviation at `at` (now when not given), such as CET."""
    return _abbrev((moment(at) or datetime.now(UTC)).astimezone(zone(tz)))


FILTERS = {"clock": clock, "day_clock": day_clock, "span": span, "day_span": day_span, "zone_name": zone_name}
