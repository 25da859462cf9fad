"""The request guard: control characters in the request line, oversized and over-deep bodies, NUL in bodies, and
database refusals of input are problem+json 4xx; streams and ordinary requests pass untouched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from threshold.errors import install_handlers
from threshold.request_guard import MAX_BODY, MAX_DEPTH, RequestGuard, install, json_problem, target_problem


class SqlState(Exception):
    """A driver error carrying a SQLSTATE, as SQLAlchemy's asyncpg adapter raises them."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def guarded_app() -> FastAPI:
    """A small app wired like threshold's: problem handlers, then the guard."""
    app = FastAPI()
    install_handlers(app)
    install(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"body": (await request.body()).decode()}

    @app.get("/things/{name}")
    async def thing(name: str, q: str = "") -> dict[str, str]:
        return {"name": name, "q": q}

    @app.get("/fail/{kind}")
    async def fail(kind: str) -> None:
        if kind == "pg-data":
            raise DBAPIError("SELECT 1", {}, SqlState("22021"))
        if kind == "data":
            raise DataError("SELECT 1", {}, ValueError("bad"))
        if kind == "locked":
            raise OperationalError("BEGIN", {}, SqlState("55P03"))
        if kind == "surrogate":
            "a\ud800".encode()
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """A client of the guarded app that sees 500s as responses."""
    with TestClient(guarded_app(), raise_server_exceptions=False) as c:
        yield c


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The problem+json body, once its status and code are the ones expected."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    return body


@pytest.mark.parametrize("path", ["/things/a%00b", "/things/a%0Ab", "/things/%C2%85", "/things/a\\u0000"])
def test_a_control_character_in_the_path_is_refused(client: TestClient, path: str) -> None:
    body = problem(client.get(path), 422, "invalid_characters")
    assert "instance" not in body


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "q=%5Cu0000", "q=%5cx00", "q=a%01", "%00=x", "q=a%0d%0a"])
def test_a_control_character_in_the_query_is_refused(client: TestClient, query: str) -> None:
    problem(client.get(f"/things/ok?{query}"), 422, "invalid_characters")


def test_an_ordinary_request_line_passes(client: TestClient) -> None:
    r = client.get("/things/Zo%C3%AB?q=a+b%20c%2Fd")
    assert r.status_code == 200 and r.json() == {"name": "Zoë", "q": "a b c/d"}


def test_json_nested_past_the_limit_is_refused_and_at_the_limit_passes(client: TestClient) -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    problem(client.post("/echo", content=deep, headers={"content-type": "application/json"}), 422, "json_too_deep")
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert client.post("/echo", content=ok, headers={"content-type": "application/json"}).json() == {"body": ok}


def test_a_hundred_thousand_levels_are_refused_without_recursion(client: TestClient) -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    problem(client.post("/echo", content=deep), 422, "json_too_deep")


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"a": "[[[[" * 40 + '\\"{{' * 40})
    assert json_problem(text.encode()) is None


def test_nul_in_a_json_string_is_refused_but_an_escaped_backslash_before_u0000_is_not(client: TestClient) -> None:
    problem(client.post("/echo", json={"name": "a\x00b"}), 422, "invalid_characters")
    assert json_problem(json.dumps({"name": "a\\u0000"}).encode()) is None


def test_nul_in_a_form_is_refused(client: TestClient) -> None:
    problem(client.post("/echo", content="name=a%00b",
                        headers={"content-type": "application/x-www-form-urlencoded"}), 422, "invalid_characters")


def test_a_body_declared_too_large_is_refused_with_413(client: TestClient) -> None:
    problem(client.post("/echo", content=b"x" * (MAX_BODY + 1), headers={"content-type": "text/plain"}),
            413, "body_too_large")


def test_a_chunked_body_that_grows_too_large_is_refused_with_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    problem(client.post("/echo", content=chunks(), headers={"content-type": "text/plain"}), 413, "body_too_large")


def test_a_body_within_the_limit_reaches_the_app_whole(client: TestClient) -> None:
    text = "y" * (MAX_BODY - 10)
    assert client.post("/echo", content=text, headers={"content-type": "text/plain"}).json() == {"body": text}


@pytest.mark.parametrize(("kind", "code"), [("pg-data", "invalid_input"), ("data", "invalid_input"),
                                            ("surrogate", "invalid_input"), ("overflow", "out_of_range")])
def test_a_database_refusing_a_value_is_a_422(client: TestClient, kind: str, code: str) -> None:
    problem(client.get(f"/fail/{kind}"), 422, code)


def test_any_other_database_error_is_still_a_500_problem(client: TestClient) -> None:
    body = problem(client.get("/fail/locked"), 500, "internal_error")
    assert "55P03" not in json.dumps(body)


def test_target_problem_names_path_and_query_apart() -> None:
    assert target_problem("/a", b"") is None
    path = target_problem("/a\x00", b"")
    query = target_problem("/a", b"x=%00")
    assert path is not None and "path" in path.detail
    assert query is not None and "query" in query.detail


async def test_a_stream_passes_through_and_still_hears_the_disconnect() -> None:
    """The body is replayed once; after it the app's receive() is the client's, so a stream ends on disconnect."""
    seen: list[dict[str, Any]] = []

    async def streaming_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"frame%d" % i, "more_body": True})
        seen.append(await receive())
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    incoming = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                {"type": "http.request", "body": b"1}", "more_body": False},
                {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/live", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}
    await RequestGuard(streaming_app)(scope, receive, send)
    assert seen == [{"type": "http.request", "body": b'{"a":1}', "more_body": False}, {"type": "http.disconnect"}]
    assert [m.get("body") for m in sent[1:]] == [b"frame0", b"frame1", b"frame2", b""]
