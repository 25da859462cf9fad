"""The safe input types: extreme datetimes, days, ints and control characters are refused with a field error."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, Field, ValidationError

from threshold.inputs import INT64_MAX, Day, Instant, Int64, Line, Note, Trimmed, is_line, is_note


class Sample(BaseModel):
    """Every safe type once, as a schema would use them."""

    at: Instant | None = None
    day: Day | None = None
    count: Int64 = 0
    name: Line = Field(default="x", max_length=20)
    note: Note = ""
    product: Trimmed = "sku"


def refused(**fields: object) -> str:
    """The message of the one error the fields cause."""
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(fields)
    errors = caught.value.errors()
    assert len(errors) == 1
    return str(errors[0]["msg"])


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+05:00"])
def test_a_time_without_a_utc_equivalent_is_refused(text: str) -> None:
    assert "no UTC equivalent" in refused(at=text)


@pytest.mark.parametrize("text", ["1999-12-31T23:59:59Z", "2101-01-01T00:00:00Z", "2100-12-31T20:00:00-05:00",
                                  "9999-12-31T00:00:00+00:00"])
def test_a_time_outside_2000_to_2100_in_utc_is_refused(text: str) -> None:
    assert "between 2000 and 2100" in refused(at=text)


def test_a_time_inside_the_range_keeps_its_offset() -> None:
    at = Sample.model_validate({"at": "2100-12-31T18:59:59-05:00"}).at
    assert at == datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert at is not None and at.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"at": "2030-01-01T10:00:00"})


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_a_day_outside_2000_to_2100_is_refused(text: str) -> None:
    assert "between 2000 and 2100" in refused(day=text)


def test_a_day_inside_the_range_is_kept() -> None:
    assert Sample.model_validate({"day": "2100-12-31"}).day == date(2100, 12, 31)


@pytest.mark.parametrize("value", [10**30, INT64_MAX + 1, -(2**63) - 1])
def test_an_int_past_64_bits_is_refused(value: int) -> None:
    refused(count=value)


def test_the_largest_64_bit_int_is_accepted() -> None:
    assert Sample.model_validate({"count": INT64_MAX}).count == INT64_MAX


@pytest.mark.parametrize("text", ["a\x00b", "a\x01", "tab\there", "line\nbreak", "del\x7f", "c1\x85", "\x9f"])
def test_a_line_with_a_control_character_is_refused(text: str) -> None:
    assert "control characters" in refused(name=text)
    assert not is_line(text)


def test_a_lone_surrogate_is_refused_even_inside_an_optional_field() -> None:
    """json.loads turns "\\ud800" into a lone surrogate, and pydantic passes it through a validated union."""

    class Optional(BaseModel):
        ref: Line | None = Field(default=None, max_length=200)

    with pytest.raises(ValidationError):
        Optional.model_validate(json.loads('{"ref": "a\\ud800"}'))
    assert not is_line("a\ud800") and not is_note("\udfff")


def test_a_line_keeps_any_printable_text() -> None:
    assert Sample.model_validate({"name": "Zoë 🙂 O'Brien"}).name == "Zoë 🙂 O'Brien"
    assert is_line("Zoë 🙂 O'Brien")


def test_a_note_keeps_line_breaks_and_tabs_but_no_other_control() -> None:
    assert Sample.model_validate({"note": "first\r\nsecond\tthird"}).note == "first\r\nsecond\tthird"
    assert is_note("a\nb")
    assert "control characters" in refused(note="a\x00b")
    assert not is_note("a\x0bb")


@pytest.mark.parametrize("text", [" sku", "sku ", "a\x00b", "\x85"])
def test_a_trimmed_value_refuses_controls_and_surrounding_space(text: str) -> None:
    assert "control characters" in refused(product=text)


def test_the_openapi_schema_advertises_the_text_rules() -> None:
    props = Sample.model_json_schema()["properties"]
    assert props["name"]["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    assert props["name"]["maxLength"] == 20
    assert "\\x0a" not in props["note"]["pattern"] and "\\x0b" in props["note"]["pattern"]
    assert props["count"]["maximum"] == INT64_MAX
