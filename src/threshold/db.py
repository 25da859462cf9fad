"""Database wiring: declarative base, engine, sessions, and migrations applied at start-up."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every table."""

    metadata = MetaData(naming_convention=NAMING)


def new_id() -> uuid.UUID:
    """An opaque, unguessable id."""
    return uuid.uuid4()


def id_column() -> Mapped[uuid.UUID]:
    """Primary key column holding a UUID."""
    return mapped_column(primary_key=True, default=new_id)


def utcnow() -> datetime:
    """The current aware UTC time (for the shell only; rules get `now` passed in)."""
    return datetime.now(UTC)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; SQLite takes its write lock at BEGIN so writers queue, not fail.

    `foreign_keys=False` is for migrations only: SQLite changes a table by copying it and dropping the old one, and
    with foreign keys enforced that drop would delete (ON DELETE CASCADE) the rows that refer to it.
    """
    if _is_sqlite(url):
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, poolclass=NullPool if ":memory:" not in url else None, **kwargs
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def close_failed(db: AsyncSession, err: BaseException) -> None:
    """End a transaction whose work raised: roll back, except an audited refusal, whose record must stand."""
    if getattr(err, "keep_changes", False):
        await db.commit()
    else:
        await db.rollback()


# Migrations live at the repository root, beside src/, as the layout in docs/ shows.
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the packaged migrations and the given database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def migrate_sync(url: str) -> None:
    """Apply every migration up to head (blocking)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Apply every migration up to head without blocking the event loop."""
    await asyncio.to_thread(migrate_sync, url)
