"""Attacks replayed over HTTP against a real `threshold serve` process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import Server, backends, serving


@pytest.fixture(scope="module", params=backends())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module and backend; each test uses its own homes, drivers or accounts."""
    with serving(request.param, tmp_path_factory.mktemp(f"server-{request.param}")) as s:
        yield s
