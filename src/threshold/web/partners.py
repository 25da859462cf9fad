"""Portal page: which partners may deliver inside this home (the others deliver to the door only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threshold.deps import NowDep, SessionDep
from threshold.homes import partners
from threshold.homes import service as homes
from threshold.web.deps import CheckedDep, PortalDep, templates

router = APIRouter(prefix="/portal/homes/{home_id}/partners", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def partners_page(request: Request, home_id: uuid.UUID, session: PortalDep, db: SessionDep,
                        changed: str | None = None) -> HTMLResponse:
    """Every partner with this home's choice, and a button to change it."""
    home = await homes.own_home(db, session.member_id, home_id)
    return templates.TemplateResponse(request, "partners.html", {
        "csrf": session.csrf, "home": home, "choices": await partners.choices(db, home),
        "changed": changed if changed in ("authorized", "revoked") else None})


@router.post("/{partner_id}/authorize")
async def authorize(home_id: uuid.UUID, partner_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                    now: NowDep) -> RedirectResponse:
    """Let a partner deliver inside (audited)."""
    home = await homes.own_home(db, session.member_id, home_id)
    await partners.authorize(db, home, partner_id, f"member:{session.member_id}", now)
    return RedirectResponse(f"/portal/homes/{home.id}/partners?changed=authorized", status_code=303)


@router.post("/{partner_id}/revoke")
async def revoke(home_id: uuid.UUID, partner_id: uuid.UUID, session: CheckedDep, db: SessionDep,
                 now: NowDep) -> RedirectResponse:
    """Make a partner doorstep only again (audited); its booked in-home deliveries stay outside."""
    home = await homes.own_home(db, session.member_id, home_id)
    await partners.revoke(db, home, partner_id, f"member:{session.member_id}", now)
    return RedirectResponse(f"/portal/homes/{home.id}/partners?changed=revoked", status_code=303)
