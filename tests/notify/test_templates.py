"""Rendering: every moment in plain words, times in the household's zone, links kept, nothing unescaped."""

from __future__ import annotations

from typing import Any

import pytest

from threshold.notify.ports import Note
from threshold.notify.templates import MOMENTS, SMS_LIMIT, render

CLIP = "https://clips.example/c/7f3a?sig=abc&exp=1717430400"


def note(moment: str, **data: Any) -> Note:
    """A note for one moment with the given data."""
    return Note(key="evt-1:email:ana@example.test", channel="email", recipient="ana@example.test",
                moment=moment, topic="delivery.completed", data=data)


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_every_moment_renders_without_any_data(moment: str) -> None:
    rendered = render(note(moment))
    assert rendered.subject
    assert "None" not in rendered.text + rendered.html + rendered.sms + rendered.subject
    assert rendered.sms.startswith("Threshold: ")
    assert len(rendered.sms) <= SMS_LIMIT


def test_window_is_shown_in_the_household_time_zone() -> None:
    rendered = render(note("window_today", home_label="Maple St 4", timezone="Europe/Berlin", in_home=True,
                           window_start="2025-06-03T12:00:00Z", window_end="2025-06-03T14:00:00+00:00",
                           partner="Acme Parcels"))
    assert rendered.subject == "In-home delivery today, 14:00\N{EN DASH}16:00 CEST"
    assert "Acme Parcels is coming to Maple St 4 today (14:00\N{EN DASH}16:00 CEST)." in rendered.text
    assert "14:00-16:00 CEST" in rendered.sms


def test_window_without_a_time_zone_says_it_is_utc() -> None:
    rendered = render(note("window_today", window_start="2025-06-03T12:00:00Z", window_end="2025-06-03T14:00:00Z"))
    assert "12:00\N{EN DASH}14:00 UTC" in rendered.subject


def test_doorstep_window_does_not_promise_an_entry() -> None:
    rendered = render(note("window_today", in_home=False))
    assert rendered.subject == "Delivery today"
    assert "left at your door" in rendered.text
    assert "inside" not in rendered.text


def test_delivered_carries_the_clip_link_in_every_form() -> None:
    rendered = render(note("delivered", home_label="Maple St 4", clip_url=CLIP, entry_point="back door",
                           finished_at="2025-06-03T12:41:00Z", timezone="Europe/Berlin"))
    assert rendered.subject == "Your package was delivered inside \N{EM DASH} watch the clip"
    assert f"Watch the clip: {CLIP}" in rendered.text
    assert "through the back door; the door was locked again on Tue 3 Jun, 14:41 CEST" in rendered.text
    assert 'href="https://clips.example/c/7f3a?sig=abc&amp;exp=1717430400"' in rendered.html
    assert rendered.sms.endswith(" " + CLIP)


def test_a_package_left_outside_says_where_and_promises_no_entry() -> None:
    rendered = render(note("delivered", home_label="Maple St 4", where="doorstep",
                           finished_at="2025-06-03T12:41:00Z", timezone="Europe/Berlin"))
    assert rendered.subject == "Your package was left at your door"
    assert "The driver left your package for Maple St 4 at your door on Tue 3 Jun, 14:41 CEST." in rendered.text
    assert "inside" not in rendered.text + rendered.sms
    locker = render(note("delivered", where="locker"))
    assert locker.subject == "Your package was left in the nearest locker"


def test_a_non_web_link_is_never_offered() -> None:
    rendered = render(note("delivered", clip_url="javascript:alert(1)"))
    assert "javascript" not in rendered.text + rendered.html + rendered.sms
    assert rendered.subject == "Your package was delivered inside"


def test_hostile_data_is_escaped_in_html_and_kept_on_one_line_in_the_subject() -> None:
    rendered = render(note("guest_entered", guest_name='<script>alert("x")</script>\r\nBcc: all@example.test'))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@pytest.mark.parametrize(("code", "words"), [
    ("camera_not_confirmed", "the camera could not be confirmed to be recording"),
    ("lock_offline", "the lock could not be reached"),
    ("approval_declined", "the entry was declined"),
    ("blackout_day", "it fell in a time you set aside for no entries"),
    ("household_opted_out", "in-home delivery is turned off for your home"),
    ("hub_on_fire", "hub on fire"),
])
def test_refusal_reasons_are_plain_words_not_codes(code: str, words: str) -> None:
    rendered = render(note("delivery_refused", reason=code))
    assert f"because {words}." in rendered.text
    assert code not in rendered.text


@pytest.mark.parametrize(("fallback", "words"), [
    ("doorstep", "leave it at your door"),
    ("locker", "parcel locker"),
    ("reattempt", "try again on another day"),
    (None, "The carrier will tell you what happens next."),
])
def test_refusal_says_what_happens_instead(fallback: str | None, words: str) -> None:
    rendered = render(note("delivery_refused", reason="lock_offline", fallback=fallback))
    assert words in rendered.text
    assert words in rendered.html


def test_approval_request_links_to_the_approval_page() -> None:
    url = "https://threshold.example/approve/6b1d"
    rendered = render(note("approval_requested", approve_url=url, driver_name="Sam", home_label="Maple St 4"))
    assert rendered.subject == "Sam is asking to enter Maple St 4"
    assert f"Approve or decline: {url}" in rendered.text
    assert rendered.sms.endswith(url)


def test_approval_request_says_who_with_what_and_until_when_in_the_homes_zone() -> None:
    rendered = render(note("approval_requested", driver_name="Sam", partner="Parcelco", home_label="Maple St 4",
                           package="1 package (M), barcode ending 4821", deadline="2026-12-07T13:03:00+00:00",
                           timezone="Europe/Berlin"))
    assert rendered.subject.startswith("Sam from Parcelco is asking to enter Maple St 4 (answer by 14:03")
    assert "to deliver 1 package (M), barcode ending 4821" in rendered.text
    assert "unless you approve by 14:03" in rendered.text
    assert "Answer by 14:03" in rendered.sms


def test_camera_offline_links_the_partial_clip() -> None:
    rendered = render(note("camera_offline", clip_url=CLIP, reason="recording_failed"))
    assert f"Watch the partial clip: {CLIP}" in rendered.text
    assert "(recording failed)" in rendered.text


def test_door_not_relocked_names_the_entry_point() -> None:
    rendered = render(note("door_not_relocked", entry_point="garage door", reason="jammed"))
    assert rendered.subject == "The garage door did not lock again"
    assert "(jammed)" in rendered.text


def test_unknown_moment_falls_back_to_the_catch_all_with_topic_and_state() -> None:
    rendered = render(note("brand_new_moment", home_label="Maple St 4", state="aborted"))
    assert rendered.subject == "Update for Maple St 4: delivery.completed"
    assert "Topic: delivery.completed. State: aborted." in rendered.text


def test_long_sms_is_cut_but_keeps_the_link_whole() -> None:
    rendered = render(note("delivered", home_label="A" * 180, clip_url=CLIP + "&pad=" + "x" * 60))
    assert len(rendered.sms) <= SMS_LIMIT
    assert rendered.sms.endswith(CLIP + "&pad=" + "x" * 60)
    assert "..." in rendered.sms


def test_sms_uses_only_plain_punctuation() -> None:
    rendered = render(note("window_today", window_start="2025-06-03T12:00:00Z", window_end="2025-06-03T14:00:00Z"))
    assert "\N{EN DASH}" not in rendered.sms and "\N{EM DASH}" not in rendered.sms


def test_every_fallback_a_household_can_choose_has_words() -> None:
    from threshold.access.policy import FALLBACKS

    for fallback in FALLBACKS:
        rendered = render(note("delivery_refused", reason="lock_offline", fallback=fallback))
        assert "The carrier will tell you what happens next." not in rendered.text, fallback
