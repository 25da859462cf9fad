"""Who is signed in to the portal, and the CSRF check on every change."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form, Header, Request
from fastapi.templating import Jinja2Templates

from threshold.deps import NowDep, SessionDep
from threshold.errors import ThresholdError
from threshold.times import FILTERS as TIME_FILTERS
from threshold.web import auth
from threshold.web.models import WebSession

COOKIE, PRE_COOKIE = "thr_session", "thr_pre"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Every time on a page is read in the household's zone, by the same helpers as the notifications.
templates.env.filters.update(TIME_FILTERS)


@dataclass(frozen=True, slots=True)
class Surface:
    """One of the web's front doors: who signs in there, under which cookie, and where they land."""

    kind: str
    cookie: str
    home: str
    prefix: str
    title: str


# A driver's or an operator's cookie is never a household's: each surface reads only its own.
SURFACES = {"member": Surface("member", COOKIE, "/portal", "", "Household sign-in"),
            "driver": Surface("driver", "thr_driver", "/driver", "/driver", "Driver sign-in"),
            "operator": Surface("operator", "thr_ops", "/ops", "/ops", "Operator sign-in")}


class SignInRequired(ThresholdError):
    """No session for this surface: the browser is sent to its sign-in page."""

    status, code, title = 401, "sign_in_required", "Sign in first"

    def __init__(self, surface: Surface = SURFACES["member"]) -> None:
        super().__init__()
        self.surface = surface


class BadCsrf(ThresholdError):
    """A change without this session's CSRF token (a forged request from another site, or a stale page)."""

    status, code, title = 403, "csrf_failed", "The form expired; reload the page and try again"


def session_for(kind: str) -> Callable[..., Awaitable[WebSession]]:
    """A dependency: the signed-in browser's session on this surface, or SignInRequired."""
    surface = SURFACES[kind]

    async def signed_in(request: Request, db: SessionDep, now: NowDep) -> WebSession:
        row = await auth.session_of(db, request.cookies.get(surface.cookie), now, kind)
        if row is None:
            raise SignInRequired(surface)
        return row

    return signed_in


def checked_for(kind: str) -> Callable[..., Awaitable[WebSession]]:
    """A dependency: the session, once the request proved it came from our own page (CSRF token)."""
    signed_in = session_for(kind)

    # Depends as a default, not in Annotated: annotations are strings here and `signed_in` is a local name.
    async def checked(request: Request, csrf: Annotated[str | None, Form()] = None,
                      x_csrf_token: Annotated[str | None, Header()] = None,
                      session: WebSession = Depends(signed_in)) -> WebSession:
        if not auth.csrf_ok(session, csrf or x_csrf_token):
            raise BadCsrf()
        return session

    return checked


PortalDep = Annotated[WebSession, Depends(session_for("member"))]
CheckedDep = Annotated[WebSession, Depends(checked_for("member"))]
DriverWebDep = Annotated[WebSession, Depends(session_for("driver"))]
DriverCheckedDep = Annotated[WebSession, Depends(checked_for("driver"))]
OpsWebDep = Annotated[WebSession, Depends(session_for("operator"))]
OpsCheckedDep = Annotated[WebSession, Depends(checked_for("operator"))]


def secure(request: Request) -> bool:
    """Cookies are Secure on HTTPS and in production (behind a TLS proxy)."""
    return request.url.scheme == "https" or request.app.state.settings.mode == "production"


def pre_token(request: Request) -> str:
    """The anonymous forms' double-submit token (sign-in and sign-up cannot be forged from another site)."""
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
