"""Portal pages for keypad PIN codes and their sync state with the lock.

The page lists a home's codes with their state in words, kept current by an htmx poll of a small fragment every
two seconds that swaps only the state cells. A code's PIN is shown once, in the answer to the form that added it
(never cached); threshold keeps it sealed for the lock and no page shows it again. Adding and removing a code are
forms with the session's CSRF token.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threshold.access import keypad
from threshold.access.pins import PinBox
from threshold.deps import NowDep, SessionDep
from threshold.homes import service as homes
from threshold.homes.models import Home
from threshold.web.deps import CheckedDep, PortalDep, templates

router = APIRouter(prefix="/portal/homes/{home_id}/keypad", include_in_schema=False)

GrantField = Annotated[str, Form(max_length=64)]
PinField = Annotated[str, Form(max_length=64)]
# The page that shows a new PIN must not stay in a cache or name itself to another site.
PRIVATE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
WANT_WORDS = {"present": "a visit is due: the code belongs on the lock",
              "absent": "between visits: the code stays off the lock", "removed": "removed for good"}


def state_words(code: keypad.CodeOut) -> str:
    """A code's sync state as the household reads it."""
    if code.sync_state == "failed":
        return f"Failed: {code.detail or 'the lock did not confirm.'}"
    if code.sync_state == "unsupported":
        return "Not supported: this lock cannot hold keypad codes."
    if code.sync_state == "on_lock":
        return "On the lock"
    if code.desired == "present":
        return "Waiting for the lock"
    if code.sync_state in ("setting", "clearing"):
        return "Being removed from the lock"
    return "Removed" if code.ended else "Off the lock until the next visit"


def want_words(code: keypad.CodeOut) -> str:
    """What threshold wants the lock to hold for this code, in words."""
    return WANT_WORDS["removed"] if code.ended else WANT_WORDS.get(code.desired, code.desired)


def pin_box(request: Request) -> PinBox:
    """The box that seals PINs, shared with the app's keypad sync (one key for both)."""
    box: PinBox = request.app.state.keypad.box
    return box


PinBoxDep = Annotated[PinBox, Depends(pin_box)]


def _context(home: Home, codes: list[keypad.CodeOut], **extra: object) -> dict[str, Any]:
    return {"home": home, "codes": codes, "state_words": state_words, "want_words": want_words, **extra}


async def _page(request: Request, session: Any, db: SessionDep, home: Home, now: Any, status: int = 200,
                created: keypad.Created | None = None, **extra: object) -> HTMLResponse:
    codes = await keypad.codes_of_home(db, home.id, now)
    # Guests who already have a code are not offered again (the service refuses them anyway).
    coded = {c.grant_id for c in codes if c.desired != "removed"}
    grants = [g for g in await keypad.active_guest_grants(db, home.id, now) if g.id not in coded]
    context = {"csrf": session.csrf, "grants": grants, "errors": {}, "values": {}, **_context(home, codes, **extra)}
    headers = None
    if created is not None:
        context["new_code"] = next(c for c in codes if c.id == created.code.id)
        context["new_pin"] = created.pin
        headers = PRIVATE
    return templates.TemplateResponse(request, "keypad.html", context, status_code=status, headers=headers)


@router.get("", response_class=HTMLResponse)
async def keypad_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep, now: NowDep,
                      grant: str = "", removed: bool = False) -> HTMLResponse:
    """The home's keypad codes with their sync state, and the form to add one (`?grant=` picks the guest)."""
    home = await homes.own_home(db, session.member_id, home_id)
    return await _page(request, session, db, home, now, values={"grant": grant}, removed=removed)


@router.post("", response_class=HTMLResponse)
async def add_code(request: Request, home_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                   box: PinBoxDep, grant: GrantField = "", pin: PinField = "") -> Response:
    """Add a code for a guest: a typed PIN (checked) or, left empty, a random one; errors show next to fields.
    The answer is the page with the new PIN, the only time it is shown (no redirect: it would need the PIN again)."""
    home = await homes.own_home(db, session.member_id, home_id)
    typed = pin.strip() or None
    try:
        created = await keypad.create(db, box, home.id, f"member:{session.member_id}", grant, typed, now)
    except keypad.CodeErrors as exc:
        # The typed PIN is not sent back into the page: it is typed again.
        return await _page(request, session, db, home, now, 422, values={"grant": grant}, errors=exc.errors)
    return await _page(request, session, db, home, now, 201, created=created)


@router.post("/codes/{code_id}/remove")
async def remove_code(home_id: uuid.UUID, code_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                      now: NowDep) -> RedirectResponse:
    """Remove a code: it is cleared from the lock and never goes back."""
    home = await homes.own_home(db, session.member_id, home_id)
    await keypad.remove(db, home.id, code_id, f"member:{session.member_id}", now)
    return RedirectResponse(f"/portal/homes/{home.id}/keypad?removed=1", status_code=303)


@router.get("/states", response_class=HTMLResponse)
async def states(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                 now: NowDep) -> HTMLResponse:
    """The codes' states as out-of-band swaps, for the page's poll."""
    home = await homes.own_home(db, session.member_id, home_id)
    codes = await keypad.codes_of_home(db, home.id, now)
    return templates.TemplateResponse(request, "keypad_states.html", _context(home, codes),
                                      headers={"cache-control": "no-store"})
