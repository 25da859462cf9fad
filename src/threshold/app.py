"""Wiring: the FastAPI app, its engine, the device hub and the access runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from threshold import __version__, request_guard, wiring
from threshold.access import doors_router
from threshold.access import router as access_router
from threshold.access.keypad import KeypadSync
from threshold.access.pins import box_for
from threshold.access.runner import AccessRunner, Clock, system_clock
from threshold.config import Settings, get_settings
from threshold.db import make_engine, make_sessionmaker, migrate
from threshold.deliveries import router as deliveries_router
from threshold.devices.hub import DeviceEvent, DeviceHub
from threshold.devices.ports import DeviceGateway, DeviceKind
from threshold.devices.simulated import SimulatedGateway
from threshold.errors import install_handlers
from threshold.homes import members_router
from threshold.homes import router as homes_router
from threshold.homes.models import Device
from threshold.logs import configure_logging
from threshold.notify import router as notify_router
from threshold.notify.ports import Sender
from threshold.ops import router as ops_router
from threshold.planning import router as planning_router
from threshold.video import router as video_router
from threshold.video.keeper import Keeper
from threshold.web import router as web_router
from threshold.worker import Worker


def default_gateway(settings: Settings, listen: bool = True) -> DeviceGateway:
    """The device adapter the settings ask for: MQTT, Home Assistant, or the in-process simulation.

    `listen=False` (an API-only process) makes the MQTT adapter publish commands and subscribe to nothing.
    """
    if settings.mqtt_url:
        from threshold.devices.mqtt import MqttGateway

        return MqttGateway(settings.mqtt_url, base=settings.mqtt_base,
                           discovery_prefix=settings.mqtt_discovery_prefix,
                           client_id=settings.mqtt_client_id, shard=settings.shard(),
                           protocol=settings.mqtt_protocol, listen=listen)
    if settings.ha_url:
        from threshold.devices.homeassistant import HomeAssistantGateway

        return HomeAssistantGateway(settings.ha_url, settings.ha_token or "")
    state = Path(settings.sim_state_file) if settings.sim_state_file else None
    return SimulatedGateway(state_file=state)


async def enrol_simulated(app: FastAPI) -> None:
    """Give the simulated world every simulated device the database knows (keeping remembered states)."""
    gateway = app.state.gateway
    if not isinstance(gateway, SimulatedGateway):
        return
    async with app.state.sessions() as db:
        for d in (await db.execute(select(Device).where(Device.adapter == "simulated"))).scalars():
            gateway.add(d.address, DeviceKind(d.kind))


def create_app(settings: Settings | None = None, gateway: DeviceGateway | None = None,
               clock: Clock = system_clock, run_worker: bool = True, apply_migrations: bool = True,
               senders: dict[str, Sender] | None = None, keeper: Keeper | None = None) -> FastAPI:
    """Build the app; with `run_worker` the same process also runs the hub and the background loops.

    `senders` replaces the notification channels the settings describe; `keeper` the ffmpeg recorder.
    """
    settings = settings or get_settings()
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    gateway = gateway or default_gateway(settings, listen=run_worker)
    hub = DeviceHub(gateway, sessions)
    runner = AccessRunner(sessions, hub, settings, clock)

    async def on_device(event: DeviceEvent) -> None:
        await runner.on_device_event(event.device_id, event.kind.value, event.state)

    hub.listeners.append(on_device)
    dispatcher = wiring.dispatcher(settings, sessions, clock, senders)
    if keeper is None and settings.video and run_worker:
        keeper = wiring.keeper(settings, sessions, runner.feed, clock)
    if keeper is not None:
        runner.on_outcome.append(lambda outcome: keeper.nudge(outcome.session_id, outcome.state))
    keypad = KeypadSync(sessions, hub, clock, box_for(settings), settings.keypad_interval)
    hub.code_listeners.append(keypad.on_codes)
    worker = Worker(settings, sessions, hub, runner, dispatcher, keeper, keypad)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if apply_migrations:
            await migrate(settings.database_url)
        streams = None
        if run_worker:
            await enrol_simulated(app)
            if keeper is not None and isinstance(gateway, SimulatedGateway) and not settings.sim_camera_url:
                # In-process simulated homes get simulated cameras that stream real video to record.
                from threshold.sim.camera_streams import CameraStreams

                streams = CameraStreams()
                await streams.start()
                keeper.source_for = wiring.source_for(settings, f"http://{streams.host}:{streams.port}")
            await worker.start()
        else:
            # Asks and approvals send the first command (camera on) from here; workers hear the answers.
            await hub.start_sending()
        try:
            yield
        finally:
            if run_worker:
                await worker.stop()
            else:
                await hub.stop()
            if streams is not None:
                await streams.stop()
            await engine.dispose()

    app = FastAPI(title="threshold", version=__version__, lifespan=lifespan,
                  description="Secure in-home and last-mile delivery.")
    app.state.settings, app.state.engine, app.state.sessions = settings, engine, sessions
    app.state.gateway, app.state.hub, app.state.runner, app.state.worker = gateway, hub, runner, worker
    app.state.clock, app.state.dispatcher, app.state.keeper = clock, dispatcher, keeper
    app.state.keypad = keypad
    install_handlers(app)
    request_guard.install(app)
    app.include_router(deliveries_router.router)
    app.include_router(deliveries_router.driver_router)
    app.include_router(access_router.driver_router)
    app.include_router(access_router.guest_router)
    app.include_router(homes_router.router)
    app.include_router(members_router.router)
    app.include_router(video_router.router)
    app.include_router(notify_router.router)
    app.include_router(ops_router.router)
    app.include_router(doors_router.router)
    app.include_router(planning_router.router)
    web_router.install(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Liveness and device-hub counters."""
        return {"status": "ok", "version": __version__, "hub": dict(hub.counters)}

    return app
