"""Who is signed in to the portal, and the CSRF check on every change."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form, Header, Request
from fastapi.templating import Jinja2Templates

from threshold.deps import NowDep, SessionDep
from threshold.errors import ThresholdError
from threshold.web import auth
from threshold.web.models import WebSession

COOKIE, PRE_COOKIE = "thr_session", "thr_pre"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInRequired(ThresholdError):
    """No portal session: the browser is sent to the sign-in page."""

    status, code, title = 401, "sign_in_required", "Sign in first"


class BadCsrf(ThresholdError):
    """A change without this session's CSRF token (a forged request from another site, or a stale page)."""

    status, code, title = 403, "csrf_failed", "The form expired; reload the page and try again"


async def portal_session(request: Request, db: SessionDep, now: NowDep) -> WebSession:
    """The signed-in browser's session, or SignInRequired."""
    row = await auth.session_of(db, request.cookies.get(COOKIE), now)
    if row is None:
        raise SignInRequired()
    return row


PortalDep = Annotated[WebSession, Depends(portal_session)]


async def checked(request: Request, session: PortalDep, csrf: Annotated[str | None, Form()] = None,
                  x_csrf_token: Annotated[str | None, Header()] = None) -> WebSession:
    """The session, once the request proved it came from our own page."""
    if not auth.csrf_ok(session, csrf or x_csrf_token):
        raise BadCsrf()
    return session


CheckedDep = Annotated[WebSession, Depends(checked)]


def secure(request: Request) -> bool:
    """Cookies are Secure on HTTPS and in production (behind a TLS proxy)."""
    return request.url.scheme == "https" or request.app.state.settings.mode == "production"


def pre_token(request: Request) -> str:
    """The anonymous forms' double-submit token (sign-in and sign-up cannot be forged from another site)."""
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
