"""The camera watch: each camera's latest frame, a stall said once, and the last check before a door opens.

A camera is watched from its first frame after it was told to record. Frames can stop at any moment (the attack
that froze a delivery camera): the watchdog looks at every watched camera four times a second, and the check
before an unlock, which has no such gap, looks at the camera that records that door's entry point.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import structlog

from threshold.devices.registry import Registered, Registry

log = structlog.get_logger("threshold.devices")

# A frame older than this means the camera is not really watching.
FRAME_FRESH = timedelta(seconds=2)
# Seconds between the watchdog's looks.
TICK = 0.25

Stalled = Callable[[Registered, datetime], Awaitable[None]]


class CameraWatch:
    """Frames, freshness and stalls, each camera on its own."""

    def __init__(self, registry: Registry, state: Mapping[uuid.UUID, str], on_stall: Stalled,
                 counters: Counter[str]) -> None:
        self.registry = registry
        self.state = state  # the hub's device states, as last reported
        self.on_stall = on_stall
        self.counters = counters
        self.last_frame: dict[uuid.UUID, datetime] = {}  # only cameras that sent a frame since told to record
        self._stalled: set[uuid.UUID] = set()

    def fresh(self, camera_id: uuid.UUID, now: datetime) -> bool:
        """True when this camera's latest frame is under two seconds old."""
        last = self.last_frame.get(camera_id)
        return last is not None and now - last < FRAME_FRESH

    def watching(self, camera_id: uuid.UUID) -> bool:
        """True for a camera that sent a frame since it was last told to record."""
        return camera_id in self.last_frame

    def frame(self, camera_id: uuid.UUID, at: datetime) -> bool:
        """Take a camera's frame; True when it is the first since the camera was told to record."""
        first = camera_id not in self.last_frame
        self.last_frame[camera_id] = at
        self._stalled.discard(camera_id)
        return first

    def restart(self, camera_id: uuid.UUID) -> None:
        """A camera told to record: only a frame from now on counts, and a new stall will be said."""
        self._stalled.discard(camera_id)
        self.last_frame.pop(camera_id, None)

    def forget(self, camera_id: uuid.UUID) -> None:
        """A camera that stopped recording leaves the watchdog's list."""
        self.last_frame.pop(camera_id, None)

    async def door_may_open(self, door: Registered) -> bool:
        """The last check before a door opens: the camera that records its entry point sent a frame under two
        seconds ago. When not, that camera is said to be stalled (the sessions relying on it end safely)."""
        camera = self.registry.camera_for(door)
        now = datetime.now(UTC)
        if camera is not None and self.fresh(camera.device_id, now):
            return True
        self.counters["unlock_blocked_camera"] += 1
        log.warning("command.unlock_blocked", device=str(door.device_id),
                    camera=str(camera.device_id) if camera else None)
        if camera is not None:
            await self.stall(camera, now)
        return False

    async def stall(self, camera: Registered, now: datetime) -> None:
        """Say once that a camera's frames stopped."""
        if camera.device_id in self._stalled:
            return
        self._stalled.add(camera.device_id)
        self.counters["camera_stalls"] += 1
        log.warning("camera.stalled", device=str(camera.device_id))
        await self.on_stall(camera, now)

    async def tick(self, now: datetime) -> None:
        """One look at every watched camera: a recording one whose frames went stale is stalled."""
        for camera_id in list(self.last_frame):
            camera = self.registry.by_id.get(camera_id)
            if camera is not None and self.state.get(camera_id) == "recording" and not self.fresh(camera_id, now):
                await self.stall(camera, now)

    async def run(self) -> None:
        """The watchdog: look at every watched camera four times a second, until cancelled."""
        while True:
            await asyncio.sleep(TICK)
            await self.tick(datetime.now(UTC))
