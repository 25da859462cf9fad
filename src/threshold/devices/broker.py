"""MQTT brokers threshold can start itself: embedded (amqtt, for the demo) or a Mosquitto process (tests).

Both bind to 127.0.0.1 only and can be stopped and started again on the same port, which is how the
broker-outage scenario takes the broker away from under a live session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Protocol


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker(Protocol):
    """A broker this process controls."""

    url: str

    async def start(self) -> None:
        """Start listening."""

    async def stop(self) -> None:
        """Stop: every client loses its connection."""


class EmbeddedBroker:
    """amqtt in this process's event loop: MQTT 3.1.1, retained messages kept in memory."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._broker: object | None = None

    async def start(self) -> None:
        """Start amqtt on 127.0.0.1."""
        from amqtt.broker import Broker as AmqttBroker  # type: ignore[import-untyped]

        # amqtt logs every connection, and warns when a client first tries MQTT 5: our adapter does, by design.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        broker = AmqttBroker({
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        })
        await broker.start()
        self._broker = broker

    async def stop(self) -> None:
        """Shut amqtt down."""
        broker: Any = self._broker
        self._broker = None
        if broker is None:
            return
        # amqtt's shutdown can wait forever on a client with messages in flight: cut every connection first,
        # as a broker that dies does.
        for server in list(broker._servers.values()):
            with contextlib.suppress(Exception):
                server.instance.close()
        for _session, handler in list(broker._sessions.values()):
            writer = getattr(handler, "writer", None)
            if writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.close(), 1)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broker.shutdown(), 2)


class MosquittoProcess:
    """A Mosquitto server of our own on a free loopback port (Debian's `mosquitto` binary)."""

    def __init__(self, port: int | None = None, binary: str | None = None) -> None:
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        found = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(found).exists():
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = found
        self._dir = tempfile.TemporaryDirectory(prefix="threshold-mosquitto-")
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start Mosquitto and wait until it accepts connections."""
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "log_dest stderr\nlog_type error\n")
        self._proc = await asyncio.create_subprocess_exec(self.binary, "-c", str(conf),
                                                          stdout=asyncio.subprocess.DEVNULL,
                                                          stderr=asyncio.subprocess.DEVNULL)
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    async def stop(self) -> None:
        """Terminate Mosquitto."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
