"""The request guard: what no schema can see is refused before any route runs, as problem+json.

- A control character in the path or the query string, raw or percent-encoded, or NUL spelled \\u0000 or \\x00
  for a layer that might unescape it: 422 `invalid_characters`. Path and query reach lookups, logs and redirects
  before any schema checks them, and no value of this API's request line is ever multi-line text.
- A request body over MAX_BODY bytes: 413 `body_too_large`, counted as it arrives (a lying or absent
  Content-Length changes nothing).
- A JSON body nested deeper than MAX_DEPTH: 422 `json_too_deep` (Python's parser would recurse until it fails).
- NUL in a JSON or form body: 422 `invalid_characters` (PostgreSQL refuses NUL in text; every field is covered,
  including those whose schema says only `str`).

Only the request is read here, and a body is replayed to the app exactly once; the response is never touched, so
streaming answers (MJPEG, SSE, clips) pass as they are. Last, the handlers below turn a database's refusal of a
value the request carried (PostgreSQL class 22, SQLite's integer overflow, text no database can encode) into 422
rather than 500.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threshold.errors import ThresholdError, problem_response

log = structlog.get_logger("threshold.guard")

MAX_BODY = 1 << 20
MAX_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_TARGET_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]|\\u0000|\\x00", re.IGNORECASE)
# Inside a JSON text only these tokens matter: escapes (so that \" does not end a string), quotes and brackets.
_JSON_TOKENS = re.compile(rb'\\u0000|\\.|["\[\]{}]', re.DOTALL)
_FORM_NUL = re.compile(rb"%00|\x00")


class Refused(ThresholdError):
    """A request the guard turned away before any route saw it."""

    status, code, title = 422, "invalid_characters", "Invalid characters"


def target_problem(path: str, query: bytes) -> Refused | None:
    """Why the request line may not reach the app (a control character in the decoded path or query), or None."""
    if _TARGET_CONTROLS.search(path):
        return Refused("The path contains a control character.")
    if _TARGET_CONTROLS.search(unquote_plus(query.decode("latin-1"), errors="replace")):
        return Refused("The query string contains a control character.")
    return None


def json_problem(body: bytes, max_depth: int = MAX_DEPTH) -> Refused | None:
    """Why a JSON body may not reach the app (nested deeper than `max_depth`, or NUL in a string), or None.

    Invalid JSON is left for the parser to refuse: only what it would accept and choke on is judged here.
    """
    depth = 0
    in_string = False
    for token in _JSON_TOKENS.finditer(body):
        t = token.group()
        if t == b'"':
            in_string = not in_string
        elif in_string:
            if t == b"\\u0000":
                return Refused("The JSON body contains a NUL character.")
        elif t in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return Refused(f"The JSON body is nested deeper than {max_depth} levels.", code="json_too_deep",
                               title="JSON nested too deeply")
        elif t in (b"]", b"}"):
            depth -= 1
    return None


def _media_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bytes(value).decode("latin-1").split(";", 1)[0].strip().lower()
    return None


def body_problem(media_type: str | None, body: bytes, max_depth: int = MAX_DEPTH) -> Refused | None:
    """Why a whole body may not reach the app, by its media type; None when it may."""
    # FastAPI reads a body without a content type as JSON, so it is judged as JSON here too.
    if media_type is None or media_type == "application/json" or media_type.endswith("+json"):
        return json_problem(body, max_depth)
    if media_type == "application/x-www-form-urlencoded" and _FORM_NUL.search(body):
        return Refused("The form contains a NUL character.")
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestGuard:
    """Pure ASGI middleware: refuse what schemas cannot see, then pass the request on unchanged."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY, max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request line, then (for a method that carries one) the whole body, then call the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = target_problem(scope["path"], scope.get("query_string", b""))
        if refusal is not None:
            # The offending path is not echoed back as the problem's instance.
            await problem_response(refusal)(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body:
            await problem_response(self._too_large(), scope["path"])(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await problem_response(self._too_large(), scope["path"])(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = body_problem(_media_type(scope), body, self.max_depth)
        if refusal is not None:
            await problem_response(refusal, scope["path"])(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> ThresholdError:
        return ThresholdError(f"The request body exceeds {self.max_body} bytes.", code="body_too_large", status=413,
                              title="Request body too large")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the client's own messages (a streaming answer listens there for the disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def caused_by_input(exc: DBAPIError) -> bool:
    """True when the database refused a value the request carried (PostgreSQL's class 22, data exception)."""
    if isinstance(exc, DataError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(sqlstate or "").startswith("22")


def install(app: FastAPI) -> None:
    """Put the guard in front of the routes, and map values the database refuses to 422 (a last line of defence:
    the input types should have refused them first, so each is logged)."""
    app.add_middleware(RequestGuard)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if not caused_by_input(exc):
            raise exc
        log.warning("input.refused_by_database", path=request.url.path, error=type(exc.orig).__name__)
        err = ThresholdError("A value in the request is out of range or holds characters that cannot be stored.",
                             code="invalid_input", status=422, title="Invalid input")
        return problem_response(err, request.url.path)

    async def on_overflow(request: Request, exc: Exception) -> JSONResponse:
        # SQLite's driver refuses an int past 64 bits, and date arithmetic past the year 9999, with this error.
        log.warning("input.overflow", path=request.url.path, error=str(exc))
        err = ThresholdError("A number or time in the request is out of range.", code="out_of_range", status=422,
                             title="Out of range")
        return problem_response(err, request.url.path)

    async def on_unencodable(request: Request, exc: Exception) -> JSONResponse:
        # Only text from outside holds a lone surrogate (JSON's "\ud800"); no driver can encode it.
        log.warning("input.unencodable", path=request.url.path, error=type(exc).__name__)
        err = ThresholdError("The request holds text that cannot be stored.", code="invalid_input", status=422,
                             title="Invalid input")
        return problem_response(err, request.url.path)

    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(UnicodeEncodeError, on_unencodable)
