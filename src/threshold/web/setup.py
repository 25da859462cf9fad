"""Portal pages to enrol a home (address, time zone, ways in) and to add its devices."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threshold.deps import NowDep, SessionDep
from threshold.devices.enrol import enrol
from threshold.devices.ports import DeviceKind, DiscoveredDevice
from threshold.errors import ThresholdError
from threshold.homes import service as homes
from threshold.homes.schemas import HomeOut
from threshold.inputs import is_line
from threshold.web.deps import CheckedDep, PortalDep, templates

router = APIRouter(prefix="/portal", include_in_schema=False)
@cache
def zones() -> list[str]:
    """The time zones a home may have (read from the system's zone data once, on first use, not at start-up)."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
ADAPTERS = {"zigbee2mqtt": "zigbee2mqtt (MQTT)", "homeassistant": "Home Assistant"}
KIND_LABELS = {"lock": "Door lock", "camera": "Camera", "alarm": "Alarm panel", "garage": "Garage door",
               "contact": "Door contact sensor"}
# Which field an enrolment refusal belongs next to.
FIELD_OF = {"entry_point_required": "entry_point", "entry_point_mismatch": "entry_point",
            "entry_point_has_device": "entry_point", "entry_point_not_used": "entry_point",
            "device_already_enrolled": "address", "alarm_code_required": "code"}
Text = Annotated[str, Form(max_length=1000)]


def home_fields(label: str, address: str, timezone: str, lat: str, lon: str,
                entries: list[str]) -> tuple[dict[str, object], dict[str, str]]:
    """Check the new-home form: (clean values, field -> error)."""
    errors: dict[str, str] = {}
    label, address = label.strip(), " ".join(address.split())
    if not label or len(label) > 200 or not is_line(label):
        errors["label"] = "Give the home a name you will recognise (up to 200 characters)."
    if len(address) < 5 or len(address) > 400 or not is_line(address):
        errors["address"] = "Give the full street address drivers will go to."
    if timezone not in zones():
        errors["timezone"] = "Choose the home's time zone from the list."
    coords: dict[str, float] = {}
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        try:
            number = float(value)
        except ValueError:
            errors[name] = "Give a number in decimal degrees, such as 52.52."
            continue
        if not -limit <= number <= limit:
            errors[name] = f"Give a number between -{limit:g} and {limit:g}."
        coords[name] = number
    if not entries:
        errors["entries"] = "Choose at least one way in."
    elif any(e not in homes.ENTRY_KINDS for e in entries):
        errors["entries"] = "Choose ways in from the list."
    clean = {"label": label, "address": address, "timezone": timezone, **coords, "entries": entries}
    return clean, errors


@router.get("/homes/new", response_class=HTMLResponse)
async def new_home_page(request: Request, session: PortalDep) -> HTMLResponse:
    """The form to enrol a home."""
    return _home_form(request, session.csrf, {"entries": ["front_door"], "timezone": "Europe/London"}, {})


def _home_form(request: Request, csrf: str, values: dict[str, object], errors: dict[str, str],
               status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "home_new.html", {
        "csrf": csrf, "values": values, "errors": errors, "zones": zones(), "kinds": homes.ENTRY_KINDS},
        status_code=status)


@router.post("/homes/new", response_class=HTMLResponse)
async def create_home(request: Request, session: CheckedDep, db: SessionDep, now: NowDep, label: Text = "",
                      address: Text = "", timezone: Text = "", lat: Text = "", lon: Text = "",
                      entries: Annotated[list[str] | None, Form()] = None) -> Response:
    """Enrol the home; every field is checked first and nothing is written on an error."""
    values, errors = home_fields(label, address, timezone, lat, lon, entries or [])
    if errors:
        return _home_form(request, session.csrf, {**values, "lat": lat, "lon": lon}, errors, 422)
    home = await homes.create_home(db, session.member_id, str(values["label"]), str(values["address"]),
                                   str(values["timezone"]), float(lat), float(lon), entries or [], now)
    return RedirectResponse(f"/portal/homes/{home.id}/devices/new?created=1", status_code=303)


@router.get("/homes/{home_id}/devices/new", response_class=HTMLResponse)
async def new_device_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                          created: bool = False, added: str | None = None) -> HTMLResponse:
    """The form to add a device the home's hub (zigbee2mqtt or Home Assistant) knows."""
    home = await homes.home_out(db, await homes.own_home(db, session.member_id, home_id))
    values = {"adapter": "zigbee2mqtt", "kind": "lock"}
    return _device_form(request, session.csrf, home, values, {}, created, KIND_LABELS.get(added or ""))


def _device_form(request: Request, csrf: str, home: HomeOut, values: dict[str, str], errors: dict[str, str],
                 created: bool = False, added: str | None = None, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "device_new.html", {
        "csrf": csrf, "home": home, "values": values, "errors": errors, "kinds": KIND_LABELS,
        "adapters": ADAPTERS, "created": created, "added": added,
        "entry_options": [(str(e.id), e.label) for e in home.entry_points]}, status_code=status)


@router.post("/homes/{home_id}/devices/new", response_class=HTMLResponse)
async def add_device(request: Request, home_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                     kind: Text = "", adapter: Text = "", address: Text = "", entry_point: Text = "",
                     code: Text = "") -> Response:
    """Enrol a device at the home (audited); a refusal shows next to its field and adds nothing."""
    home = await homes.own_home(db, session.member_id, home_id)
    values = {"kind": kind, "adapter": adapter, "address": address.strip(), "entry_point": entry_point}
    errors: dict[str, str] = {}
    if kind not in KIND_LABELS:
        errors["kind"] = "Choose what the device is."
    if adapter not in ADAPTERS:
        errors["adapter"] = "Choose how threshold reaches the device."
    if not values["address"] or len(values["address"]) > 200 or any(c.isspace() for c in values["address"]) \
            or not is_line(values["address"]):
        errors["address"] = "Give the device's name in zigbee2mqtt or its Home Assistant entity id (no spaces)."
    entry_id = None
    if entry_point:
        try:
            entry_id = uuid.UUID(entry_point)
        except ValueError:
            errors["entry_point"] = "Choose one of this home's ways in."
    if kind == "alarm" and code and not (code.isascii() and code.isdigit() and 4 <= len(code) <= 8):
        errors["code"] = "The alarm code is 4 to 8 digits."
    if not errors:
        found = DiscoveredDevice(values["address"], DeviceKind(kind), values["address"], adapter)
        try:
            await enrol(db, home.id, found, now=now, entry_point_id=entry_id, secret=code or None,
                        actor=f"member:{session.member_id}")
        except ThresholdError as exc:
            errors[FIELD_OF.get(exc.code, "form")] = exc.detail
    if errors:
        # enrol() refuses before it writes anything, so there is nothing to undo here.
        out = await homes.home_out(db, home)
        return _device_form(request, session.csrf, out, values, errors, status=422)
    return RedirectResponse(f"/portal/homes/{home.id}/devices/new?added={kind}", status_code=303)

