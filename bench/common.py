"""What the benches share: a fresh database to measure on, percentiles, and the machine they ran on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threshold.db import migrate_sync


async def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `admin_url`, migrate it, and return its URL."""
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(migrate_sync, url)
    return url


def numbers(v: str) -> list[int]:
    """A comma-separated list of counts from the command line ("1000,2500" or "1e3")."""
    return [int(float(x)) for x in v.split(",") if x]


def percentile(xs: list[float], q: float) -> float:
    """The q-quantile (0..1) of xs, nearest rank; NaN for no samples."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def machine() -> dict[str, str]:
    """What the figures ran on."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    mosq = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, timeout=5)
        mosq = (out.stdout or out.stderr).splitlines()[0].strip()
    return {"platform": platform.platform(), "cores": str(os.cpu_count()), "cpu": model,
            "python": platform.python_version(), "mosquitto": mosq}
