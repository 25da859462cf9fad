"""Load for bench/device_hub.py: N homes' devices on their own MQTT connections, the zigbee2mqtt way.

Each home is one connection to the broker (a home's bridge), holding a lock, a camera and an alarm panel
named `home-<i>/lock` and so on. It answers every command on `<base>/home-<i>/+/set` at once with the
confirmed state, and on request publishes background traffic at a fixed offered rate, open loop: camera
frame heartbeats and repeats of each device's current state with fresh `last_seen` and link quality.

paho-mqtt on an asyncio loop (paho's external-loop mode), so thousands of connections cost one thread. Runs
as a child process of the benchmark; talks to it over a multiprocessing pipe.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt

# What a device says once it has done what it was told.
_ANSWER = {"LOCK": "locked", "UNLOCK": "unlocked", "ARM_AWAY": "armed_away", "DISARM": "disarmed",
           "START": "recording", "STOP": "idle"}
# Background traffic, in turn for each home: half frame heartbeats, half repeated states.
_BACKGROUND = ("frame", "lock", "frame", "alarm", "frame", "camera")
ALARM_CODE = "1234"
BATTERY = {"lock": 87, "alarm": 93}  # what the devices report; seeded too, so repeats change nothing


@dataclass(slots=True, eq=False)
class Home:
    """One home's bridge connection and the states of its three devices."""

    index: int
    client: mqtt.Client
    states: dict[str, str] = field(default_factory=lambda: {"lock": "locked", "camera": "idle",
                                                            "alarm": "armed_away"})
    answered_at: float | None = None  # when this home last confirmed a command of a running session
    quality: int = 100


@dataclass(slots=True)
class Tally:
    """What the load did during one phase."""

    background: int = 0
    frames: int = 0  # heartbeats of recording cameras
    answers: int = 0
    refused: int = 0
    errors: int = 0
    round_trips: list[float] = field(default_factory=list)  # confirmed state published -> next command read


class Fleet:
    """Every home of this process, their connections and their traffic."""

    def __init__(self, host: str, port: int, base: str, indices: list[int], qos: int) -> None:
        self.host, self.port, self.base, self.qos = host, port, base, qos
        self.indices = indices
        self.homes: list[Home] = []
        self.connected = 0
        self.tally = Tally()
        self.loop = asyncio.get_running_loop()
        self.recording: set[Home] = set()

    async def connect(self, progress: Connection) -> None:
        """Open one connection per home, each subscribed to its own devices' command topics."""
        for n, i in enumerate(self.indices):
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-home-{i}",
                                 protocol=mqtt.MQTTv311, clean_session=True)
            home = Home(i, client)
            client.user_data_set(home)
            client.on_connect = self._on_connect
            client.on_message = self._on_message
            client.max_inflight_messages_set(100)
            client.connect(self.host, self.port, keepalive=600)
            sock = client.socket()
            assert sock is not None
            self.loop.add_reader(sock.fileno(), self._readable, client)
            self.homes.append(home)
            if n % 200 == 199:
                await asyncio.sleep(0)
                progress.send(("connecting", self.connected))
        while self.connected < len(self.indices):
            await asyncio.sleep(0.05)
            progress.send(("connecting", self.connected))
        self.loop.create_task(self._misc())
        self.loop.create_task(self._frames())

    def _on_connect(self, client: mqtt.Client, home: Home, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(f"{self.base}/home-{home.index}/+/set", qos=1)
        self.connected += 1

    def _readable(self, client: mqtt.Client) -> None:
        if client.loop_read(max_packets=64) != mqtt.MQTT_ERR_SUCCESS:
            self.tally.errors += 1
        self._flush(client)

    def _flush(self, client: mqtt.Client) -> None:
        # Answers published inside paho's callback wait in its queue: write them now, or when the socket can.
        if client.want_write():
            client.loop_write()
            if client.want_write():
                sock = client.socket()
                if sock is not None:
                    self.loop.add_writer(sock.fileno(), self._writable, client)

    def _writable(self, client: mqtt.Client) -> None:
        client.loop_write()
        sock = client.socket()
        if sock is not None and not client.want_write():
            self.loop.remove_writer(sock.fileno())

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(5)
            for home in self.homes:
                home.client.loop_misc()

    async def _frames(self) -> None:
        # A recording camera sends a frame heartbeat twice a second, as the simulator's cameras do.
        while True:
            await asyncio.sleep(0.5)
            payload = b'{"frame_at":"' + _now().encode() + b'"}'
            for home in list(self.recording):
                home.client.publish(f"{self.base}/home-{home.index}/camera/frame", payload, qos=self.qos)
                self._flush(home.client)
                self.tally.frames += 1

    def _on_message(self, client: mqtt.Client, home: Home, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if home.answered_at is not None:
            self.tally.round_trips.append(now - home.answered_at)
            home.answered_at = None
        name = message.topic[len(self.base) + 1:-len("/set")]
        kind = name.rpartition("/")[2]
        try:
            body = json.loads(message.payload)
            word = _ANSWER[str(body["state"]).upper()]
        except (ValueError, KeyError, TypeError):
            self.tally.errors += 1
            return
        if kind == "alarm" and word == "disarmed" and body.get("code") != ALARM_CODE:
            self.tally.refused += 1
            return
        home.states[kind] = word
        if kind == "camera":
            (self.recording.add if word == "recording" else self.recording.discard)(home)
        payload = _state(kind, word, home.quality, _now())
        client.publish(f"{self.base}/{name}", payload, qos=self.qos)
        self.tally.answers += 1
        # The camera going idle ends a session: no command follows it.
        home.answered_at = None if word == "idle" else time.perf_counter()

    async def background(self, rate: float, seconds: float) -> None:
        """Publish `rate` messages per second for `seconds`, open loop, spread over every home in turn."""
        start = time.perf_counter()
        homes, n, k = self.homes, len(self.homes), 0
        pending: set[mqtt.Client] = set()
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(rate * elapsed) - k
            stamp = _now()
            for _ in range(due):
                home = homes[k % n]
                what = _BACKGROUND[(k // n) % len(_BACKGROUND)]
                home.quality = 90 + k % 30
                if what == "frame":
                    topic = f"{self.base}/home-{home.index}/camera/frame"
                    payload = b'{"frame_at":"' + stamp.encode() + b'"}'
                else:
                    topic = f"{self.base}/home-{home.index}/{what}"
                    payload = _state(what, home.states[what], home.quality, stamp)
                home.client.publish(topic, payload, qos=self.qos)
                pending.add(home.client)
                k += 1
            for client in pending:
                self._flush(client)
            pending.clear()
            await asyncio.sleep(0.002)
        self.tally.background += k


def _state(kind: str, word: str, quality: int, stamp: str) -> bytes:
    """A zigbee2mqtt-shaped state payload, as the simulator's devices send it."""
    body: dict[str, object] = {"last_seen": stamp, "linkquality": quality}
    if kind == "lock":
        body.update(lock_state=word, state="LOCK" if word == "locked" else "UNLOCK", battery=BATTERY["lock"])
    elif kind == "alarm":
        body.update(state=word, battery=BATTERY["alarm"])
    else:
        body["state"] = word
        if word == "recording":
            body["frame_at"] = stamp
    return json.dumps(body).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _serve(pipe: Connection, host: str, port: int, base: str, indices: list[int], qos: int) -> None:
    fleet = Fleet(host, port, base, indices, qos)
    await fleet.connect(pipe)
    pipe.send(("ready", fleet.connected))
    commands: asyncio.Queue[Any] = asyncio.Queue()
    fleet.loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
    while True:
        command = await commands.get()
        if command[0] == "phase":
            fleet.tally = Tally()
            await fleet.background(command[1], command[2])
            pipe.send(("sent", fleet.tally.background))
        elif command[0] == "tally":
            # Sessions the hub gave up on leave cameras recording: their heartbeats stop with the phase.
            fleet.recording.clear()
            t = fleet.tally
            pipe.send(("tally", {"background": t.background, "frames": t.frames, "answers": t.answers,
                                 "refused": t.refused,
                                 "errors": t.errors, "round_trips": t.round_trips}))
        elif command[0] == "stop":
            for home in fleet.homes:
                home.client.disconnect()
            pipe.send(("stopped",))
            return


def run(pipe: Connection, host: str, port: int, base: str, indices: list[int], qos: int) -> None:
    """Child process entry point: play the homes `indices` until told to stop."""
    asyncio.run(_serve(pipe, host, port, base, indices, qos))
