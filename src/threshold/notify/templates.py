"""Turning a note into words: a subject, plain text, HTML and an SMS, one template per moment."""

from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from threshold import times
from threshold.notify.moments import MOMENTS
from threshold.notify.ports import Note, Rendered

# Not "templates/": a directory named like this module would shadow it for mypy (namespace packages).
TEMPLATES = Path(__file__).parent / "jinja"
CATCH_ALL = "session_update"
SMS_LIMIT = 320
# The keys a template may read; every one is present (None when the dispatcher left it out).
DATA_KEYS = ("partner", "driver_name", "entry_point", "guest_name", "state", "where", "inviter", "role", "package")
# Messages that are no moment a household chooses, each with a template of its own.
OWN_TEMPLATES = frozenset({"invitation"})

# The project's own refusal and session codes (access/policy.py, access/machine.py); others read as words.
REASONS = {
    "camera_not_confirmed": "the camera could not be confirmed to be recording",
    "camera_stalled": "the camera stopped sending pictures",
    "lock_offline": "the lock could not be reached",
    "device_offline": "a device at your door could not be reached",
    "lock_jammed": "the lock jammed",
    "alarm_not_disarmed": "the alarm could not be disarmed",
    "approval_declined": "the entry was declined",
    "approval_timeout": "nobody answered the request to come in",
    "blackout_day": "it fell in a time you set aside for no entries",
    "household_opted_out": "in-home delivery is turned off for your home",
}
# One sentence for each fallback a household can choose (access/policy.FALLBACKS).
FALLBACKS = {
    "doorstep": "The driver will leave it at your door instead.",
    "locker": "It will go to a nearby parcel locker instead.",
    "reattempt": "The driver will try again on another day.",
}
# GSM-7 has no typographic dashes, quotes or ellipsis; one of them would halve an SMS's length.
SMS_PLAIN = str.maketrans({
    "\N{EN DASH}": "-", "\N{EM DASH}": "-", "\N{LEFT SINGLE QUOTATION MARK}": "'",
    "\N{RIGHT SINGLE QUOTATION MARK}": "'", "\N{LEFT DOUBLE QUOTATION MARK}": '"',
    "\N{RIGHT DOUBLE QUOTATION MARK}": '"', "\N{HORIZONTAL ELLIPSIS}": "...",
})

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(note: Note) -> Rendered:
    """Render a note with its moment's template (an unknown moment gets the catch-all)."""
    ctx = context(note)
    moment = note.moment if note.moment in MOMENTS or note.moment in OWN_TEMPLATES else CATCH_ALL
    # Each moment's template sets subject, body, sms and optionally link and link_label.
    words = vars(_env.get_template(f"{moment}.txt").make_module(ctx))
    subject = _line(str(words["subject"]))[:150]
    paragraphs = [_line(p) for p in re.split(r"\n\s*\n", str(words["body"])) if p.strip()]
    link = words.get("link") or None
    page = {"subject": subject, "paragraphs": paragraphs, "link": link,
            "link_label": str(words.get("link_label", "Open")), "home": ctx["home"],
            # Why the reader gets this message; a moment's message was chosen, an invitation was not.
            "why": _line(str(words.get("why", ""))) or "You chose to hear about this in your notification settings."}
    return Rendered(
        subject=subject,
        text=_env.get_template("_layout.txt").render(page).strip() + "\n",
        html=_env.get_template("_layout.html").render(page),
        sms=fit_sms(str(words["sms"]), link),
    )


def context(note: Note) -> dict[str, Any]:
    """The values the templates read: the note's data made safe to show, times in the household's zone."""
    data = note.data
    zone = _zone(data.get("timezone"))
    ctx: dict[str, Any] = {key: _text(data.get(key)) for key in DATA_KEYS}
    start, end = _clock(data.get("window_start"), zone), _clock(data.get("window_end"), zone)
    ctx.update(
        home=_text(data.get("home_label")) or "your home",
        in_home=data.get("in_home") if isinstance(data.get("in_home"), bool) else None,
        window=_window(start, end),
        eta=_clock(data.get("eta"), zone),
        until=_clock(data.get("deadline"), zone),
        finished=_clock(data.get("finished_at"), zone),
        finished_day=_day(data.get("finished_at"), zone),
        packages=_count(data.get("packages")),
        clip_url=_url(data.get("clip_url")),
        approve_url=_url(data.get("approve_url")),
        accept_url=_url(data.get("accept_url")),
        reason=_reason(data.get("reason")),
        fallback=_fallback(data.get("fallback")),
        topic=_text(data.get("topic")) or _text(note.topic) or "your home",
    )
    ctx.update(_alert_words(data, zone))
    return ctx


def _alert_words(data: dict[str, Any], zone: tzinfo | None) -> dict[str, Any]:
    """What alarms, reminders, all-clears and device notices say: when, how it ended, what it means."""
    number = data.get("reminder")
    battery = data.get("battery")
    return {
        "reminder": number if isinstance(number, int) and not isinstance(number, bool) else None,
        "since": _clock(data.get("opened_at") or data.get("since"), zone),
        "next_at": _clock(data.get("next_at"), zone),
        "resolved_at": _clock(data.get("resolved_at") or data.get("locked_at") or data.get("back_at"), zone),
        "how": _text(data.get("how")),
        "incident_kind": _text(data.get("kind")),
        "schedule": _text(data.get("schedule")),
        "lock_url": _url(data.get("lock_url")),
        "device_kind": _text(data.get("device_kind")),
        "meaning": _text(data.get("meaning")),
        "battery": battery if isinstance(battery, int) and not isinstance(battery, bool) else None,
        "back": data.get("topic") == "device.online",
    }


def fit_sms(text: str, link: str | None) -> str:
    """One SMS of at most SMS_LIMIT characters, keeping the link whole and shortening the words instead."""
    words = _line(text).translate(SMS_PLAIN)
    # A link is the point of most messages: it may take all but a short sentence of the SMS.
    if link and len(link) <= SMS_LIMIT - 60:
        return f"{_cut(words, SMS_LIMIT - len(link) - 1)} {link}"
    return _cut(words, SMS_LIMIT)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def _line(text: str) -> str:
    # Templates wrap freely; a header or an SMS must be one line (and a newline in a header is an injection).
    return " ".join(text.split())


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = _line(str(value))
    return text[:200] or None


def _zone(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _clock(value: Any, zone: tzinfo | None) -> str | None:
    """HH:MM and the zone's abbreviation, in the household's zone (in UTC, said so, when the zone is unknown)."""
    if not isinstance(value, str) or not value:
        return _text(value)
    return times.clock(value, zone) or _text(value)


def _day(value: Any, zone: tzinfo | None) -> str | None:
    # The day too, for an email that may be read tomorrow: Mon 7 Dec, 14:02 CET.
    if not isinstance(value, str):
        return None
    return times.day_clock(value, zone) or None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10_000 else None


def _window(start: str | None, end: str | None) -> str | None:
    if start and end:
        # The zone once when both ends share it: 14:00\N{EN DASH}16:00 CET.
        first, _, zone = start.partition(" ")
        if zone and zone == end.partition(" ")[2]:
            return f"{first}\N{EN DASH}{end}"
        return f"{start}\N{EN DASH}{end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return None


def _url(value: Any) -> str | None:
    # Only web links: a javascript: or data: URL would run in a mail client that follows it.
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _reason(code: Any) -> str | None:
    text = _text(code)
    if text is None:
        return None
    return REASONS.get(text, text.replace("_", " "))


def _fallback(code: Any) -> str | None:
    text = _text(code)
    return FALLBACKS.get(text) if text else None
