"""One error type with a stable code, and the handler that turns it into RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_TYPE = "https://threshold.dev/problems/"


class ThresholdError(Exception):
    """A refusal or failure a caller can act on; `code` is stable and documented."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        keep_changes: bool = False,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        if code:
            self.code = code
        if status:
            self.status = status
        if title:
            self.title = title
        self.detail = detail or self.title
        # A refusal that touched access keeps its audit record: the request boundary commits it.
        self.keep_changes = keep_changes
        self.extra = extra or {}
        # Response headers the refusal needs, such as Retry-After on a 429.
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body for this error."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(ThresholdError):
    """The thing does not exist, or the caller may not know that it does."""

    status, code, title = 404, "not_found", "Not found"


class Unauthorized(ThresholdError):
    """No valid credentials."""

    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(ThresholdError):
    """Valid credentials, but not for this."""

    status, code, title = 403, "forbidden", "Not allowed"


class Conflict(ThresholdError):
    """The request clashes with the current state."""

    status, code, title = 409, "conflict", "Conflict"


class EntryRefused(ThresholdError):
    """An ask for entry the rules refuse; always audited."""

    status, code, title = 403, "entry_refused", "Entry refused"


def problem_response(err: ThresholdError, instance: str | None = None) -> JSONResponse:
    """Render an error as application/problem+json."""
    return JSONResponse(err.problem(instance), status_code=err.status, media_type="application/problem+json",
                        headers=err.headers or None)


def install_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers so that no stack trace or internal id ever leaks."""

    async def on_threshold(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ThresholdError)
        return problem_response(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        err = ThresholdError(
            "The request does not match the schema.",
            code="validation_failed",
            status=422,
            title="Invalid request",
            extra={"errors": errors},
        )
        return problem_response(err, request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        err = ThresholdError(
            str(exc.detail), code=codes.get(exc.status_code, "http_error"), status=exc.status_code,
            title=str(exc.detail), headers=headers,
        )
        return problem_response(err, request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        err = ThresholdError("An internal error occurred.", code="internal_error", status=500, title="Internal error")
        return problem_response(err, request.url.path)

    app.add_exception_handler(ThresholdError, on_threshold)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
    document_problems(app)


def allowed_methods(request: Request) -> str:
    """Every method the requested path answers (RFC 9110's Allow); Starlette names only its first route's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "description": "An RFC 9457 problem; `code` is stable and documented.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "code": {"type": "string"}, "instance": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "object"}}},
}


def document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI what every error is: problem+json, for a 422 and for any other refusal or failure."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "The request does not match the schema", **problem}
                responses["default"] = {"description": "A refusal or failure", **problem}
        # FastAPI's own validation error shape is never sent.
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
