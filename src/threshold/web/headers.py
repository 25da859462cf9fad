"""Security headers on every response: a strict Content-Security-Policy, no framing, no sniffing, no referrer.

The pages load only their own scripts and styles (no inline script, no eval, no inline style); clip and guest
links carry their secret in the address, so no referrer ever leaves. The headers are added outside every other
layer, so an error page, a 500 from the last-resort handler or an overload refusal carries them as well.
FastAPI's own API docs load Swagger UI / ReDoc from a CDN with an inline bootstrap script: those few pages get a
policy that allows exactly that. A route that sets a Content-Security-Policy of its own keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything the pages need comes from this origin: htmx and its SSE extension, app.css, static/js, the live
# view (an <img>), clips (<video>), EventSource and htmx requests.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "media-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (f"default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; style-src 'self' 'unsafe-inline' {CDN} "
            "https://fonts.googleapis.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=63072000; includeSubDomains"


def header_set(csp: str, production: bool) -> list[tuple[str, str]]:
    """The headers every response gets; HSTS only in production, where threshold sits behind TLS."""
    headers = [("content-security-policy", csp), ("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"),
               ("referrer-policy", "no-referrer"), ("cross-origin-opener-policy", "same-origin")]
    return [*headers, ("strict-transport-security", HSTS)] if production else headers


class SecurityHeaders:
    """ASGI middleware that sets the security headers on every HTTP response (streams included)."""

    def __init__(self, app: ASGIApp, production: bool, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self.pages = header_set(CSP, production)
        self.docs = header_set(DOCS_CSP, production)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = self.docs if scope["path"] in self.docs_paths else self.pages

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in chosen:
                    # A page that brings a policy of its own keeps it (the demo's mail catcher shows mail HTML in
                    # a sandboxed frame); every other header is the site's and replaces what a route sent.
                    if name == "content-security-policy" and name in headers:
                        continue
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, production: bool) -> None:
    """Wrap the whole app, outside Starlette's error middleware: its 500 answers are sent past any user
    middleware, and they must carry the headers too."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    docs = [p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p]

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build(), production, docs)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
