"""Background work: device hub, deadline sweep, reconciler, outbox dispatch, recordings, reminders, retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.access.keypad import KeypadSync
from threshold.access.runner import AccessRunner
from threshold.config import Settings
from threshold.deliveries import reminders
from threshold.devices.hub import DeviceHub
from threshold.notify.dispatch import Dispatcher
from threshold.planning.replan import Replanner
from threshold.video.keeper import Keeper

log = structlog.get_logger("threshold.worker")


class Worker:
    """Runs the loops a live deployment needs; several workers can run against one database."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], hub: DeviceHub,
                 runner: AccessRunner, dispatcher: Dispatcher, keeper: Keeper | None = None,
                 keypad: KeypadSync | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub
        self.runner = runner
        self.dispatcher = dispatcher
        self.keeper = keeper
        self.keypad = keypad
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the hub, make every interrupted session safe, then run the loops."""
        await self.hub.start()
        if self.keeper is not None:
            # Clips a dead worker left recording are closed first, so recovery's sessions get fresh clips.
            await self.keeper.recover()
        recovered = await self.runner.recover()
        if recovered:
            log.warning("recovered.sessions", count=recovered)
        s = self.settings
        loops: list[tuple[float, Callable[[], Awaitable[object]], str]] = [
            (s.sweep_interval, self.runner.sweep, "sweep"),
            (s.reconcile_interval, self._reconcile, "reconcile"),
            (s.alerts_interval, self._alerts, "alerts"),
            (s.outbox_interval, self.dispatcher.run_once, "outbox"),
            (60.0, self._reminders, "reminders"),
            (s.replan_interval, Replanner(self.sessions, s, self.runner.clock).turn, "replan"),
        ]
        if self.keeper is not None:
            loops.append((s.purge_interval, self.keeper.purge, "retention"))
        if self.keypad is not None:
            loops.append((self.keypad.interval, self.keypad.turn, "keypad"))
        self._tasks = [asyncio.create_task(self._every(sec, job, name)) for sec, job, name in loops]
        if self.keeper is not None:
            self._tasks.append(asyncio.create_task(self.keeper.run()))

    async def _reconcile(self) -> list[str]:
        # Device rows are written behind; the reconciler must judge the latest reported states.
        await self.hub.flush()
        # Devices enrolled since start-up (by `threshold devices enrol`, perhaps in another process).
        await self.hub.refresh()
        return await self.runner.reconcile()

    async def _alerts(self) -> tuple[int, int, int]:
        # All-clears and device notices are judged from device rows, which are written behind.
        await self.hub.flush()
        return await self.runner.alerts()

    async def _reminders(self) -> int:
        now = self.runner.clock()
        async with self.sessions() as db, db.begin():
            return await reminders.window_today(db, now, self.settings.morning_hour)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                # A failing loop must keep running: the next turn retries from stored state.
                log.exception("loop.failed", loop=name)

    async def stop(self) -> None:
        """Stop the loops, seal running recordings, stop the hub."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dispatcher.close()
        if self.keeper is not None:
            await self.keeper.stop()
        await self.hub.stop()
