"""Fixtures: a clean database per test (SQLite and PostgreSQL), a running threshold, the CLI environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threshold.db import migrate_sync
from threshold.models import Base
from threshold.sim.harness import Harness, running

ROOT = Path(__file__).resolve().parents[1]


def _pg_admin_url() -> str | None:
    if os.environ.get("THRESHOLD_TEST_BACKENDS", "sqlite,postgresql").find("postgresql") < 0:
        return None
    url = os.environ.get("THRESHOLD_TEST_PG_URL")
    if url:
        return url
    out = subprocess.run([str(ROOT / "scripts" / "ensure-postgres.sh")], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    return out.stdout.strip() or None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head, dropped afterwards."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.fail("PostgreSQL is required: run `make test` (it starts one) or set THRESHOLD_TEST_PG_URL")
    name = f"threshold_test_{uuid.uuid4().hex[:8]}"

    async def admin_sql(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    migrate_sync(url)
    yield url
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _backends() -> list[str]:
    return [b for b in os.environ.get("THRESHOLD_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database: SQLite in a temp dir, or the run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'threshold.db'}"
        migrate_sync(url)
        yield url
        return
    url: str = request.getfixturevalue("pg_url")

    async def truncate() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())
    yield url


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    """A running threshold on a fresh simulated neighbourhood, reached through its HTTP API."""
    async with running(database_url) as h:
        yield h


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """The run's Mosquitto: THRESHOLD_TEST_MQTT_URL (set by `make test`), or one started here."""
    url = os.environ.get("THRESHOLD_TEST_MQTT_URL")
    if url:
        return url
    out = subprocess.run([str(ROOT / "scripts" / "ensure-mosquitto.sh")], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    if not out.stdout.strip():
        pytest.fail(f"Mosquitto is required: run `make test` (it starts one). {out.stderr[-400:]}")
    os.environ["THRESHOLD_TEST_MQTT_URL"] = out.stdout.strip()
    return out.stdout.strip()


@pytest.fixture
async def wired_harness(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    """A running threshold whose devices speak zigbee2mqtt over a real broker, read by the MQTT adapter.

    On PostgreSQL the broker is the run's Mosquitto; on SQLite it is the embedded broker `threshold demo`
    uses, so the suite also runs on the embedded default.
    """
    broker = "embedded" if database_url.startswith("sqlite") else request.getfixturevalue("mqtt_url")
    async with running(database_url, mqtt=broker) as h:
        yield h


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    """Environment for running the `threshold` CLI against the test database."""
    return {**os.environ, "THRESHOLD_DATABASE_URL": database_url, "THRESHOLD_MODE": "test"}
