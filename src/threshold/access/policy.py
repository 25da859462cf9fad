"""Pure rules for an ask for entry: given a snapshot, the refusals that apply (empty means allowed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from threshold.access.schedule import within_schedule

SIZES = ("S", "M", "L", "XL")


@dataclass(frozen=True, slots=True)
class GrantView:
    """What the rules need of a grant."""

    kind: str
    entry_point_id: str
    driver_id: str | None
    starts_at: datetime
    ends_at: datetime
    single_use: bool
    used: bool
    revoked: bool
    rrule: str | None = None
    duration_minutes: int | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class RulesView:
    """What the rules need of the household's rules."""

    in_home_enabled: bool
    allowed_entry_points: tuple[str, ...]
    blackout_dates: tuple[str, ...]
    timezone: str


@dataclass(frozen=True, slots=True)
class EntryAsk:
    """One ask for entry with everything the rules judge it by."""

    grant: GrantView
    rules: RulesView
    now: datetime
    driver_id: str | None = None
    scanned_barcode: str | None = None
    package_barcodes: tuple[str, ...] = ()
    package_sizes: tuple[str, ...] = ()
    entry_point_max_size: str = "XL"
    delivery_status: str | None = None
    distance_m: float | None = None
    geofence_m: float = 150.0
    devices_online: bool = True
    # The household lets the delivery's partner deliver inside this home (households choose, per home).
    partner_authorized: bool = True


# Stable refusal codes and their HTTP status; the docs list them.
REFUSALS: dict[str, tuple[int, str]] = {
    "grant_revoked": (403, "The grant was revoked"),
    "grant_used": (409, "The grant was already used"),
    "grant_expired": (403, "The grant has expired"),
    "outside_window": (403, "Outside the delivery window"),
    "wrong_driver": (403, "This driver is not assigned to the delivery"),
    "wrong_package": (403, "The scanned package does not belong to this delivery"),
    "delivery_not_active": (409, "The delivery is not active"),
    "household_opted_out": (403, "The household has turned in-home delivery off"),
    "partner_not_authorized": (403, "The household has not authorized this partner to deliver inside"),
    "blackout_day": (403, "The household has blocked deliveries today"),
    "entry_point_not_allowed": (403, "This entry point is not allowed by the household"),
    "package_too_large": (403, "The package is too large for this entry point"),
    "not_at_home": (403, "The driver is not at the home"),
    "device_offline": (503, "A lock or camera at this entry point is offline"),
    "camera_not_confirmed": (503, "The camera did not confirm recording"),
}


# What a household may choose to happen to a package when in-home delivery cannot happen.
FALLBACKS = ("doorstep", "locker", "reattempt")
# Refusals caused only by the home (its devices, or its household's own choices: a day set aside, in-home turned
# off, a way in not allowed, a door too small): the driver did everything right, so the household's fallback
# decides what happens to the package. Any other refusal says the driver or the delivery is wrong.
FALLBACK_ON = frozenset({"device_offline", "blackout_day", "household_opted_out", "entry_point_not_allowed",
                         "package_too_large"})


def fallback_for(codes: list[str], choice: str) -> str | None:
    """The household's fallback when nothing but the home's devices stands between the driver and the door."""
    if codes and all(code in FALLBACK_ON for code in codes) and choice in FALLBACKS:
        return choice
    return None


def refusals(ask: EntryAsk) -> list[str]:
    """Every refusal that applies to this ask, most fundamental first."""
    g, r, now = ask.grant, ask.rules, ask.now
    if g.kind == "delivery" and not ask.partner_authorized:
        # A partner the household never chose is told only that: nothing of the home's rules or days away.
        return ["partner_not_authorized"]
    found: list[str] = []
    if g.revoked:
        found.append("grant_revoked")
    if g.single_use and g.used:
        found.append("grant_used")
    if now > g.ends_at:
        found.append("grant_expired")
    elif now < g.starts_at or (g.rrule and not within_schedule(g.rrule, g.starts_at, g.duration_minutes or 0,
                                                                 g.timezone, now, g.ends_at)):
        found.append("outside_window")
    if g.kind == "delivery":
        if g.driver_id is None or g.driver_id != ask.driver_id:
            found.append("wrong_driver")
        if ask.scanned_barcode is None or ask.scanned_barcode not in ask.package_barcodes:
            found.append("wrong_package")
        if ask.delivery_status not in ("assigned", "approved"):
            found.append("delivery_not_active")
        if not r.in_home_enabled:
            found.append("household_opted_out")
        if any(_bigger(size, ask.entry_point_max_size) for size in ask.package_sizes):
            found.append("package_too_large")
        if ask.distance_m is None or ask.distance_m > ask.geofence_m:
            found.append("not_at_home")
    if local_date(now, r.timezone) in r.blackout_dates and g.kind == "delivery":
        found.append("blackout_day")
    if r.allowed_entry_points and g.entry_point_id not in r.allowed_entry_points:
        found.append("entry_point_not_allowed")
    if not ask.devices_online:
        found.append("device_offline")
    return found


def local_date(now: datetime, tz: str) -> str:
    """The household's calendar date at `now`, as YYYY-MM-DD."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def _bigger(size: str, limit: str) -> bool:
    return SIZES.index(size) > SIZES.index(limit) if size in SIZES and limit in SIZES else True


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def eligibility(in_home_enabled: bool, blackout: bool, devices_online: bool, size_ok: bool,
                entry_allowed: bool) -> list[str]:
    """Why a new delivery cannot be in-home (empty when it can)."""
    reasons = []
    if not in_home_enabled:
        reasons.append("household_opted_out")
    if blackout:
        reasons.append("blackout_day")
    if not devices_online:
        reasons.append("device_offline")
    if not size_ok:
        reasons.append("package_too_large")
    if not entry_allowed:
        reasons.append("entry_point_not_allowed")
    return reasons
