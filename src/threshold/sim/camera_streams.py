"""Simulated cameras that produce real video: MJPEG over HTTP from ffmpeg test sources, with faults on demand.

Each camera address gets one ffmpeg test source (`testsrc2` with its address and a UTC clock burnt in),
started by its first viewer, shared by all of them and stopped when the last one leaves. `freeze` keeps the
connections open but sends nothing (a hung camera); `cut` drops them and answers 503 (a camera gone offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

from threshold.video.ffmpeg import (
    CLOCK_TEXT,
    DEFAULT_FONT,
    FrameFanout,
    drawtext,
    drawtext_literal,
    end_process,
    find_binary,
    mpjpeg_frames,
)

_PATH = re.compile(r"^/cam/(?P<address>[^/?#]+)\.mjpg(?:\?.*)?$")
_BOUNDARY = b"frame"
_STATUS = {404: b"Not Found", 503: b"Service Unavailable"}


class _Producer:
    """One ffmpeg test source for one camera address, fanned out to that camera's viewers."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.users = 0
        self.fanout = FrameFanout()
        self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for frame in mpjpeg_frames(self.proc.stdout):
                self.fanout.publish(frame)
        finally:
            self.fanout.close()

    async def stop(self) -> None:
        """End the test source and every viewer's frame stream."""
        # A test pattern has no file to finish, so it is asked to end with SIGTERM rather than SIGINT.
        await end_process(self.proc, grace=2.0, first=signal.SIGTERM)
        await self._pump


class CameraStreams:
    """An HTTP server on loopback serving `GET /cam/{address}.mjpg` as MJPEG from per-address ffmpeg sources."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fps: int = 5, size: str = "320x240",
                 ffmpeg: str = "ffmpeg", font: str = DEFAULT_FONT) -> None:
        self.host, self.port, self.fps, self.size, self.font = host, port, fps, size, font
        self._ffmpeg = ffmpeg
        self._server: asyncio.Server | None = None
        self._producers: dict[str, _Producer] = {}
        self._lock = asyncio.Lock()
        self._frozen: set[str] = set()
        self._cut: set[str] = set()
        self._viewers: dict[str, set[asyncio.StreamWriter]] = {}
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def producers(self) -> dict[str, int]:
        """The ffmpeg process id of every running test source, by camera address."""
        return {address: p.proc.pid for address, p in self._producers.items()}

    def url_for(self, address: str) -> str:
        """The MJPEG URL of a simulated camera (known once started, when `port` was 0)."""
        return f"http://{self.host}:{self.port}/cam/{quote(address, safe='')}.mjpg"

    async def start(self) -> None:
        """Listen (on a free port when `port` is 0)."""
        find_binary(self._ffmpeg)
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and kill every ffmpeg started here."""
        if self._server is not None:
            self._server.close()
        for writer in self._connections:
            writer.transport.abort()
        if self._handlers:
            _, pending = await asyncio.wait(self._handlers, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        async with self._lock:
            producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            await producer.stop()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def freeze(self, address: str) -> None:
        """Keep the camera's connections open but send no more bytes."""
        self._frozen.add(address)

    def thaw(self, address: str) -> None:
        """Resume sending live frames after `freeze`."""
        self._frozen.discard(address)

    def cut(self, address: str) -> None:
        """Drop the camera's connections now and refuse new ones with 503 until `restore`."""
        self._cut.add(address)
        for writer in self._viewers.get(address, set()):
            writer.transport.abort()

    def restore(self, address: str) -> None:
        """Serve the camera again after `cut`."""
        self._cut.discard(address)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, _, rest = head.decode("latin-1").partition(" ")
            match = _PATH.match(rest.split(" ", 1)[0])
            if method != "GET" or match is None:
                await _reply(writer, 404, body=method != "HEAD")
            elif (address := unquote(match["address"])) in self._cut:
                await _reply(writer, 503)
            else:
                await self._stream(address, reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._connections.discard(writer)
            self._handlers.discard(task)

    async def _stream(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        producer = await self._acquire(address)
        viewers = self._viewers.setdefault(address, set())
        viewers.add(writer)
        frames = producer.fanout.subscribe()
        sending = asyncio.create_task(self._send(address, frames, writer))
        # The client leaving shows up on the read side even while a frozen feed writes nothing.
        hangup = asyncio.create_task(reader.read(1))
        try:
            await asyncio.wait({sending, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, hangup):
                task.cancel()
            await asyncio.gather(sending, hangup, return_exceptions=True)
            await frames.aclose()
            viewers.discard(writer)
            await self._release(address, producer)

    async def _send(self, address: str, frames: AsyncIterator[bytes], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=" + _BOUNDARY +
                     b"\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
        await writer.drain()
        async for frame in frames:
            if address in self._frozen:
                continue
            writer.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                         % (_BOUNDARY, len(frame), frame))
            await writer.drain()

    async def _acquire(self, address: str) -> _Producer:
        async with self._lock:
            producer = self._producers.get(address)
            if producer is None:
                producer = _Producer(await asyncio.create_subprocess_exec(
                    find_binary(self._ffmpeg), *self._command(address), stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, start_new_session=True))
                self._producers[address] = producer
            producer.users += 1
            return producer

    async def _release(self, address: str, producer: _Producer) -> None:
        async with self._lock:
            producer.users -= 1
            if producer.users > 0 or self._producers.get(address) is not producer:
                return
            del self._producers[address]
        await producer.stop()

    def _command(self, address: str) -> list[str]:
        # Mid-picture, so that a recorder's own labels (top and bottom) do not cover the camera's.
        graph = ",".join([drawtext(drawtext_literal(f"camera {address}"), self.font, "h/2-th-4", "w-tw-6"),
                          drawtext(CLOCK_TEXT, self.font, "h/2+4", "w-tw-6")])
        return ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
                "-re", "-f", "lavfi", "-i", f"testsrc2=size={self.size}:rate={self.fps}", "-vf", graph,
                "-c:v", "mjpeg", "-q:v", "7", "-threads", "1", "-f", "mpjpeg", "pipe:1"]


async def _reply(writer: asyncio.StreamWriter, status: int, body: bool = True) -> None:
    text = _STATUS[status]
    writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % (status, text, len(text) + 1))
    if body:
        writer.write(text + b"\n")
    await writer.drain()
