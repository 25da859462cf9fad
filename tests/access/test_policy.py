"""The rules for an ask for entry: each refusal on its own, and an ask that passes every rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from threshold.access.policy import (
    REFUSALS,
    EntryAsk,
    GrantView,
    RulesView,
    distance_m,
    eligibility,
    fallback_for,
    local_date,
    refusals,
)

NOW = datetime(2025, 7, 4, 15, 0, tzinfo=UTC)
DRIVER = "driver-7"
FRONT = "entry-front"


def delivery_grant(**changes: object) -> GrantView:
    grant = GrantView(
        kind="delivery",
        entry_point_id=FRONT,
        driver_id=DRIVER,
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1),
        single_use=True,
        used=False,
        revoked=False,
    )
    return replace(grant, **changes)  # type: ignore[arg-type]


def house_rules(**changes: object) -> RulesView:
    rules = RulesView(
        in_home_enabled=True,
        allowed_entry_points=(FRONT, "entry-garage"),
        blackout_dates=("2025-12-25",),
        timezone="America/New_York",
    )
    return replace(rules, **changes)  # type: ignore[arg-type]


def good_ask(**changes: object) -> EntryAsk:
    ask = EntryAsk(
        grant=delivery_grant(),
        rules=house_rules(),
        now=NOW,
        driver_id=DRIVER,
        scanned_barcode="PKG-1",
        package_barcodes=("PKG-1", "PKG-2"),
        package_sizes=("S", "M"),
        entry_point_max_size="L",
        delivery_status="assigned",
        distance_m=12.0,
        geofence_m=150.0,
        devices_online=True,
    )
    return replace(ask, **changes)  # type: ignore[arg-type]


def test_ask_that_passes_every_rule_is_allowed() -> None:
    assert refusals(good_ask()) == []


def test_ask_for_an_approved_delivery_is_allowed() -> None:
    assert refusals(good_ask(delivery_status="approved")) == []


def test_revoked_grant_is_refused() -> None:
    assert refusals(good_ask(grant=delivery_grant(revoked=True))) == ["grant_revoked"]


def test_replayed_single_use_grant_is_refused() -> None:
    assert refusals(good_ask(grant=delivery_grant(used=True))) == ["grant_used"]


def test_used_grant_that_is_not_single_use_may_be_used_again() -> None:
    assert refusals(good_ask(grant=delivery_grant(used=True, single_use=False))) == []


def test_grant_past_its_end_is_refused_as_expired() -> None:
    grant = delivery_grant(ends_at=NOW - timedelta(seconds=1))
    assert refusals(good_ask(grant=grant)) == ["grant_expired"]


def test_ask_before_the_window_opens_is_refused_as_outside_window() -> None:
    grant = delivery_grant(starts_at=NOW + timedelta(minutes=10))
    assert refusals(good_ask(grant=grant)) == ["outside_window"]


def test_ask_at_the_moment_the_window_opens_is_allowed() -> None:
    assert refusals(good_ask(grant=delivery_grant(starts_at=NOW))) == []


@pytest.mark.parametrize("driver_id", ["driver-8", None], ids=["other_driver", "no_driver"])
def test_driver_not_assigned_to_the_delivery_is_refused(driver_id: str | None) -> None:
    assert refusals(good_ask(driver_id=driver_id)) == ["wrong_driver"]


def test_delivery_grant_not_yet_bound_to_a_driver_refuses_every_driver() -> None:
    assert refusals(good_ask(grant=delivery_grant(driver_id=None))) == ["wrong_driver"]


@pytest.mark.parametrize("barcode", ["PKG-9", None], ids=["other_package", "nothing_scanned"])
def test_package_that_is_not_in_the_delivery_is_refused(barcode: str | None) -> None:
    assert refusals(good_ask(scanned_barcode=barcode)) == ["wrong_package"]


@pytest.mark.parametrize("status", ["delivered", "cancelled", None])
def test_delivery_that_is_not_active_is_refused(status: str | None) -> None:
    assert refusals(good_ask(delivery_status=status)) == ["delivery_not_active"]


def test_household_that_turned_in_home_delivery_off_refuses_deliveries() -> None:
    assert refusals(good_ask(rules=house_rules(in_home_enabled=False))) == ["household_opted_out"]


def test_a_partner_the_household_never_chose_is_refused_and_told_nothing_else() -> None:
    blacked_out = house_rules(in_home_enabled=False, blackout_dates=(NOW.date().isoformat(),))
    ask = good_ask(partner_authorized=False, rules=blacked_out, devices_online=False)
    assert refusals(ask) == ["partner_not_authorized"]


def test_blackout_day_is_judged_in_the_households_time_zone() -> None:
    # 02:00 UTC on 26 December is still 25 December (21:00) in New York.
    now = datetime(2025, 12, 26, 2, 0, tzinfo=UTC)
    grant = delivery_grant(starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    ask = good_ask(grant=grant, now=now)
    assert refusals(ask) == ["blackout_day"]
    # The same instant is not the blackout day for a household in UTC ...
    assert refusals(replace(ask, rules=house_rules(timezone="UTC"))) == []


def test_day_that_is_blacked_out_only_in_utc_is_not_refused_in_new_york() -> None:
    # 00:30 UTC on 25 December is 19:30 on 24 December in New York.
    now = datetime(2025, 12, 25, 0, 30, tzinfo=UTC)
    grant = delivery_grant(starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    assert refusals(good_ask(grant=grant, now=now)) == []


def test_entry_point_the_household_did_not_allow_is_refused() -> None:
    grant = delivery_grant(entry_point_id="entry-back")
    assert refusals(good_ask(grant=grant)) == ["entry_point_not_allowed"]


@pytest.mark.parametrize("sizes", [("S", "XL"), ("XXL",), ("",)], ids=["bigger", "unknown", "blank"])
def test_package_bigger_than_the_entry_point_takes_is_refused(sizes: tuple[str, ...]) -> None:
    assert refusals(good_ask(package_sizes=sizes)) == ["package_too_large"]


def test_entry_point_with_an_unknown_size_limit_refuses_every_package() -> None:
    assert refusals(good_ask(entry_point_max_size="huge")) == ["package_too_large"]


def test_package_exactly_the_entry_points_limit_is_allowed() -> None:
    assert refusals(good_ask(package_sizes=("L",))) == []


@pytest.mark.parametrize("distance", [150.5, 2_000.0, None], ids=["just_outside", "far", "unknown"])
def test_driver_who_is_not_at_the_home_is_refused(distance: float | None) -> None:
    assert refusals(good_ask(distance_m=distance)) == ["not_at_home"]


def test_driver_on_the_geofence_edge_is_at_the_home() -> None:
    assert refusals(good_ask(distance_m=150.0)) == []


def test_offline_lock_or_camera_refuses_entry() -> None:
    assert refusals(good_ask(devices_online=False)) == ["device_offline"]


@pytest.mark.parametrize("choice", ["doorstep", "locker", "reattempt"])
def test_offline_devices_alone_hand_the_package_to_the_households_fallback(choice: str) -> None:
    assert fallback_for(refusals(good_ask(devices_online=False)), choice) == choice


def test_a_refusal_for_anything_the_driver_or_delivery_got_wrong_gets_no_fallback() -> None:
    # The wrong driver must not be told to leave someone else's package on the doorstep.
    codes = refusals(good_ask(driver_id="driver-8", devices_online=False))
    assert codes == ["wrong_driver", "device_offline"]
    assert fallback_for(codes, "doorstep") is None
    assert fallback_for([], "doorstep") is None


def test_an_unknown_fallback_choice_is_never_applied() -> None:
    assert fallback_for(["device_offline"], "neighbour") is None


def test_every_refusal_that_applies_is_reported_most_fundamental_first() -> None:
    ask = good_ask(
        grant=delivery_grant(revoked=True, used=True, entry_point_id="entry-back"),
        driver_id="driver-8",
        devices_online=False,
    )
    assert refusals(ask) == ["grant_revoked", "grant_used", "wrong_driver", "entry_point_not_allowed", "device_offline"]


def test_every_refusal_code_has_an_http_status_and_a_title() -> None:
    for code, (status, title) in REFUSALS.items():
        assert 400 <= status < 600, code
        assert title, code


# Guests ---------------------------------------------------------------------------------------------------


def guest_grant(**changes: object) -> GrantView:
    grant = GrantView(
        kind="guest",
        entry_point_id=FRONT,
        driver_id=None,
        starts_at=datetime(2025, 6, 2, 7, 0, tzinfo=UTC),  # Monday 09:00 in Berlin
        ends_at=datetime(2025, 12, 31, tzinfo=UTC),
        single_use=False,
        used=True,
        revoked=False,
        rrule="FREQ=WEEKLY;BYDAY=MO",
        duration_minutes=120,
        timezone="Europe/Berlin",
    )
    return replace(grant, **changes)  # type: ignore[arg-type]


def guest_ask(now: datetime, **changes: object) -> EntryAsk:
    ask = EntryAsk(grant=guest_grant(), rules=house_rules(timezone="Europe/Berlin"), now=now)
    return replace(ask, **changes)  # type: ignore[arg-type]


def test_guest_inside_their_schedule_is_allowed() -> None:
    assert refusals(guest_ask(datetime(2025, 6, 9, 8, 0, tzinfo=UTC))) == []


def test_guest_outside_their_schedule_is_refused_as_outside_window() -> None:
    assert refusals(guest_ask(datetime(2025, 6, 10, 8, 0, tzinfo=UTC))) == ["outside_window"]


def test_guest_is_still_refused_on_an_entry_point_the_household_did_not_allow() -> None:
    ask = guest_ask(datetime(2025, 6, 9, 8, 0, tzinfo=UTC), grant=guest_grant(entry_point_id="entry-back"))
    assert refusals(ask) == ["entry_point_not_allowed"]


def test_revoked_guest_grant_is_refused_even_inside_the_schedule() -> None:
    ask = guest_ask(datetime(2025, 6, 9, 8, 0, tzinfo=UTC), grant=guest_grant(revoked=True))
    assert refusals(ask) == ["grant_revoked"]


def test_guest_schedule_ends_when_the_grant_ends() -> None:
    assert refusals(guest_ask(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))) == ["grant_expired"]


# Helpers --------------------------------------------------------------------------------------------------


def test_local_date_is_the_households_calendar_date() -> None:
    instant = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
    assert local_date(instant, "UTC") == "2025-03-01"
    assert local_date(instant, "America/New_York") == "2025-02-28"
    assert local_date(instant, "Asia/Tokyo") == "2025-03-01"


def test_distance_between_two_points_is_great_circle_metres() -> None:
    assert distance_m(52.52, 13.405, 52.52, 13.405) == 0
    # One degree of latitude is about 111.2 km anywhere on the sphere.
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_500, rel=0.01)


def test_eligibility_lists_every_reason_a_delivery_cannot_be_in_home() -> None:
    assert eligibility(True, False, True, True, True) == []
    assert eligibility(False, True, False, False, False) == [
        "household_opted_out",
        "blackout_day",
        "device_offline",
        "package_too_large",
        "entry_point_not_allowed",
    ]
