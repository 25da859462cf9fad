"""The web's wiring: pages, static files (our CSS; htmx from node_modules, installed from the npm registry), and
errors shown as pages to browsers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from threshold import limits
from threshold.errors import NotFound, problem_response
from threshold.homes import members as members_service
from threshold.web import (
    account,
    demo,
    doors,
    driver,
    guest_page,
    guests,
    headers,
    keypad,
    members,
    ops,
    ops_people,
    partners,
    portal,
    rules,
    setup,
)
from threshold.web.deps import SURFACES, BadCsrf, SignInRequired, Surface, templates

STATIC = Path(__file__).parent / "static"
# The pages' own scripts (the Content-Security-Policy allows no inline script): only these files are served.
SCRIPTS = frozenset(p.name for p in (STATIC / "js").glob("*.js"))
# Third-party browser code is installed by `make setup` (npm ci) and served from there, never copied in.
VENDOR = {"htmx.min.js": ("htmx.org", "dist/htmx.min.js"), "sse.js": ("htmx-ext-sse", "dist/sse.min.js")}
router = APIRouter(include_in_schema=False)


def node_modules() -> Path:
    """Where `npm ci` put the browser packages: the checkout's node_modules."""
    return Path(__file__).resolve().parents[3] / "node_modules"


@router.get("/")
async def root(request: Request) -> RedirectResponse:
    """The portal (the sign-in page when nobody is signed in); the demo's own front page in `threshold demo`."""
    demo_running = getattr(request.app.state, "demo_world", None) is not None
    return RedirectResponse("/demo" if demo_running else "/portal", status_code=303)


@router.get("/static/app.css")
async def css() -> FileResponse:
    """The portal's style sheet."""
    return FileResponse(STATIC / "app.css", media_type="text/css", headers={"cache-control": "max-age=300"})


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The site's icon: a small SVG (browsers ask for /favicon.ico and take what its type says)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


@router.get("/static/js/{name}")
async def script(name: str) -> FileResponse:
    """One of the pages' own scripts."""
    if name not in SCRIPTS:
        raise NotFound("No such file.")
    return FileResponse(STATIC / "js" / name, media_type="text/javascript", headers={"cache-control": "max-age=300"})


@router.get("/static/vendor/{name}")
async def vendor(name: str) -> FileResponse:
    """A browser library from the npm registry (htmx and its SSE extension)."""
    if name not in VENDOR:
        raise NotFound("No such file.")
    package, path = VENDOR[name]
    found = node_modules() / package / path
    if not found.is_file():
        raise NotFound(f"{package} is not installed: run `make setup`.", code="asset_missing")
    return FileResponse(found, media_type="text/javascript", headers={"cache-control": "max-age=3600"})


def surface_of(path: str) -> Surface:
    """The surface a page belongs to, by its path (the portal for anything else)."""
    for surface in SURFACES.values():
        if surface.prefix and (path == surface.prefix or path.startswith(f"{surface.prefix}/")):
            return surface
    return SURFACES["member"]


def install(app: FastAPI) -> None:
    """Add the web's routes, the handlers that answer browsers with pages, and the security headers."""
    headers.install(app, production=app.state.settings.mode == "production")
    app.include_router(router)
    app.include_router(account.router)
    # setup first: its /portal/homes/new must win over the portal's /portal/homes/{home_id}.
    # Changes on these pages are an owner's; a member's are refused (owner_only) and audited.
    owners = [Depends(members.owners_only)]
    for pages in (demo, setup, rules, portal, doors, guests, keypad, partners, driver, guest_page, ops_people, ops):
        app.include_router(pages.router, dependencies=owners if pages in (setup, guests, keypad, partners) else [])
    app.include_router(members.router)
    app.add_exception_handler(members_service.OwnerOnly, members.owner_only_page)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"{exc.surface.prefix}/signin?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(limits.TooManyAttempts)
    async def slow_down(request: Request, exc: limits.TooManyAttempts) -> Response:
        if request.url.path.startswith("/v1/"):
            return problem_response(exc, request.url.path)
        page = templates.TemplateResponse(request, "error.html", {
            "title": exc.title, "detail": exc.detail, "csrf": None, "surface": surface_of(request.url.path)},
            status_code=exc.status)
        page.headers.update(exc.headers)
        return page

    @app.exception_handler(BadCsrf)
    async def forged(request: Request, exc: BadCsrf) -> HTMLResponse:
        return templates.TemplateResponse(request, "error.html", {
            "title": exc.title, "detail": exc.detail, "csrf": None, "surface": surface_of(request.url.path)},
            status_code=exc.status)
