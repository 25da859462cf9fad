"""Simulated devices with configurable latency and failures; the physical world for the demo and tests.

State can live in a JSON file, so that a lock that was unlocked stays unlocked when the server process
is killed and started again, as a real lock would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from threshold.devices.ports import KEYPAD_ACTIONS, DeviceCommand, DeviceKind, DeviceReport, ReportHandler


@dataclass(slots=True)
class Behaviour:
    """How a simulated device misbehaves."""

    latency: float = 0.02
    jam_on_lock: int = 0  # how many lock commands jam before one works
    ignore_commands: bool = False
    camera_fails: bool = False
    freeze_after: float | None = None  # camera frames stop this long after recording starts (0: no frame at all)
    rearm_fails: bool = False
    offline: bool = False
    stuck_open: bool = False  # a garage door told to close stops part-way (an obstruction), every time
    offline_on: str | None = None  # the device drops off the network when told this (a battery that dies)
    keypad: bool = True  # a lock with a keypad that holds user codes


_INITIAL = {DeviceKind.LOCK: "locked", DeviceKind.CAMERA: "idle", DeviceKind.ALARM: "armed_away",
            DeviceKind.GARAGE: "closed", DeviceKind.CONTACT: "closed"}
_RESULT = {("lock", "lock"): "locked", ("lock", "unlock"): "unlocked", ("alarm", "arm"): "armed_away",
           ("alarm", "disarm"): "disarmed", ("camera", "start"): "recording", ("camera", "stop"): "idle",
           ("garage", "open"): "open", ("garage", "close"): "closed"}
_TRANSIENT = {"locked": "locking", "unlocked": "unlocking", "open": "opening", "closed": "closing",
              "armed_away": "arming"}


@dataclass(slots=True)
class SimDevice:
    """One simulated device's state."""

    kind: DeviceKind
    state: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    recording_since: float | None = None
    # A lock's keypad: user slot -> PIN, or None once cleared (the slot is then reported `available`).
    codes: dict[int, str | None] = field(default_factory=dict)

    def slots(self) -> tuple[tuple[int, str], ...]:
        """The keypad's slots as a lock reports them: status only, never the PIN."""
        return tuple((slot, "enabled" if pin else "available") for slot, pin in sorted(self.codes.items()))


class SimulatedGateway:
    """A DeviceGateway whose devices live in memory (and optionally in a state file)."""

    def __init__(self, state_file: Path | None = None, frame_interval: float = 0.5) -> None:
        self.devices: dict[str, SimDevice] = {}
        self.state_file = state_file
        self.frame_interval = frame_interval
        self.log: list[tuple[float, str, str]] = []  # (monotonic time, address, action or state)
        self._on_report: ReportHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._frames: asyncio.Task[None] | None = None
        self._stopping = False
        self._load()

    def add(self, address: str, kind: DeviceKind, behaviour: Behaviour | None = None) -> SimDevice:
        """Install a device (keeping its remembered state if the state file knows it)."""
        existing = self.devices.get(address)
        if existing is not None:
            existing.behaviour = behaviour or existing.behaviour
            return existing
        dev = SimDevice(kind, _INITIAL[kind], behaviour or Behaviour())
        self.devices[address] = dev
        self._save()
        return dev

    def state(self, address: str) -> str:
        """The device's physical state right now."""
        return self.devices[address].state

    def keypad_capable(self, address: str) -> bool:
        """True for a simulated lock with a keypad."""
        dev = self.devices.get(address)
        return dev is not None and dev.kind is DeviceKind.LOCK and dev.behaviour.keypad

    async def start(self, on_report: ReportHandler) -> None:
        """Announce every device's availability and state, then stream frames from recording cameras."""
        self._on_report = on_report
        loop = asyncio.get_running_loop()
        for address, dev in self.devices.items():
            if dev.kind is DeviceKind.CAMERA and dev.state == "recording":
                dev.recording_since = loop.time()
            await self._announce(address, dev)
        self._stopping = False
        self._frames = asyncio.create_task(self._frame_loop())

    async def set_available(self, address: str, online: bool) -> None:
        """Make a device drop off the network or come back, and say so as the device's link would."""
        dev = self.devices[address]
        dev.behaviour.offline = not online
        self._save()
        await self._announce(address, dev)

    async def _announce(self, address: str, dev: SimDevice) -> None:
        """Tell whoever listens a device's availability and state (at start, and after a reconnect)."""
        if self._on_report is not None:
            await self._on_report(DeviceReport(address, _now(), state=dev.state, available=not dev.behaviour.offline,
                                               codes=dev.slots()))

    async def stop(self) -> None:
        """Stop all background work."""
        # The flag, not only the cancel: a frame published over MQTT waits inside asyncio.wait_for, which on
        # Python 3.11 can swallow a cancellation that lands as the publish completes; the loop would go on.
        self._stopping = True
        if self._frames:
            self._frames.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._frames
        for task in list(self._tasks):
            task.cancel()
        self._on_report = None

    async def send(self, command: DeviceCommand) -> None:
        """Accept a command; the device answers after its latency, as configured."""
        dev = self.devices.get(command.address)
        self.log.append((asyncio.get_running_loop().time(), command.address, command.action))
        if dev is None or dev.behaviour.offline or dev.behaviour.ignore_commands:
            return
        if command.action in KEYPAD_ACTIONS:
            work = self._code(command.address, dev, command.action, command.slot, command.code)
        else:
            work = self._act(command.address, dev, command.action)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def set_state(self, address: str, state: str) -> None:
        """Change a device by hand (someone at the house) and report it."""
        self.devices[address].state = state
        self._save()
        await self._report(address, state)

    async def _code(self, address: str, dev: SimDevice, action: str, slot: int | None, pin: str | None) -> None:
        """A keypad command: the lock stores or forgets the code, then reports its slots with its state."""
        b = dev.behaviour
        if dev.kind is not DeviceKind.LOCK or not b.keypad or slot is None or (action == "set_code" and not pin):
            return  # as zigbee2mqtt answers a lock without a keypad: nothing changes, nothing is confirmed
        if b.offline_on == action:
            b.offline = True
            self._save()
            await self._announce(address, dev)
            return
        await asyncio.sleep(b.latency)
        if b.offline:
            return  # it went away while the radio message was on its way
        dev.codes[slot] = pin if action == "set_code" else None
        self._save()
        await self._report_codes(address, dev)

    async def _report_codes(self, address: str, dev: SimDevice) -> None:
        """Say what the keypad's slots hold now (the in-process lock says only that, not its state again)."""
        if self._on_report is not None:
            await self._on_report(DeviceReport(address, _now(), codes=dev.slots()))

    async def _act(self, address: str, dev: SimDevice, action: str) -> None:
        b = dev.behaviour
        target = _RESULT.get((dev.kind.value, action))
        if target is None:
            return
        if b.offline_on == action:
            # The motor's draw is what kills a weak battery: the device goes dark instead of moving.
            b.offline = True
            self._save()
            await self._announce(address, dev)
            return
        transient = _TRANSIENT.get(target)
        if transient and dev.kind in (DeviceKind.LOCK, DeviceKind.GARAGE):
            await self._report(address, transient)
        await asyncio.sleep(b.latency)
        if dev.kind is DeviceKind.LOCK and action == "lock" and b.jam_on_lock > 0:
            b.jam_on_lock -= 1
            dev.state = "jammed"
        elif dev.kind is DeviceKind.CAMERA and action == "start" and b.camera_fails:
            dev.state = "error"
        elif dev.kind is DeviceKind.ALARM and action == "arm" and b.rearm_fails:
            dev.state = "disarmed"
        elif dev.kind is DeviceKind.GARAGE and action == "close" and b.stuck_open:
            dev.state = "stopped"
        else:
            dev.state = target
        if dev.kind is DeviceKind.CAMERA:
            dev.recording_since = asyncio.get_running_loop().time() if dev.state == "recording" else None
        self._save()
        # A camera frozen from the start (`freeze_after=0`) says it records but never shows a single frame.
        frozen = b.freeze_after == 0
        frame = _now() if dev.state == "recording" and not frozen else None
        await self._report(address, dev.state, frame)

    async def _report(self, address: str, state: str, frame_at: datetime | None = None) -> None:
        self.log.append((asyncio.get_running_loop().time(), address, "=" + state))
        if self._on_report is not None:
            await self._on_report(DeviceReport(address, _now(), state=state, frame_at=frame_at,
                                               codes=self.devices[address].slots()))

    async def _frame_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(self.frame_interval)
            for address, dev in list(self.devices.items()):
                if dev.kind is not DeviceKind.CAMERA or dev.state != "recording" or dev.recording_since is None:
                    continue
                frozen = dev.behaviour.freeze_after
                if frozen is not None and loop.time() - dev.recording_since > frozen:
                    continue
                await self._frame(address)

    async def _frame(self, address: str) -> None:
        """Deliver one frame heartbeat of a recording camera."""
        if self._on_report is not None:
            await self._on_report(DeviceReport(address, _now(), frame_at=_now()))

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        for address, raw in json.loads(self.state_file.read_text()).items():
            kind = DeviceKind(raw["kind"])
            codes = {int(slot): pin for slot, pin in raw.get("codes", {}).items()}
            self.devices[address] = SimDevice(kind, raw["state"], Behaviour(**raw.get("behaviour", {})), codes=codes)

    def _save(self) -> None:
        if self.state_file is None:
            return
        # A real lock keeps its keypad codes through a power cut, so the simulated one keeps them in its file.
        data = {a: {"kind": d.kind.value, "state": d.state, "behaviour": asdict(d.behaviour),
                    "codes": {str(slot): pin for slot, pin in d.codes.items()}} for a, d in self.devices.items()}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)


def _now() -> datetime:
    return datetime.now(UTC)
