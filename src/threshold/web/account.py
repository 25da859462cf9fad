"""Pages: sign up (households), sign in and sign out on each surface (portal, driver app, operator console)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threshold import limits
from threshold.deps import NowDep, SessionDep
from threshold.security import same
from threshold.web import auth
from threshold.web.deps import PRE_COOKIE, SURFACES, Surface, pre_token, secure, templates

router = APIRouter(include_in_schema=False)


def _form(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    token = pre_token(request)
    response = templates.TemplateResponse(request, name, {"pre": token, "errors": {}, "values": {}, **context},
                                          status_code=status)
    response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=secure(request))
    return response


def _pre_ok(request: Request, presented: str) -> bool:
    cookie = request.cookies.get(PRE_COOKIE)
    return bool(cookie) and same(cookie or "", presented)


def _signed_in(request: Request, signed: auth.Signed, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(SURFACES[signed.kind].cookie, signed.token, max_age=int(auth.SESSION_TTL.total_seconds()),
                        httponly=True, samesite="lax", secure=secure(request), path="/")
    response.delete_cookie(PRE_COOKIE)
    return response


def _local(path: str | None, surface: Surface = SURFACES["member"]) -> str:
    # Only a path on this site and this surface: an open redirect would hand a phishing page our sign-in.
    if not path or not path.startswith("/") or path.startswith("//") or urlsplit(path).netloc:
        return surface.home
    if not path.startswith(surface.home):
        return surface.home
    return path


def _signin_form(request: Request, surface: Surface, status: int = 200, **context: object) -> HTMLResponse:
    return _form(request, "signin.html", status, surface=surface, **context)


async def _signin(request: Request, surface: Surface, db: SessionDep, now: NowDep, email: str, password: str,
                  pre: str, next: str) -> Response:
    values, to = {"email": email}, _local(next, surface)
    if not _pre_ok(request, pre):
        return _signin_form(request, surface, 403, next=to, values=values,
                            errors={"form": "The form expired; please try again."})
    settings = request.app.state.settings
    try:
        signed = await auth.sign_in(db, limits.Limits.of(settings), email, password,
                                    limits.client_address(request, settings), now, surface.kind)
    except limits.TooManyAttempts as exc:
        response = _signin_form(request, surface, 429, next=to, values=values, errors={"form": exc.detail})
        response.headers.update(exc.headers)
        return response
    except auth.FormErrors as exc:
        return _signin_form(request, surface, 401, next=to, values=values, errors=exc.errors)
    return _signed_in(request, signed, to)


async def _signout(request: Request, surface: Surface, db: SessionDep) -> Response:
    token = request.cookies.get(surface.cookie)
    # The server-side session ends whatever the form carries: a browser asking to sign out is never kept in
    # (a cross-site sign-out can only sign someone out, and SameSite keeps the cookie off such requests anyway).
    await auth.sign_out(db, token)
    response = RedirectResponse(f"{surface.prefix}/signin", status_code=303)
    response.delete_cookie(surface.cookie, path="/")
    return response


Email = Annotated[str, Form(max_length=320)]
Password = Annotated[str, Form(max_length=200)]


def _surface_routes(surface: Surface) -> None:
    """Sign-in and sign-out pages for one surface (the same form; a different table and cookie)."""

    @router.get(f"{surface.prefix}/signin", response_class=HTMLResponse, name=f"signin_page_{surface.kind}")
    async def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
        """The sign-in form."""
        return _signin_form(request, surface, next=_local(next, surface))

    @router.post(f"{surface.prefix}/signin", response_class=HTMLResponse, name=f"signin_{surface.kind}")
    async def signin(request: Request, db: SessionDep, now: NowDep, email: Email = "", password: Password = "",
                     pre: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
        """Sign in: a fresh session on success, the form again with the error otherwise."""
        return await _signin(request, surface, db, now, email, password, pre, next)

    @router.post(f"{surface.prefix}/signout", name=f"signout_{surface.kind}")
    async def signout(request: Request, db: SessionDep, csrf: Annotated[str, Form()] = "") -> Response:
        """Sign this browser out of this surface."""
        return await _signout(request, surface, db)


for _surface in SURFACES.values():
    _surface_routes(_surface)


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request) -> HTMLResponse:
    """The sign-up form."""
    return _form(request, "signup.html")


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request, db: SessionDep, now: NowDep,
                 household: Annotated[str, Form(max_length=400)] = "", name: Annotated[str, Form(max_length=400)] = "",
                 email: Annotated[str, Form(max_length=400)] = "", password: Annotated[str, Form(max_length=400)] = "",
                 pre: Annotated[str, Form()] = "") -> Response:
    """Create a household and its first member, then sign in; errors show next to their fields."""
    values = {"household": household, "name": name, "email": email}
    if not _pre_ok(request, pre):
        return _form(request, "signup.html", 403, values=values,
                     errors={"form": "The form expired; please try again."})
    try:
        settings = request.app.state.settings
        member = await auth.sign_up(db, household, name, email, password, now, limits.Limits.of(settings),
                                    limits.client_address(request, settings))
    except auth.FormErrors as exc:
        return _form(request, "signup.html", 422, values=values, errors=exc.errors)
    signed = await auth.open_session(db, member.id, now)
    return _signed_in(request, signed, "/portal")
