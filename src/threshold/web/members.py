"""Portal pages for the household's people: members and roles, invitations, and the invitee's accept page; and
the guard that keeps owner-only pages' changes to owners."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threshold import limits
from threshold.deps import NowDep, SessionDep
from threshold.errors import ThresholdError, problem_response
from threshold.homes import members
from threshold.security import same
from threshold.web import auth
from threshold.web.deps import COOKIE, PRE_COOKIE, SURFACES, CheckedDep, PortalDep, pre_token, secure, templates
from threshold.web.models import WebSession

router = APIRouter(include_in_schema=False)
# The accept page's link is the invitee's credential: never cached, never sent on as a referrer.
PRIVATE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
Text = Annotated[str, Form(max_length=400)]
DONE = {"invited": "Invitation sent.", "unsent": "The invitation was saved but its email did not leave: invite "
        "the same address again to send a fresh link.", "role": "Role changed.", "removed": "Member removed.",
        "revoked": "Invitation withdrawn."}


async def owners_only(request: Request, db: SessionDep, now: NowDep) -> None:
    """A guard for pages whose changes are an owner's: a member's change is refused (owner_only) and audited.

    Reads pass; a request without a session or CSRF token is left to the page's own checks, which refuse it.
    """
    if request.method in ("GET", "HEAD"):
        return
    row = await auth.session_of(db, request.cookies.get(COOKIE), now, "member")
    if row is None:
        return
    form = await request.form()
    presented = form.get("csrf") or request.headers.get("x-csrf-token")
    if not auth.csrf_ok(row, presented if isinstance(presented, str) else None):
        return
    raw = request.path_params.get("home_id")
    if raw is None:
        await members.require_owner(db, row.member_id, "enrol homes", now)
        return
    try:
        home_id = uuid.UUID(str(raw))
    except ValueError:
        return  # the page's own path check answers
    await members.owner_home(db, row.member_id, home_id, "change this home's settings", now)


async def owner_only_page(request: Request, exc: Exception) -> Response:
    """A member's owner-only change: a page for a browser (it asks for HTML), problem+json for anything else."""
    assert isinstance(exc, members.OwnerOnly)
    if request.url.path.startswith("/v1/") or "text/html" not in request.headers.get("accept", ""):
        return problem_response(exc, request.url.path)
    return templates.TemplateResponse(request, "error.html", {
        "title": exc.title, "detail": exc.detail, "csrf": None, "surface": SURFACES["member"]},
        status_code=exc.status)


def _page(request: Request, session: WebSession, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, "members.html", {"csrf": session.csrf, **context},
                                      status_code=status)


async def _members_page(request: Request, session: WebSession, db: SessionDep, now: NowDep, status: int = 200,
                        errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                        done: str | None = None) -> HTMLResponse:
    me = await members.member(db, session.member_id)
    return _page(request, session, status, me=me, people=await members.members(db, me.id),
                 invitations=await members.invitations(db, me.id, now), errors=errors or {},
                 values=values or {"role": "member"}, done=DONE.get(done or ""))


@router.get("/portal/members", response_class=HTMLResponse)
async def members_page(request: Request, session: PortalDep, db: SessionDep, now: NowDep,
                       done: str | None = None) -> HTMLResponse:
    """The household's members and invitations; owners also invite, change roles and remove."""
    return await _members_page(request, session, db, now, done=done)


@router.post("/portal/members/invite", response_class=HTMLResponse)
async def invite(request: Request, session: CheckedDep, db: SessionDep, now: NowDep, email: Text = "",
                 name: Text = "", role: Text = "member") -> Response:
    """Invite a person by email; the form again with the errors next to their fields."""
    settings = request.app.state.settings
    try:
        inv, token = await members.invite(db, session.member_id, email, name, role, now,
                                          limits.Limits.of(settings), limits.client_address(request, settings))
    except members.InvitationFormInvalid as exc:
        return await _members_page(request, session, db, now, 422, exc.errors,
                                   {"email": email, "name": name, "role": role})
    note = await members.invitation_note(db, inv, token, settings.public_url)
    await db.commit()
    sent = await members.send_invitation(request.app.state.dispatcher.senders.get("email"), note)
    return RedirectResponse(f"/portal/members?done={'invited' if sent else 'unsent'}", status_code=303)


@router.post("/portal/members/{member_id}/role")
async def change_role(member_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep,
                      role: Text = "") -> Response:
    """Make a member an owner or an owner a member."""
    await members.set_role(db, session.member_id, member_id, role, now)
    return RedirectResponse("/portal/members?done=role", status_code=303)


@router.post("/portal/members/{member_id}/remove")
async def remove(member_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep) -> Response:
    """Remove a member: they are signed out everywhere at once."""
    await members.remove(db, session.member_id, member_id, now)
    return RedirectResponse("/portal/members?done=removed", status_code=303)


@router.post("/portal/invitations/{invitation_id}/revoke")
async def revoke(invitation_id: uuid.UUID, session: CheckedDep, db: SessionDep, now: NowDep) -> Response:
    """Withdraw a pending invitation."""
    await members.revoke(db, session.member_id, invitation_id, now)
    return RedirectResponse("/portal/members?done=revoked", status_code=303)


def _join_form(request: Request, token: str, status: int = 200, **context: object) -> HTMLResponse:
    pre = pre_token(request)
    response = templates.TemplateResponse(request, "invite_accept.html", {
        "pre": pre, "token": token, "errors": {}, "values": {}, "csrf": None, **context},
        status_code=status, headers=PRIVATE)
    response.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=secure(request))
    return response


def _refused(request: Request, exc: ThresholdError) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {
        "title": exc.title, "detail": exc.detail, "csrf": None, "surface": SURFACES["member"]},
        status_code=exc.status, headers=PRIVATE)


@router.get("/join/{token}", response_class=HTMLResponse)
async def join_page(request: Request, token: str, db: SessionDep, now: NowDep) -> HTMLResponse:
    """The invitee's page: who invited them, and a form for their name and password."""
    settings = request.app.state.settings
    try:
        inv = await members.usable(db, token, now, limits.Limits.of(settings),
                                   limits.client_address(request, settings))
    except limits.TooManyAttempts:
        raise
    except ThresholdError as exc:
        return _refused(request, exc)
    return _join_form(request, token, invitation=inv, values={"name": inv.name},
                      household=await members.household_name(db, inv.household_id))


@router.post("/join/{token}", response_class=HTMLResponse)
async def join(request: Request, token: str, db: SessionDep, now: NowDep, name: Text = "",
               password: Annotated[str, Form(max_length=400)] = "",
               pre: Annotated[str, Form()] = "") -> Response:
    """Accept: the new account joins the household and is signed in; errors show next to their fields."""
    settings = request.app.state.settings
    lim, address = limits.Limits.of(settings), limits.client_address(request, settings)
    cookie = request.cookies.get(PRE_COOKIE)
    if not cookie or not same(cookie, pre):
        inv = await members.usable(db, token, now, lim, address)
        return _join_form(request, token, 403, invitation=inv, values={"name": name},
                          household=await members.household_name(db, inv.household_id),
                          errors={"form": "The form expired; please try again."})
    try:
        joined = await members.accept(db, token, name, password, now, lim, address)
    except members.InvitationFormInvalid as exc:
        inv = await members.usable(db, token, now, lim, address)
        return _join_form(request, token, 422, invitation=inv, values={"name": name}, errors=exc.errors,
                          household=await members.household_name(db, inv.household_id))
    except limits.TooManyAttempts:
        raise
    except ThresholdError as exc:
        return _refused(request, exc)
    signed = await auth.open_session(db, joined.id, now)
    response = RedirectResponse("/portal?joined=1", status_code=303)
    response.set_cookie(COOKIE, signed.token, max_age=int(auth.SESSION_TTL.total_seconds()), httponly=True,
                        samesite="lax", secure=secure(request), path="/")
    response.delete_cookie(PRE_COOKIE)
    return response
