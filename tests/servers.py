"""A real `threshold serve` process on loopback, on a fresh database and neighbourhood, for attacks over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threshold.db import make_engine, make_sessionmaker, migrate_sync
from threshold.devices.broker import free_port
from threshold.sim import neighbourhood

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "threshold")
SECRET = "security-tests-" + "k" * 40


@dataclass(slots=True)
class Server:
    """A running server: its address, the neighbourhood it was seeded with, and how to reach its database."""

    url: str
    world: dict[str, Any]
    database_url: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]

    def client(self, **kwargs: Any) -> httpx.Client:
        """A fresh HTTP client (no cookies shared with other clients)."""
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    @property
    def password(self) -> str:
        """Every seeded account's password."""
        return str(self.world["password"])

    def member_token(self, home: int = 0) -> str:
        """A bearer token for the member of seeded home `home`."""
        with self.client() as c:
            r = c.post("/v1/household/token", json={"email": self.world["homes"][home]["member_email"],
                                                    "password": self.password})
            r.raise_for_status()
            return str(r.json()["access_token"])

    def driver_token(self, driver: int = 0) -> str:
        """A bearer token for seeded driver `driver`."""
        with self.client() as c:
            r = c.post("/v1/driver/token", json={"email": self.world["drivers"][driver][1],
                                                 "password": self.password})
            r.raise_for_status()
            return str(r.json()["access_token"])

    def partner_headers(self) -> dict[str, str]:
        """The seeded partner's API key as a header."""
        return {"Authorization": f"Bearer {self.world['api_key']}"}

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run one SQL statement against the server's database (the test's independent view of what happened)."""
        async def main() -> list[Any]:
            engine = create_async_engine(self.database_url)
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return list(result.all()) if result.returns_rows else []
            finally:
                await engine.dispose()

        return asyncio.run(main())

    def audit(self, action: str, chain: str | None = None) -> list[dict[str, Any]]:
        """Audit records with this action (in one chain, or all), oldest first."""
        where = "action = :action" + (" AND home_id = :chain" if chain else "")
        params: dict[str, Any] = {"action": action}
        if chain:
            params["chain"] = uuid.UUID(chain) if self.database_url.startswith("postgresql") else \
                uuid.UUID(chain).hex
        rows = self.sql(f"SELECT actor, subject, data, home_id FROM audit_records WHERE {where} ORDER BY at, seq",
                        **params)
        return [{"actor": r[0], "subject": r[1], "data": r[2] if isinstance(r[2], dict) else json.loads(r[2]),
                 "chain": str(r[3])} for r in rows]


def backends() -> list[str]:
    """The backends the suite runs on (THRESHOLD_TEST_BACKENDS)."""
    return [b for b in os.environ.get("THRESHOLD_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def pg_admin_url() -> str:
    """The PostgreSQL server the tests use (THRESHOLD_TEST_PG_URL, or one found or started by the script)."""
    url = os.environ.get("THRESHOLD_TEST_PG_URL")
    if url:
        return url
    out = subprocess.run([str(ROOT / "scripts" / "ensure-postgres.sh")], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    if not out.stdout.strip():
        raise RuntimeError("PostgreSQL is required: run `make test` or set THRESHOLD_TEST_PG_URL")
    return out.stdout.strip()


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A database of its own for one server: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'threshold.db'}"
        return
    admin = pg_admin_url()
    name = f"threshold_sec_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Return once the process answers /healthz; fail with its log if it dies or never answers."""
    end = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5) as c:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"threshold serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if c.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"threshold serve did not answer:\n{log.read_text()[-3000:]}")


def seed(url: str, homes: int, drivers: int) -> dict[str, Any]:
    """Migrate the database and build a neighbourhood in it (what `threshold seed` does, without a process)."""
    migrate_sync(url)

    async def build() -> neighbourhood.World:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as db:
                world = await neighbourhood.build(db, homes=homes, drivers=drivers)
                await db.commit()
                return world
        finally:
            await engine.dispose()

    found: dict[str, Any] = json.loads(json.dumps(asdict(asyncio.run(build())), default=str))
    return found


def base_env(database_url: str, tmp: Path) -> dict[str, str]:
    """Settings for a server under test: short device waits, a secret of its own, clips in the temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRESHOLD_") or k.startswith("THRESHOLD_TEST")}
    env.update({"THRESHOLD_DATABASE_URL": database_url, "THRESHOLD_MODE": "test", "THRESHOLD_SECRET_KEY": SECRET,
                "THRESHOLD_CLIP_DIR": str(tmp / "clips"), "THRESHOLD_CLIP_POST_ROLL": "0.5",
                "THRESHOLD_CAMERA_TIMEOUT": "5", "THRESHOLD_LOCK_TIMEOUT": "3", "THRESHOLD_ENTRY_WAIT_SECONDS": "15",
                "THRESHOLD_RECONCILE_INTERVAL": "5", "THRESHOLD_SWEEP_INTERVAL": "0.1"})
    return env


@contextmanager
def serving(backend: str, tmp: Path, homes: int = 6, drivers: int = 4, args: tuple[str, ...] = (),
            **settings: str) -> Iterator[Server]:
    """Seed a neighbourhood, start `threshold serve` on a free loopback port, and stop it afterwards.

    `settings` are extra THRESHOLD_* variables (name without the prefix, any case).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    with database(backend, tmp) as url:
        env = base_env(url, tmp)
        env.update({f"THRESHOLD_{k.upper()}": v for k, v in settings.items()})
        world = seed(url, homes, drivers)
        port = free_port()
        log = tmp / "serve.log"
        proc = subprocess.Popen([EXE, "serve", "--port", str(port), *args], env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", world, url, env, log, proc)
        try:
            wait_until_serving(server.url, proc, log)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
