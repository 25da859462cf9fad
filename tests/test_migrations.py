"""The migrations build exactly the schema the models declare, and can be taken down and up again."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from threshold.db import alembic_config, make_engine
from threshold.models import Base


def _backends() -> list[str]:
    return [b for b in os.environ.get("THRESHOLD_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


async def _admin_sql(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@pytest.fixture(params=_backends())
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database that no migration has touched: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    server = str(request.getfixturevalue("pg_url")).rsplit("/", 1)[0]
    name = f"threshold_mig_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_sql(f"{server}/postgres", f'CREATE DATABASE "{name}"'))
    yield f"{server}/{name}"
    asyncio.run(_admin_sql(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _inspect(url: str, look: Any) -> Any:
    async def main() -> Any:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def schema_diff(url: str) -> list[Any]:
    """What autogenerate would still write: differences between the migrated database and the models."""

    def look(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, Base.metadata))

    return list(_inspect(url, look))


def tables(url: str) -> set[str]:
    """The database's table names."""
    return set(_inspect(url, lambda conn: inspect(conn).get_table_names()))


def test_upgrade_head_on_a_fresh_database_matches_the_models(fresh_url: str) -> None:
    assert tables(fresh_url) == set()
    command.upgrade(alembic_config(fresh_url), "head")
    assert tables(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_diff(fresh_url) == []


def test_downgrade_to_base_then_upgrade_to_head_round_trips(fresh_url: str) -> None:
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    assert tables(fresh_url) == {"alembic_version"}
    command.upgrade(cfg, "head")
    assert tables(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_diff(fresh_url) == []
