"""The simulated neighbourhood's devices speaking MQTT the way zigbee2mqtt does.

The same device physics as `SimulatedGateway` (latency, jams, frozen cameras), carried over a real broker:
each device publishes its Home Assistant discovery config, its availability and its state (retained, with
zigbee2mqtt's `last_seen`), answers commands on `<base>/<name>/set`, and cameras send frame heartbeats on
`<base>/<name>/frame`. The platform reads all of it through the production MQTT adapter.

Locks have a keypad, driven as zigbee2mqtt drives one: `{"pin_code": {"user": N, ..., "pin_code": "123456"}}`
sets user slot N, `"pin_code": null` clears it, and the lock's state then carries `"users": {"N": {"status":
"enabled"}}` (or `available`), as zigbee2mqtt publishes after the lock answers. The PIN is never published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import structlog

from threshold.devices import z2m
from threshold.devices.mqtt import BrokerAddress
from threshold.devices.ports import DeviceCommand, DeviceKind, DeviceReport
from threshold.devices.simulated import SimDevice, SimulatedGateway

log = structlog.get_logger("threshold.sim.mqtt")

_COMPONENT = {DeviceKind.LOCK: "lock", DeviceKind.ALARM: "alarm_control_panel", DeviceKind.CAMERA: "camera",
              DeviceKind.GARAGE: "cover", DeviceKind.CONTACT: "binary_sensor"}
_ACTION = {str(body["state"]): action for (_, action), body in z2m.COMMANDS.items()}
# zigbee2mqtt refuses a user outside 0..pinCodeCount-1; 30 is a common lock's count (Kwikset, Yale).
PIN_CODE_COUNT = 30


class MqttDevices(SimulatedGateway):
    """Simulated devices behind a simulated zigbee2mqtt bridge on a real broker."""

    def __init__(self, url: str, *, base: str = "zigbee2mqtt", discovery_prefix: str = "homeassistant",
                 alarm_code: str = "1234", state_file: Path | None = None, frame_interval: float = 0.5,
                 client_id: str = "threshold-sim") -> None:
        super().__init__(state_file=state_file, frame_interval=frame_interval)
        self.broker = BrokerAddress.parse(url)
        self.base = base
        self.discovery_prefix = discovery_prefix
        self.alarm_code = alarm_code
        self.client_id = client_id
        self.refused: list[tuple[str, str]] = []  # (address, action) refused for a wrong code
        self._client: aiomqtt.Client | None = None
        self._up = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect to the broker, announce every device and keep reconnecting until `close()`."""
        self._runner = asyncio.create_task(self._run())
        await asyncio.wait_for(self._up.wait(), timeout)
        await self.start(self._nobody)

    async def close(self) -> None:
        """Stop the devices and leave the broker."""
        await self.stop()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _nobody(self, report: DeviceReport) -> None:
        """Reports go to the broker, not to a handler in this process."""

    async def _run(self) -> None:
        # `_stopping` (set by stop(), which close() calls first) ends the loop even if a cancellation is lost.
        while not self._stopping:
            try:
                will = aiomqtt.Will(f"{self.base}/bridge/state", b'{"state":"offline"}', qos=1, retain=True)
                async with aiomqtt.Client(self.broker.host, self.broker.port, identifier=self.client_id,
                                          username=self.broker.username, password=self.broker.password,
                                          protocol=aiomqtt.ProtocolVersion.V311, will=will, keepalive=5) as client:
                    self._client = client
                    await client.subscribe(f"{self.base}/#", qos=1)
                    await client.publish(f"{self.base}/bridge/state", b'{"state":"online"}', qos=1, retain=True)
                    if self._up.is_set():
                        # A broker that restarted has forgotten everything retained: say it all again.
                        for address, dev in list(self.devices.items()):
                            await self._announce(address, dev)
                    self._up.set()
                    async for message in client.messages:
                        if self._stopping:
                            return
                        payload = message.payload
                        await self._command(message.topic.value,
                                            bytes(payload) if isinstance(payload, bytes | bytearray) else b"")
            except (aiomqtt.MqttError, OSError) as exc:
                log.info("sim.mqtt_lost", error=str(exc))
            self._client = None
            await asyncio.sleep(0.2)

    async def _command(self, topic: str, payload: bytes) -> None:
        where = z2m.split(topic, self.base)
        if where is None or where[1] != "set" or where[0] not in self.devices:
            return
        address = where[0]
        dev = self.devices[address]
        try:
            body = json.loads(payload)
            if isinstance(body, dict) and "pin_code" in body:
                await self._pin_code(address, dev, body["pin_code"])
                return
            action = _ACTION[str(body["state"]).upper()]
        except (ValueError, KeyError, TypeError):
            log.info("sim.bad_command", address=address)
            return
        code = body.get("code")
        if dev.kind is DeviceKind.ALARM and action == "disarm" and code != self.alarm_code:
            # A real panel refuses a wrong code and stays armed.
            self.refused.append((address, action))
            self.log.append((asyncio.get_running_loop().time(), address, "refused:" + action))
            return
        await self.send(DeviceCommand(address, dev.kind, action, code))

    async def _pin_code(self, address: str, dev: SimDevice, value: object) -> None:
        """zigbee2mqtt's `pin_code` converter: check the user and PIN as it does, then tell the lock."""
        if dev.kind is not DeviceKind.LOCK or not dev.behaviour.keypad or not isinstance(value, dict):
            log.info("sim.keypad_refused", address=address)
            return
        user, pin = value.get("user"), value.get("pin_code")
        if not isinstance(user, int) or isinstance(user, bool) or not 0 <= user < PIN_CODE_COUNT:
            log.info("sim.keypad_bad_user", address=address)
            return
        if pin is not None and not (isinstance(pin, str) and pin.isdigit()):
            log.info("sim.keypad_bad_pin", address=address)  # never the PIN itself
            return
        if pin is not None and (value.get("user_enabled", True) is not True
                                or value.get("user_type", "unrestricted") != "unrestricted"):
            log.info("sim.keypad_unsupported_user", address=address)
            return
        action = "clear_code" if pin is None else "set_code"
        await self.send(DeviceCommand(address, dev.kind, action, pin, slot=user))

    async def _publish(self, topic: str, body: dict[str, object] | bytes, retain: bool = False) -> None:
        client = self._client
        if client is None:
            return  # the broker is away: what happens at the house now is not heard, as with a real bridge
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(topic, data, qos=1, retain=retain)

    async def _announce(self, address: str, dev: SimDevice) -> None:
        """Publish discovery config, availability and state, all retained."""
        component = _COMPONENT[dev.kind]
        config: dict[str, object] = {"name": address, "unique_id": f"{address}_{component}",
                                     "state_topic": f"{self.base}/{address}",
                                     "command_topic": f"{self.base}/{address}/set",
                                     "availability_topic": f"{self.base}/{address}/availability",
                                     "value_template": "{{ value_json." + _key(dev.kind) + " }}"}
        if dev.kind is DeviceKind.GARAGE:
            config["device_class"] = "garage"
        if dev.kind is DeviceKind.CONTACT:
            config["device_class"] = "door"
        node = address.replace("/", "_")
        await self._publish(f"{self.discovery_prefix}/{component}/{node}/{component}/config", config, retain=True)
        word = "offline" if dev.behaviour.offline else "online"
        await self._publish(f"{self.base}/{address}/availability", {"state": word}, retain=True)
        await self._publish(f"{self.base}/{address}", _body(dev.kind, dev.state, dev.slots()), retain=True)

    async def _report(self, address: str, state: str, frame_at: datetime | None = None) -> None:
        """Publish a state change, as zigbee2mqtt does after the device told it."""
        self.log.append((asyncio.get_running_loop().time(), address, "=" + state))
        dev = self.devices[address]
        body = _body(dev.kind, state, dev.slots())
        if frame_at is not None:
            body["frame_at"] = frame_at.isoformat()
        await self._publish(f"{self.base}/{address}", body, retain=True)

    async def _report_codes(self, address: str, dev: SimDevice) -> None:
        """zigbee2mqtt publishes the lock's whole state after a keypad change, `users` included."""
        await self._report(address, dev.state)

    async def _frame(self, address: str) -> None:
        """Publish one frame heartbeat (not retained: an old frame must never look new)."""
        await self._publish(f"{self.base}/{address}/frame", {"frame_at": _now().isoformat()})


def _key(kind: DeviceKind) -> str:
    return {DeviceKind.LOCK: "lock_state", DeviceKind.CONTACT: "contact"}.get(kind, "state")


def _body(kind: DeviceKind, state: str, slots: tuple[tuple[int, str], ...] = ()) -> dict[str, object]:
    """A zigbee2mqtt-shaped state payload (a lock's keypad slots under `users`, as zigbee2mqtt keeps them)."""
    body: dict[str, object] = {"last_seen": _now().isoformat(), "linkquality": 120}
    if kind is DeviceKind.LOCK:
        body["lock_state"] = {"jammed": "not_fully_locked"}.get(state, state)
        body["state"] = "LOCK" if state == "locked" else "UNLOCK"
        body["battery"] = 87
        if slots:
            body["users"] = {str(slot): {"status": status} for slot, status in slots}
    elif kind is DeviceKind.CONTACT:
        body["contact"] = state == "closed"
        body["battery"] = 92
    elif kind is DeviceKind.GARAGE:
        body["state"] = {"open": "OPEN", "closed": "CLOSE"}.get(state, state)
    else:
        body["state"] = state
    return body


def _now() -> datetime:
    return datetime.now(UTC)
