"""The MQTT adapter: devices behind zigbee2mqtt, or any device Home Assistant MQTT discovery describes.

One connection per worker, MQTT 3.1.1 or 5 (with `protocol="auto"`, 5 falling back to 3.1.1). Several
workers share a fleet by splitting it (`shard=(index, count)`, by a stable hash of the device's home) rather
than by MQTT 5 shared subscriptions: a camera's heartbeats and a lock's states must reach one worker in
order, which round-robin delivery would break. When the broker goes away every device this adapter has heard
of is reported unavailable at once, and on reconnecting the broker's retained states bring them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiomqtt
import structlog

from threshold.devices import z2m
from threshold.devices.ports import DeviceCommand, DeviceReport, DiscoveredDevice, ReportHandler

log = structlog.get_logger("threshold.devices.mqtt")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to sign in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Read `mqtt://user:pass@host:port`."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"not an MQTT URL: {url!r} (expected mqtt://host:port)")
        return cls(parts.hostname, parts.port or 1883, parts.username, parts.password)


class MqttGateway:
    """A DeviceGateway over MQTT, speaking zigbee2mqtt and reading Home Assistant discovery."""

    def __init__(self, url: str, *, base: str = "zigbee2mqtt", discovery_prefix: str = "homeassistant",
                 client_id: str = "threshold", shard: tuple[int, int] | None = None,
                 connect_timeout: float = 5.0, protocol: str = "auto", listen: bool = True) -> None:
        self.broker = BrokerAddress.parse(url)
        self.base = base
        self.discovery_prefix = discovery_prefix
        self.client_id = client_id
        self.shard = shard
        self.connect_timeout = connect_timeout
        self.wanted_protocol = protocol
        self.counters: Counter[str] = Counter()
        self.discovered: dict[str, DiscoveredDevice] = {}
        self.topics: dict[str, z2m.Topics] = {}  # address -> topics, for devices known from discovery
        self._by_state_topic: dict[str, str] = {}  # foreign state/availability topic -> address
        self._heard: set[str] = set()
        self._watched: set[str] = set()
        self._keys: dict[str, str] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._on_report: ReportHandler | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self.protocol: str | None = None
        # False in an API-only process: it publishes commands and subscribes to nothing.
        self.listen = listen

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected.is_set()

    async def start(self, on_report: ReportHandler) -> None:
        """Connect (waiting up to `connect_timeout` for the first time) and keep reconnecting until stopped."""
        self._on_report = on_report
        self._stopping = False
        self._runner = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout)
        if not self.connected:
            log.warning("mqtt.not_connected_yet", host=self.broker.host, port=self.broker.port)

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        # The flag, not only the cancel: on Python 3.11 asyncio.wait_for (inside aiomqtt's calls) can swallow a
        # cancellation that lands as the call completes, and the loop would go on.
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._connected.clear()
        self._client = None
        self._on_report = None

    async def send(self, command: DeviceCommand) -> None:
        """Publish a command (QoS 1); raises when the broker is unreachable, so the caller's deadline applies."""
        client = self._client
        if client is None or not self.connected:
            self.counters["command_no_broker"] += 1
            raise ConnectionError("MQTT broker unreachable")
        topics = self.topics.get(command.address)
        topic = topics.command if topics else f"{self.base}/{command.address}/set"
        # The broker's acknowledgement comes in milliseconds on a healthy link; waiting longer only delays
        # the session's own deadline, which is what makes a lost command safe.
        await client.publish(topic, z2m.command_payload(command, topics), qos=1, timeout=2.0)
        self.counters["commands"] += 1

    def keypad_capable(self, address: str) -> bool:
        """True for a lock behind zigbee2mqtt (its `pin_code` expose); a device known only from Home Assistant
        discovery has no keypad command in its config."""
        return address not in self.topics

    def watch(self, addresses: Mapping[str, str] | Iterable[str]) -> None:
        """Devices the hub knows, with the key they are sharded by (their home): a home's camera and lock
        must land on the same worker, which checks the camera's frames before it unlocks the door.
        Watched devices are also reported unavailable when the broker goes away."""
        if isinstance(addresses, Mapping):
            self._keys.update(addresses)
        self._watched.update(a for a in addresses if self.owns(a))

    def watching(self, address: str) -> bool:
        """True for a device this worker watches (it is reported unavailable when the broker goes away)."""
        return address in self._watched

    def owns(self, address: str) -> bool:
        """True when this worker's shard handles the device."""
        if self.shard is None:
            return True
        index, count = self.shard
        return zlib.crc32(self._keys.get(address, address).encode()) % count == index

    async def _run(self) -> None:
        backoff = 0.2
        v5 = self.wanted_protocol in ("auto", "5")
        while not self._stopping:
            try:
                await self._session(v5)
                backoff = 0.2
            except aiomqtt.MqttCodeError as exc:
                if v5 and exc.rc in (1, 132) and self.wanted_protocol == "auto":
                    # Unacceptable protocol version: the broker speaks 3.1.1 only.
                    v5 = False
                    continue
                log.warning("mqtt.refused", error=str(exc))
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning("mqtt.connection_lost", error=str(exc))
            await self._lost()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _session(self, v5: bool) -> None:
        protocol = aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311
        async with aiomqtt.Client(self.broker.host, self.broker.port, username=self.broker.username,
                                  password=self.broker.password, identifier=self.client_id,
                                  protocol=protocol, keepalive=5, timeout=self.connect_timeout) as client:
            self._client = client
            self.protocol = "5" if v5 else "3.1.1"
            if self.listen:
                await client.subscribe(f"{self.discovery_prefix}/#", qos=1)
                await client.subscribe(f"{self.base}/#", qos=1)
                for topic in list(self._by_state_topic):
                    await client.subscribe(topic, qos=1)
            self._connected.set()
            log.info("mqtt.connected", host=self.broker.host, port=self.broker.port, protocol=self.protocol)
            queue = client._queue  # aiomqtt's own queue: see below
            async for message in client.messages:
                if self._stopping:
                    return
                await self._message(message.topic.value, _payload(message.payload))
                # The iterator costs a task per message; under load, what is already queued is taken directly
                # (it doubled the messages a worker handles per second, BENCHMARKS.md).
                while not queue.empty():
                    queued = queue.get_nowait()
                    await self._message(queued.topic.value, _payload(queued.payload))

    async def _lost(self) -> None:
        """The broker is gone: nothing we heard of can be confirmed any more."""
        was_up = self.connected
        self._connected.clear()
        self._client = None
        if was_up:
            self.counters["disconnects"] += 1
            await self._unavailable(sorted(self._heard | self._watched))

    async def _unavailable(self, addresses: list[str]) -> None:
        now = datetime.now(UTC)
        for address in addresses:
            await self._deliver(DeviceReport(address, now, available=False))

    async def _message(self, topic: str, payload: bytes) -> None:
        self.counters["messages"] += 1
        try:
            if topic.startswith(self.discovery_prefix + "/"):
                await self._discovery(topic, payload)
                return
            if topic == f"{self.base}/bridge/state":
                await self._bridge(payload)
                return
            parsed = self._parse(topic, payload)
        except z2m.MessageError as exc:
            self.counters["malformed"] += 1
            log.warning("mqtt.malformed", topic=topic, error=str(exc))
            return
        except Exception:
            # Whatever a message holds, it must not stop the stream for every other device.
            self.counters["malformed"] += 1
            log.exception("mqtt.unreadable", topic=topic)
            return
        if parsed is None or not self.owns(parsed.name):
            return
        self._heard.add(parsed.name)
        await self._deliver(DeviceReport(parsed.name, parsed.at or datetime.now(UTC), state=parsed.state,
                                         frame_at=parsed.frame_at, available=parsed.available,
                                         battery=parsed.battery, codes=parsed.codes))

    def _parse(self, topic: str, payload: bytes) -> z2m.Parsed | None:
        address = self._by_state_topic.get(topic)
        if address is not None:
            topics = self.topics[address]
            if topic == topics.availability:
                return z2m.availability(address, payload, topics.availability_words)
            return z2m.state(address, self.discovered[address].kind, payload, topics.template_key, plain=True)
        where = z2m.split(topic, self.base)
        if where is None:
            return None
        name, suffix = where
        if suffix == "availability":
            return z2m.availability(name, payload)
        if suffix == "frame":
            return z2m.frame(name, payload)
        if suffix:
            return None  # our own /set and /get traffic
        # A device with topics of its own was matched above; under the base, messages are zigbee2mqtt's.
        known = self.discovered.get(name)
        return z2m.state(name, known.kind if known else None, payload)

    async def _discovery(self, topic: str, payload: bytes) -> None:
        found = z2m.discovery(topic, payload, self.discovery_prefix)
        if found is None:
            return
        device, topics = found
        prefix = self.base + "/"
        if topics.state.startswith(prefix):
            # A zigbee2mqtt device announced through discovery keeps its friendly name as its address.
            device = DiscoveredDevice(topics.state[len(prefix):], device.kind, device.name, "zigbee2mqtt")
            if topics.command == f"{topics.state}/set":
                # Its messages are read the zigbee2mqtt way for its kind; the template adds nothing.
                self.discovered[device.address] = device
                return
        self.discovered[device.address] = device
        self.topics[device.address] = topics
        new = [t for t in (topics.state, topics.availability) if t and t not in self._by_state_topic]
        for t in new:
            self._by_state_topic[t] = device.address
        if new and self._client is not None and not topics.state.startswith(prefix):
            for t in new:
                await self._client.subscribe(t, qos=1)
        self.counters["discovered"] += 1

    async def _bridge(self, payload: bytes) -> None:
        # The bridge says online/offline the way its devices do.
        if z2m.availability("bridge", payload).available is False:
            # zigbee2mqtt itself is down: none of its devices can act or confirm.
            self.counters["bridge_offline"] += 1
            await self._unavailable([a for a in sorted(self._heard | self._watched) if a not in self.topics])

    async def _deliver(self, report: DeviceReport) -> None:
        if self._on_report is not None:
            await self._on_report(report)


def _payload(raw: object) -> bytes:
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode()
    return b"" if raw is None else str(raw).encode()
