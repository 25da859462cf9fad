"""Production shape on one machine: an API-only process and two sharded workers, devices on a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from threshold.db import make_engine, make_sessionmaker
from threshold.devices.broker import free_port
from threshold.sim import neighbourhood
from threshold.sim.camera_streams import CameraStreams
from threshold.sim.crash import wait_serving
from threshold.sim.driver import DriverApp, Partner, deliver
from threshold.sim.harness import install
from threshold.sim.mqtt_devices import MqttDevices
from threshold.video.models import Clip


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by the test, terminated at the end whatever happens."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a threshold process (returns at once; it is awaited over HTTP)."""
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_api_process_and_two_sharded_workers_deliver_together(
        database_url: str, mqtt_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as db:
        world = await neighbourhood.build(db, homes=4, drivers=2)
        await db.commit()
    await engine.dispose()
    tag = uuid.uuid4().hex[:8]
    base, prefix = f"z2m-{tag}", f"ha-{tag}"
    devices = MqttDevices(mqtt_url, base=base, discovery_prefix=prefix, client_id=f"sim-{tag}", frame_interval=0.25)
    install(devices, world)
    await devices.connect()
    streams = CameraStreams()
    await streams.start()
    env = {**os.environ, "THRESHOLD_SIM_CAMERA_URL": f"http://{streams.host}:{streams.port}",
           "THRESHOLD_CLIP_DIR": str(tmp_path / "clips"), "THRESHOLD_CLIP_POST_ROLL": "0.5",
           "THRESHOLD_DATABASE_URL": database_url, "THRESHOLD_MODE": "test",
           "THRESHOLD_SECRET_KEY": "split-" + "s" * 40, "THRESHOLD_MQTT_URL": mqtt_url, "THRESHOLD_MQTT_BASE": base,
           "THRESHOLD_MQTT_DISCOVERY_PREFIX": prefix, "THRESHOLD_CAMERA_TIMEOUT": "4", "THRESHOLD_LOCK_TIMEOUT": "3",
           "THRESHOLD_RECONCILE_INTERVAL": "5"}
    exe = str(Path(sys.executable).parent / "threshold")
    port = free_port()
    api_log = tmp_path / "api.log"
    processes.append(_start([exe, "serve", "--no-worker", "--port", str(port)],
                            {**env, "THRESHOLD_MQTT_CLIENT_ID": f"api-{tag}"}, api_log))
    for shard in (0, 1):
        processes.append(_start([exe, "worker"], {**env, "THRESHOLD_MQTT_CLIENT_ID": f"worker{shard}-{tag}",
                                                  "THRESHOLD_MQTT_SHARD": f"{shard}/2"},
                                tmp_path / f"worker{shard}.log"))
    try:
        await wait_serving(f"http://127.0.0.1:{port}", processes[0], log=api_log)
        await asyncio.sleep(1.5)  # the workers connect to the broker and hear the retained states
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            partner = Partner(client, world)
            runs = []
            for i, home in enumerate(world.homes):
                driver = DriverApp(client, world.drivers[i % 2][1], world.password)
                await driver.sign_in()
                runs.append(await deliver(partner, driver, world.drivers[i % 2][0], home))
        logs = "\n".join(p.read_text()[-1500:] for p in tmp_path.glob("*.log"))
        assert [r.outcome for r in runs] == ["completed"] * len(world.homes), (runs, logs)
        assert all(devices.state(h.lock) == "locked" for h in world.homes)
        # Each session was recorded by the worker that claimed its clip, whichever shard heard its devices.
        engine = make_engine(database_url)
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        try:
            while True:
                async with make_sessionmaker(engine)() as db:
                    clips = list((await db.execute(select(Clip))).scalars())
                if (len(clips) == len(runs) and all(c.status == "sealed" for c in clips)) or loop.time() > end:
                    break
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()
        assert sorted(c.status for c in clips) == ["sealed"] * len(runs), (clips, logs)
        assert all(Path(c.path).stat().st_size > 0 and c.sha256 for c in clips)
    finally:
        await devices.close()
        await streams.stop()
