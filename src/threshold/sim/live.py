"""`threshold demo`: the API on loopback and a neighbourhood of drivers delivering, with a live view."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import sys
import webbrowser
from collections import Counter, deque
from pathlib import Path

import httpx
import uvicorn
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from threshold.app import create_app
from threshold.config import Settings
from threshold.db import migrate
from threshold.devices.broker import EmbeddedBroker
from threshold.devices.ports import DeviceKind
from threshold.devices.simulated import Behaviour
from threshold.notify.mailcatcher import MailCatcher, mail_router
from threshold.sim import neighbourhood
from threshold.sim.camera_streams import CameraStreams
from threshold.sim.driver import DriverApp, Partner, Run, deliver
from threshold.sim.mqtt_devices import MqttDevices
from threshold.sim.portal_seed import keep_demo_stops, seed_demo_driver, seed_portal

DATA = Path(".threshold")


def _view(world: neighbourhood.World, recent: deque[tuple[str, Run]], counts: Counter[str], port: int,
          broker: str) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_row("open", f"http://127.0.0.1:{port}/  (watch as the household, a driver or the operator)")
    head.add_row("portal", f"http://127.0.0.1:{port}/portal  (or sign in as the household below)")
    head.add_row("driver app", f"http://127.0.0.1:{port}/driver  (your stops and their barcodes are on the front page)")
    head.add_row("console", f"http://127.0.0.1:{port}/ops")
    head.add_row("API", f"http://127.0.0.1:{port}/docs")
    head.add_row("MQTT", f"{broker}  (zigbee2mqtt/#, homeassistant/#)")
    head.add_row("mail", f"http://127.0.0.1:{port}/mail  (every email and SMS sent)")
    head.add_row("partner key", world.api_key)
    for who, email in world.sign_ins():
        head.add_row(who, f"{email} / {world.password}")
    head.add_row("outcomes", "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-")
    table = Table(title="latest deliveries", expand=True)
    for col in ("home", "delivery", "outcome", "reason"):
        table.add_column(col)
    for home, run in list(recent)[-12:]:
        colour = {"completed": "green", "refused": "yellow"}.get(run.outcome, "red")
        table.add_row(home, (run.delivery_id or "-")[:8], f"[{colour}]{run.outcome}[/{colour}]", run.reason or "")
    return Group(Panel(head, title="threshold demo (Ctrl-C to stop)"), table)


def _open_browser(url: str) -> None:
    # Only with a screen: on a bare terminal Python's webbrowser would start a text browser over the live view.
    if sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(url)


async def run_live(port: int = 8000, open_browser: bool = True) -> None:
    """Serve on 127.0.0.1:port and keep drivers delivering until interrupted."""
    DATA.mkdir(exist_ok=True)
    db_file = DATA / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    # The demo starts afresh each time, clips included.
    shutil.rmtree(DATA / "clips", ignore_errors=True)
    url = f"sqlite+aiosqlite:///{db_file}"
    # The devices speak zigbee2mqtt on a broker: the one configured, or an embedded one started here.
    configured = Settings().mqtt_url
    broker = None if configured else EmbeddedBroker()
    if broker is not None:
        await broker.start()
    mqtt_url = configured or (broker.url if broker else "")
    # The mail catcher receives every email (and SMS, as mail); cameras stream real video for the clips.
    mail, streams = MailCatcher(), CameraStreams()
    await mail.start()
    await streams.start()
    settings = Settings(mode="demo", database_url=url, lock_timeout=2.0, camera_timeout=3.0, mqtt_url=mqtt_url,
                        smtp_host="127.0.0.1", smtp_port=mail.port, sms_via_mail=True,
                        sim_camera_url=f"http://{streams.host}:{streams.port}", clip_dir=str(DATA / "clips"),
                        public_url=f"http://127.0.0.1:{port}")
    await migrate(url)
    gateway = MqttDevices(mqtt_url, base=settings.mqtt_base, discovery_prefix=settings.mqtt_discovery_prefix)
    app = create_app(settings)
    app.include_router(mail_router(mail))
    async with app.state.sessions() as db:
        world = await neighbourhood.build(db, homes=12, drivers=4)
        await seed_portal(db, world, settings)
        await seed_demo_driver(db, world)
        await db.commit()
    app.state.demo_world = world
    for h in world.homes:
        for address, kind in ((h.lock, DeviceKind.LOCK), (h.camera, DeviceKind.CAMERA),
                              (h.alarm, DeviceKind.ALARM), (h.garage_door, DeviceKind.GARAGE),
                              (h.contact, DeviceKind.CONTACT)):
            if address:
                gateway.add(address, kind, Behaviour(latency=0.15))
    await gateway.connect()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           proxy_headers=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    if open_browser:
        _open_browser(f"http://127.0.0.1:{port}/")
    recent: deque[tuple[str, Run]] = deque(maxlen=50)
    counts: Counter[str] = Counter()
    rng = random.Random()
    # The visitor's homes are theirs: a robot at the same door would keep them waiting.
    robot_homes = [h for i, h in enumerate(world.homes) if i not in world.human_homes]

    async def keep_stops() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    await keep_demo_stops(app.state.sessions, Partner(client, world), world)
                await asyncio.sleep(30)

    async def driver_loop(index: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            driver_id, email = world.drivers[index]
            app_ = DriverApp(client, email, world.password)
            await app_.sign_in()
            for turn in range(10**9):
                home = robot_homes[(index + turn * len(world.drivers)) % len(robot_homes)]
                # Now and then something goes wrong, so the view shows refusals and recoveries too.
                luck = rng.random()
                gateway.devices[home.lock].behaviour = Behaviour(latency=0.15, jam_on_lock=1 if luck < 0.05 else 0)
                gateway.devices[home.camera].behaviour = Behaviour(latency=0.1, camera_fails=0.05 <= luck < 0.08)
                wrong = "PKG-WRONG" if 0.08 <= luck < 0.11 else None
                try:
                    run = await deliver(Partner(client, world), app_, driver_id, home,
                                        dwell=rng.uniform(0.5, 2.0), barcode_override=wrong)
                except httpx.HTTPError as exc:  # one failed request must not stop this driver for the day
                    run = Run(outcome="error", reason=type(exc).__name__)
                recent.append((home.id.hex[:6], run))
                counts[run.outcome] += 1
                await asyncio.sleep(rng.uniform(0.5, 2.0))

    drivers = [asyncio.create_task(driver_loop(i)) for i in range(len(world.drivers))]
    drivers.append(asyncio.create_task(keep_stops()))
    try:
        with Live(_view(world, recent, counts, port, mqtt_url), refresh_per_second=4) as live:
            while not serving.done():
                live.update(_view(world, recent, counts, port, mqtt_url))
                await asyncio.sleep(0.25)
    finally:
        for task in drivers:
            task.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await serving
        await gateway.close()
        await streams.stop()
        await mail.stop()
        if broker is not None:
            await broker.stop()
