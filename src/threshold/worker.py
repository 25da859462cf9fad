"""Background work: device hub, deadline sweep, reconciler, outbox dispatch, recovery at start-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.access.runner import AccessRunner
from threshold.config import Settings
from threshold.devices.hub import DeviceHub
from threshold.notify.dispatch import dispatch_once
from threshold.notify.outbox import Channel

log = structlog.get_logger("threshold.worker")


class Worker:
    """Runs the loops a live deployment needs; several workers can run against one database."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], hub: DeviceHub,
                 runner: AccessRunner, channel: Channel) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub
        self.runner = runner
        self.channel = channel
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the hub, make every interrupted session safe, then run the loops."""
        await self.hub.start()
        recovered = await self.runner.recover()
        if recovered:
            log.warning("recovered.sessions", count=recovered)
        self._tasks = [
            asyncio.create_task(self._every(self.settings.sweep_interval, self.runner.sweep, "sweep")),
            asyncio.create_task(self._every(self.settings.reconcile_interval, self._reconcile, "reconcile")),
            asyncio.create_task(self._every(0.5, self._dispatch, "outbox")),
        ]

    async def _reconcile(self) -> list[str]:
        # Device rows are written behind; the reconciler must judge the latest reported states.
        await self.hub.flush()
        # Devices enrolled since start-up (by `threshold devices enrol`, perhaps in another process).
        await self.hub.refresh()
        return await self.runner.reconcile()

    async def _dispatch(self) -> int:
        return await dispatch_once(self.sessions, self.channel, self.runner.clock())

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                # A failing loop must keep running: the next turn retries from stored state.
                log.exception("loop.failed", loop=name)

    async def stop(self) -> None:
        """Stop the loops and the hub."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.stop()
