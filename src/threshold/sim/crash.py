"""Crash mid-session for real: SIGKILL a serving process with the door unlocked, restart, check it is safe."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from threshold.devices.broker import free_port
from threshold.sim.driver import TERMINAL, DriverApp, Partner
from threshold.sim.neighbourhood import SimHome, World


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "threshold", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def wait_serving(base: str, proc: subprocess.Popen[bytes], timeout: float = 30, log: Path | None = None) -> None:
    """Return once a started threshold process answers /healthz; raise (with its log's tail) if it dies."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient(base_url=base) as c:
        while loop.time() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}" + _tail(log))
            try:
                if (await c.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("server did not start" + _tail(log))


def _tail(log: Path | None) -> str:
    return f"\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""


def _lock_state(state_file: Path, address: str) -> str:
    return str(json.loads(state_file.read_text())[address]["state"])


async def run(database_url: str | None = None, workdir: Path | None = None) -> dict[str, Any]:
    """Run the crash case; the result says what was seen and whether it was safe."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="threshold-crash-"))
    url = database_url or f"sqlite+aiosqlite:///{tmp / 'crash.db'}"
    state = tmp / "devices.json"
    env = {**os.environ, "THRESHOLD_DATABASE_URL": url, "THRESHOLD_SIM_STATE_FILE": str(state),
           "THRESHOLD_MODE": "test", "THRESHOLD_SECRET_KEY": "crash-" + uuid.uuid4().hex * 2,
           "THRESHOLD_LOCK_TIMEOUT": "2", "THRESHOLD_SWEEP_INTERVAL": "0.1"}
    world_file = tmp / "world.json"
    seeding = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "threshold", "seed", "--homes", "2", "--drivers", "1", "--out", str(world_file),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await seeding.communicate()
    if seeding.returncode != 0:
        raise RuntimeError(f"seeding failed: {err.decode()[-2000:]}")
    world = json.loads(world_file.read_text())
    raw = world["homes"][1]
    home = SimHome(id=uuid.UUID(raw["id"]), lat=raw["lat"], lon=raw["lon"], front_door=uuid.UUID(raw["front_door"]),
                   garage=uuid.UUID(raw["garage"]) if raw["garage"] else None, member_email=raw["member_email"],
                   lock=raw["lock"], camera=raw["camera"], alarm=raw["alarm"], garage_door=raw["garage_door"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    facts: dict[str, Any] = {"workdir": str(tmp)}
    proc = _serve(env, port, log)
    try:
        await wait_serving(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            barcode = f"PKG-{uuid.uuid4().hex[:8]}"
            w = World(uuid.UUID(world["partner_id"]), world["api_key"], password=world["password"])
            w.drivers = [(uuid.UUID(d[0]), d[1]) for d in world["drivers"]]
            r = await Partner(c, w).create(home, w.drivers[0][0], barcode=barcode)
            r.raise_for_status()
            driver = DriverApp(c, w.drivers[0][1], w.password)
            await driver.sign_in()
            ask = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
            session = ask.json()
            facts["before_kill"] = session.get("state")
            facts["lock_before_kill"] = _lock_state(state, home.lock)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = _serve(env, port, log)
        await wait_serving(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            d = DriverApp(c, w.drivers[0][1], w.password)
            await d.sign_in()
            after = await d.until(session["id"], TERMINAL, timeout=20)
            facts["after_restart"] = after["state"]
            facts["reason"] = after.get("reason")
            tok = await c.post("/v1/household/token", json={"email": home.member_email, "password": w.password})
            headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            audit = (await c.get(f"/v1/homes/{home.id}/audit", headers=headers)).json()
            facts["household_told"] = any(a["action"] == "session.interrupted" for a in audit)
        facts["lock_after_restart"] = _lock_state(state, home.lock)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    told = await _outbox_told(url, home.id)
    facts["outbox_household_interrupted"] = told
    facts["ok"] = (facts.get("lock_before_kill") == "unlocked" and facts.get("after_restart") == "interrupted"
                   and facts.get("lock_after_restart") == "locked" and told)
    return facts


async def _outbox_told(url: str, home_id: uuid.UUID) -> bool:
    from sqlalchemy import select

    from threshold.db import make_engine, make_sessionmaker
    from threshold.notify.models import OutboxMessage

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            q = select(OutboxMessage).where(OutboxMessage.home_id == home_id,
                                            OutboxMessage.topic == "session.interrupted",
                                            OutboxMessage.audience == "household")
            return (await db.execute(q)).first() is not None
    finally:
        await engine.dispose()
