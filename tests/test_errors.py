"""The problem+json handlers: a 405 names every method its path answers, and the OpenAPI says what errors are."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from threshold.errors import install_handlers


class Thing(BaseModel):
    """A body to validate."""

    name: str


def small_app() -> FastAPI:
    """Two routes on one path, each with one method, as threshold's routers declare them."""
    app = FastAPI()
    install_handlers(app)

    @app.get("/things")
    async def list_things() -> list[str]:
        return []

    @app.post("/things")
    async def add_thing(body: Thing) -> str:
        return body.name

    return app


def test_a_405_lists_every_method_of_the_path_in_allow() -> None:
    r = TestClient(small_app()).delete("/things")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"


def test_the_openapi_documents_every_error_as_problem_json() -> None:
    spec = small_app().openapi()
    responses = spec["paths"]["/things"]["post"]["responses"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert responses["422"]["content"] == problem and responses["default"]["content"] == problem
    assert spec["paths"]["/things"]["get"]["responses"]["default"]["content"] == problem
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
