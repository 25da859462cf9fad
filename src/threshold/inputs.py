"""Safe input types: what an API body, query, path or form may carry, bounded so that extreme input is a 422.

A datetime must name a zone and fall between 2000 and 2100 once converted to UTC (9999-12-31T23:00-05:00 cannot
even be converted). A day falls in the same years. Ints fit a signed 64-bit column. Text that names or identifies
something (names, barcodes, emails, references) carries no control character at all; notes may break lines.
An int compared with an INTEGER column (a sequence number) stays within 32 bits. Numbers in request bodies are
pydantic's StrictInt and StrictFloat, so a JSON true or "5" is not taken for a number.
PostgreSQL refuses NUL in text, and a control character in a name misleads whoever reads it later.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: the last instant accepted is in 2100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# An INTEGER column (a home's audit sequence numbers): PostgreSQL refuses a bound value past 32 bits.
INT32_MAX = 2**31 - 1

# C0 controls, DEL and C1 controls. The checks also refuse lone surrogates: json.loads makes them from "\\ud800",
# pydantic lets them through a validated union, and no database can encode them.
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f"
# Line breaks and tabs are what a note may keep.
_CONTROLS_BUT_BREAKS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
LINE_PATTERN = f"^[^{_CONTROLS}]*$"
NOTE_PATTERN = f"^[^{_CONTROLS_BUT_BREAKS}]*$"
# An identifier-like value: printable, no space or control at either end.
TRIMMED_PATTERN = f"^[^\\s{_CONTROLS}]([^{_CONTROLS}]*[^\\s{_CONTROLS}])?$"
_LINE, _NOTE, _TRIMMED = (re.compile(p[1:-1].replace("\\x9f", "\\x9f\\ud800-\\udfff"))
                          for p in (LINE_PATTERN, NOTE_PATTERN, TRIMMED_PATTERN))


def in_range(value: datetime) -> datetime:
    """The aware datetime unchanged, when its UTC time exists and falls between 2000 and 2100."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("the time has no UTC equivalent") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"the time must fall between {EARLIEST.year} and {LATEST.year - 1} (UTC)")
    return value


def day_in_range(value: date) -> date:
    """The day unchanged, when it falls between 2000 and 2100."""
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"the day must fall between {EARLIEST.year} and {LATEST.year - 1}")
    return value


def line(value: str) -> str:
    """The text unchanged, when it has no control character."""
    if _LINE.fullmatch(value) is None:
        raise ValueError("must not contain control characters")
    return value


def note(value: str) -> str:
    """The text unchanged, when it has no control character but line breaks and tabs."""
    if _NOTE.fullmatch(value) is None:
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


def trimmed(value: str) -> str:
    """The text unchanged, when it has no control character and no space at either end."""
    if _TRIMMED.fullmatch(value) is None:
        raise ValueError("must not contain control characters, nor start or end with a space")
    return value


def is_line(value: str) -> bool:
    """True when the text has no control character (the rule of `Line`, for forms that check by hand)."""
    return _LINE.fullmatch(value) is not None


def is_note(value: str) -> bool:
    """True when the text has no control character but line breaks and tabs (the rule of `Note`)."""
    return _NOTE.fullmatch(value) is not None


Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
Day = Annotated[date, AfterValidator(day_in_range)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
# The patterns are advertised in the OpenAPI schema, not enforced by pydantic-core: the validators' messages say
# what is wrong, where pydantic-core's regex mismatch would quote the pattern.
Line = Annotated[str, AfterValidator(line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
Note = Annotated[str, AfterValidator(note), Field(json_schema_extra={"pattern": NOTE_PATTERN})]
Trimmed = Annotated[str, AfterValidator(trimmed), Field(json_schema_extra={"pattern": TRIMMED_PATTERN})]
