"""The device hub: sends commands, turns raw reports into confirmed device events, keeps device health.

It knows nothing of sessions. Listeners (wired in app.py) receive `DeviceEvent`s. A malformed, unknown or
stale report is counted and logged; it never crashes the hub. The devices it knows are in `registry`; camera
frames, stalls and the last check before a door opens are the `camera_watch`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.devices.camera_watch import CameraWatch
from threshold.devices.ports import ACTIONS, STATES, DeviceCommand, DeviceGateway, DeviceKind, DeviceReport, KeypadLock
from threshold.devices.registry import Registered, Registry
from threshold.homes.models import Device

__all__ = ["DeviceEvent", "DeviceHub", "Registered"]

log = structlog.get_logger("threshold.devices")

# Garage doors are driven with lock words by the session machine.
_GARAGE_ACTION = {"unlock": "open", "lock": "close"}


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A confirmed change of a device: a state, camera stalled, or availability."""

    device_id: uuid.UUID
    home_id: uuid.UUID
    kind: DeviceKind
    state: str
    at: datetime


Listener = Callable[[DeviceEvent], Awaitable[None]]
# Told the id of a lock whose keypad slots changed (keypad sync confirms codes from `DeviceHub.keypad`).
CodesListener = Callable[[uuid.UUID], Awaitable[None]]


class DeviceHub:
    """Registry, command path, report path and camera watchdog for one worker's devices."""

    def __init__(self, gateway: DeviceGateway, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.gateway = gateway
        self.sessions = sessions
        self.registry = Registry()
        self.listeners: list[Listener] = []
        self.counters: Counter[str] = Counter()
        self.state: dict[uuid.UUID, str] = {}
        self.online: dict[uuid.UUID, bool] = {}
        self.battery: dict[uuid.UUID, int | None] = {}
        self.cameras = CameraWatch(self.registry, self.state, self._stalled, self.counters)
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: Counter[uuid.UUID] = Counter()  # reports of a device queued or being handled
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # Device rows are written behind, batched: a burst of reports costs one transaction, not one each.
        self._dirty: dict[uuid.UUID, dict[str, object]] = {}
        self._flushing = asyncio.Lock()
        # When each device was last commanded: an answer is due, and reports older than that are stale.
        self.commanded_at: dict[uuid.UUID, datetime] = {}
        # The device time of the newest state accepted: an older one arriving later is out of order.
        self.last_at: dict[uuid.UUID, datetime] = {}
        # Each lock's keypad slots as last reported (slot -> enabled/available/disabled); never a PIN.
        self.keypad_slots: dict[uuid.UUID, dict[int, str]] = {}
        self.code_listeners: list[CodesListener] = []
        # An API-only process hears no reports: its health flags are as loaded, so they cannot veto a command.
        self.sending_only = False

    @property
    def by_address(self) -> dict[str, Registered]:
        """Registered devices by their adapter's address."""
        return self.registry.by_address

    @property
    def by_id(self) -> dict[uuid.UUID, Registered]:
        """Registered devices by id."""
        return self.registry.by_id

    @property
    def last_frame(self) -> dict[uuid.UUID, datetime]:
        """Each watched camera's latest frame."""
        return self.cameras.last_frame

    def frame_fresh(self, device_id: uuid.UUID, now: datetime) -> bool:
        """True when this camera's latest frame is under two seconds old."""
        return self.cameras.fresh(device_id, now)

    async def load(self) -> None:
        """Read the device registry from the database."""
        async with self.sessions() as db:
            self._take(list((await db.execute(select(Device))).scalars()))

    async def refresh(self) -> int:
        """Register devices enrolled since the registry was read (another process may have added them)."""
        async with self.sessions() as db:
            missing = [i for i in (await db.execute(select(Device.id))).scalars() if i not in self.by_id]
            rows = list((await db.execute(select(Device).where(Device.id.in_(missing)))).scalars()) if missing else []
        self._take(rows)
        return len(rows)

    def _take(self, rows: list[Device]) -> None:
        """Register device rows with their last known health, and tell the gateway which home each is in."""
        for d in rows:
            self.register(Registered(d.id, d.home_id, DeviceKind(d.kind), d.address, d.secret, d.entry_point_id))
            self.state[d.id], self.online[d.id], self.battery[d.id] = d.state, d.online, d.battery
        # Adapters that split devices between workers (MQTT) shard them by home.
        watch = getattr(self.gateway, "watch", None)
        if rows and watch is not None:
            watch({d.address: str(d.home_id) for d in rows})

    def register(self, reg: Registered) -> None:
        """Add or refresh one device."""
        self.registry.add(reg)

    async def start(self) -> None:
        """Load devices, connect the gateway and start the camera watchdog."""
        await self.load()
        # The registry lives as long as the worker: keeping it out of the collector's full passes removes
        # pauses of 100-400 ms at 10,000 homes (BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        await self.gateway.start(self._on_report)
        self._watch = asyncio.create_task(self.cameras.run())
        self._flusher = asyncio.create_task(self._flush_loop())

    async def start_sending(self) -> None:
        """For an API-only process: load the registry and connect to send commands; reports are dropped."""
        self.sending_only = True
        await self.load()
        await self.gateway.start(self._ignore)

    async def _ignore(self, report: DeviceReport) -> None:
        """Reports belong to the workers; an API-only process drops any it is sent."""

    async def stop(self) -> None:
        """Stop the watchdog and the gateway."""
        for loop_task in (self._watch, self._flusher):
            if loop_task:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
        await self.gateway.stop()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        await self.flush()

    async def flush(self) -> None:
        """Write every pending device change in one transaction (after any write already in flight)."""
        async with self._flushing:
            if not self._dirty:
                return
            batch, self._dirty = self._dirty, {}
            try:
                async with self.sessions() as db, db.begin():
                    for device_id, values in batch.items():
                        await db.execute(update(Device).where(Device.id == device_id).values(**values))
            except BaseException:
                # A failed or cancelled write (the worker stopping) keeps the batch for the next flush.
                for device_id, values in batch.items():
                    self._dirty[device_id] = {**values, **self._dirty.get(device_id, {})}
                raise

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            try:
                await self.flush()
            except Exception:
                self.counters["flush_failed"] += 1
                log.exception("devices.flush_failed")

    async def send_to(self, device_id: str, action: str) -> None:
        """Send a command to a registered device (CommandSink)."""
        reg = self.by_id.get(uuid.UUID(device_id))
        if reg is None and self.sending_only:
            # Enrolled since this process read the registry (the workers' hubs refresh on their own loop).
            await self.refresh()
            reg = self.by_id.get(uuid.UUID(device_id))
        if reg is None:
            self.counters["command_unknown_device"] += 1
            log.warning("command.unknown_device", device=device_id, action=action)
            return
        if reg.kind is DeviceKind.GARAGE:
            action = _GARAGE_ACTION.get(action, action)
        if action not in ACTIONS[reg.kind]:
            self.counters["command_invalid"] += 1
            log.warning("command.invalid", device=device_id, action=action)
            return
        if reg.kind is DeviceKind.CAMERA and action == "start":
            self.cameras.restart(reg.device_id)
        if self.online.get(reg.device_id) is False and not self.sending_only:
            # An offline device cannot hear it. The hub is the one place that knows this at once; device rows
            # are written behind, so a caller judging by its row may not know yet.
            self.counters["command_offline"] += 1
            log.info("command.device_offline", device=device_id, action=action)
            return
        if action in ("unlock", "open") and not await self.cameras.door_may_open(reg):
            return
        self.counters["commands"] += 1
        self.commanded_at[reg.device_id] = datetime.now(UTC)
        await self.gateway.send(DeviceCommand(reg.address, reg.kind, action,
                                              reg.secret if reg.kind is DeviceKind.ALARM else None))

    def handles(self, reg: Registered) -> bool:
        """True when this worker's gateway handles the device (adapters that shard a fleet say which)."""
        owns = getattr(self.gateway, "owns", None)
        return owns is None or bool(owns(reg.address))

    def keypad(self, device_id: uuid.UUID) -> KeypadLock | None:
        """A lock's keypad as last reported (KeypadSink); None for a device this worker does not handle."""
        reg = self.by_id.get(device_id)
        if reg is None or not self.handles(reg):
            return None
        # Adapters say per device whether they can reach its keypad; one without the method cannot.
        capable = getattr(self.gateway, "keypad_capable", None)
        return KeypadLock(reg.kind is DeviceKind.LOCK and capable is not None and bool(capable(reg.address)),
                          self.online.get(device_id) is not False, dict(self.keypad_slots.get(device_id, {})))

    async def send_code(self, device_id: uuid.UUID, slot: int, pin: str | None) -> bool:
        """Set a keypad code in a lock's slot, or clear the slot (KeypadSink); True when it left for the lock."""
        reg = self.by_id.get(device_id)
        if reg is None or reg.kind is not DeviceKind.LOCK:
            self.counters["command_unknown_device"] += 1
            return False
        if self.online.get(device_id) is False:
            self.counters["command_offline"] += 1
            return False
        action = "set_code" if pin is not None else "clear_code"
        # What the slot held before says nothing about this command: only a report after it can confirm it.
        self.keypad_slots.get(device_id, {}).pop(slot, None)
        try:
            await self.gateway.send(DeviceCommand(reg.address, reg.kind, action, pin, slot=slot))
        except Exception as exc:
            # The PIN is in the command, never in this line: the slot and the error's type say enough.
            self.counters["keypad_send_failed"] += 1
            log.warning("keypad.send_failed", device=str(device_id), slot=slot, error=type(exc).__name__)
            return False
        self.counters["keypad_commands"] += 1
        log.info("keypad.sent", device=str(device_id), slot=slot, action=action)
        return True

    def _take_codes(self, reg: Registered, codes: tuple[tuple[int, str], ...]) -> None:
        """Keep a lock's reported slots; when they changed, tell keypad sync (off the report path)."""
        known = self.keypad_slots.setdefault(reg.device_id, {})
        changed = {slot: status for slot, status in codes if known.get(slot) != status}
        if not changed:
            return
        known.update(changed)
        if self.code_listeners:
            task = asyncio.create_task(self._codes_changed(reg.device_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _codes_changed(self, device_id: uuid.UUID) -> None:
        for listener in self.code_listeners:
            try:
                await listener(device_id)
            except Exception:
                self.counters["listener_failed"] += 1
                log.exception("listener.failed", device=str(device_id), what="keypad")

    async def _stalled(self, camera: Registered, now: datetime) -> None:
        """A camera's frames stopped: the sessions relying on it end safely."""
        await self._emit(DeviceEvent(camera.device_id, camera.home_id, camera.kind, "stalled", now))

    async def _on_report(self, report: DeviceReport) -> None:
        reg = self.by_address.get(report.address)
        if reg is None:
            self.counters["report_unknown_device"] += 1
            log.info("report.unknown_device", address=report.address)
            return
        if report.state is not None and report.state not in STATES[reg.kind]:
            self.counters["report_malformed"] += 1
            log.warning("report.malformed", device=str(reg.device_id), state=report.state)
            return
        self.counters["reports"] += 1
        if report.codes and reg.kind is DeviceKind.LOCK:
            self._take_codes(reg, report.codes)
        if report.state is None and report.available is None and report.battery is None and report.frame_at \
                and self.cameras.watching(reg.device_id):
            # A frame heartbeat from a camera already confirmed: the hot path, kept in memory.
            self.cameras.frame(reg.device_id, report.frame_at)
            return
        if self._repeats(reg, report):
            return
        lock = self._locks.setdefault(report.address, asyncio.Lock())
        self._pending[reg.device_id] += 1
        task = asyncio.create_task(self._handle(reg, report, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _repeats(self, reg: Registered, report: DeviceReport) -> bool:
        """A device saying again what it said (zigbee2mqtt repeats state with every link-quality update):
        nothing to write, nothing to emit. Only when no earlier report of it is still being handled, since
        the cached state must be the latest, and never while it owes an answer to a command."""
        device_id = reg.device_id
        if (report.state is None or report.frame_at is not None or self._pending[device_id]
                or device_id in self.commanded_at or report.state != self.state.get(device_id)
                or (report.available is not None and report.available != self.online.get(device_id))
                or (report.battery is not None and report.battery != self.battery.get(device_id))):
            return False
        newest = self.last_at.get(device_id)
        if newest is None or report.at > newest:
            self.last_at[device_id] = report.at
        self.counters["report_repeat"] += 1
        return True

    async def _handle(self, reg: Registered, report: DeviceReport, lock: asyncio.Lock) -> None:
        try:
            async with lock:
                try:
                    await self._apply(reg, report)
                except Exception:
                    self.counters["report_failed"] += 1
                    log.exception("report.failed", device=str(reg.device_id))
        finally:
            self._pending[reg.device_id] -= 1

    async def _apply(self, reg: Registered, report: DeviceReport) -> None:
        now = datetime.now(UTC)
        commanded = self.commanded_at.get(reg.device_id)
        if report.state is not None and commanded is not None and report.at < commanded:
            # Sent before our last command reached the device: it cannot confirm that command.
            self.counters["report_stale"] += 1
            log.info("report.stale", device=str(reg.device_id), state=report.state)
            return
        if report.state is not None:
            newest = self.last_at.get(reg.device_id)
            if newest is not None and report.at < newest:
                self.counters["report_out_of_order"] += 1
                log.info("report.out_of_order", device=str(reg.device_id), state=report.state)
                return
            self.last_at[reg.device_id] = report.at
        answers_command = commanded is not None and report.state is not None
        if answers_command:
            self.commanded_at.pop(reg.device_id, None)
        first_frame = report.frame_at is not None and self.cameras.frame(reg.device_id, report.frame_at)
        # Only a change is written: a device repeating itself costs no transaction.
        changed: dict[str, object] = {}
        if report.available is not None and report.available != self.online.get(reg.device_id):
            changed["online"] = self.online[reg.device_id] = report.available
        if report.battery is not None and report.battery != self.battery.get(reg.device_id):
            changed["battery"] = self.battery[reg.device_id] = report.battery
        state_changed = report.state is not None and report.state != self.state.get(reg.device_id)
        if report.state is not None and state_changed:
            changed["state"] = self.state[reg.device_id] = report.state
        if changed:
            changed["last_seen"] = report.at
            self._dirty[reg.device_id] = {**self._dirty.get(reg.device_id, {}), **changed}
        if report.available is False:
            # Said once, when it happens: a device repeating that it is gone would repeat every alert.
            if "online" in changed:
                await self._emit(DeviceEvent(reg.device_id, reg.home_id, reg.kind, "offline", now))
            return
        if reg.kind is DeviceKind.CAMERA:
            if state_changed and report.state != "recording":
                self.cameras.forget(reg.device_id)
            # A camera is confirmed only when it says it records and shows a fresh frame.
            recording = self.state.get(reg.device_id) == "recording"
            if recording and self.frame_fresh(reg.device_id, now) and (state_changed or first_frame):
                await self._emit(DeviceEvent(reg.device_id, reg.home_id, reg.kind, "recording", now))
            elif state_changed and report.state != "recording":
                await self._emit(DeviceEvent(reg.device_id, reg.home_id, reg.kind, report.state or "", now))
            return
        # A repeated state matters only as the answer to a command (a locked lock told to lock says "locked").
        if report.state is not None and (state_changed or answers_command):
            await self._emit(DeviceEvent(reg.device_id, reg.home_id, reg.kind, report.state, now))

    async def _emit(self, event: DeviceEvent) -> None:
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                self.counters["listener_failed"] += 1
                log.exception("listener.failed", device=str(event.device_id), state=event.state)
