"""The simulated cameras: real MJPEG over HTTP, one ffmpeg per camera, faults on demand, nothing left running."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from threshold.sim.camera_streams import CameraStreams
from threshold.video.ffmpeg import mpjpeg_frames
from threshold.video.probe import probe


@pytest.fixture
async def cams() -> AsyncIterator[CameraStreams]:
    streams = CameraStreams(fps=5, size="320x240")
    await streams.start()
    yield streams
    await streams.stop()


def ffmpeg_children() -> list[int]:
    """Our descendant processes named ffmpeg, zombies included (they would mean a child never reaped)."""
    parents: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        names[int(entry)] = name
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        for child in parents.get(todo.pop(), []):
            todo.append(child)
            if names[child] == "ffmpeg":
                found.append(child)
    return found


class Viewer:
    """A raw HTTP client of one camera stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int) -> None:
        self.reader, self.writer, self.status = reader, writer, status
        self.frames = mpjpeg_frames(reader)

    @classmethod
    async def open(cls, url: str, method: str = "GET") -> Viewer:
        """Send one request and read the response head."""
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(f"{method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)
        return cls(reader, writer, int(head.split(b" ")[1]))

    async def frame(self, timeout: float = 3.0) -> bytes:
        """The next JPEG, or TimeoutError."""
        try:
            return await asyncio.wait_for(anext(self.frames), timeout)
        except TimeoutError:
            # The timeout closed the parser; the bytes it was waiting for are still in the reader.
            self.frames = mpjpeg_frames(self.reader)
            raise

    def close(self) -> None:
        """Hang up."""
        self.writer.close()


async def test_two_viewers_of_a_camera_share_one_ffmpeg_which_stops_when_they_leave(
        cams: CameraStreams, tmp_path: Path) -> None:
    one, two = await Viewer.open(cams.url_for("front door")), await Viewer.open(cams.url_for("front door"))
    assert one.status == two.status == 200
    jpegs = [await one.frame(), await two.frame(), await one.frame()]
    assert all(j.startswith(b"\xff\xd8") and j.endswith(b"\xff\xd9") for j in jpegs)
    (tmp_path / "frame.jpg").write_bytes(jpegs[-1])
    info = await probe(tmp_path / "frame.jpg")
    assert (info.codec, info.width, info.height) == ("mjpeg", 320, 240)
    assert list(cams.producers) == ["front door"] and ffmpeg_children() == [cams.producers["front door"]]

    one.close()
    await two.frame()  # the other viewer keeps watching
    two.close()
    for _ in range(40):
        if not cams.producers and not ffmpeg_children():
            break
        await asyncio.sleep(0.05)
    assert cams.producers == {} and ffmpeg_children() == []


async def test_unknown_paths_and_head_requests_get_404(cams: CameraStreams) -> None:
    base = cams.url_for("x").removesuffix("/cam/x.mjpg")
    for url, method in ((f"{base}/cam/x.jpg", "GET"), (f"{base}/", "GET"), (f"{base}/cam/a/b.mjpg", "GET"),
                        (cams.url_for("x"), "HEAD"), (cams.url_for("x"), "POST")):
        viewer = await Viewer.open(url, method)
        assert viewer.status == 404, (url, method)
        viewer.close()
    assert cams.producers == {}


async def test_a_cut_camera_drops_its_viewers_and_answers_503_until_restored(cams: CameraStreams) -> None:
    viewer, other = await Viewer.open(cams.url_for("garage")), await Viewer.open(cams.url_for("porch"))
    await viewer.frame()
    cams.cut("garage")
    with pytest.raises(StopAsyncIteration):
        while True:
            await viewer.frame(timeout=1.0)
    assert (await Viewer.open(cams.url_for("garage"))).status == 503
    await other.frame()  # other cameras are untouched
    cams.restore("garage")
    again = await Viewer.open(cams.url_for("garage"))
    assert again.status == 200 and (await again.frame()).startswith(b"\xff\xd8")
    for v in (viewer, other, again):
        v.close()


async def test_a_frozen_camera_keeps_the_connection_open_but_sends_nothing_until_thawed(
        cams: CameraStreams) -> None:
    viewer = await Viewer.open(cams.url_for("hall"))
    await viewer.frame()
    cams.freeze("hall")
    with pytest.raises(TimeoutError):
        while True:  # a frame already on its way may still arrive; after it, silence
            await viewer.frame(timeout=1.2)
    assert not viewer.reader.at_eof()
    cams.thaw("hall")
    assert (await viewer.frame()).startswith(b"\xff\xd8")
    viewer.close()


async def test_stop_closes_every_connection_and_leaves_no_ffmpeg_running() -> None:
    cams = CameraStreams(fps=5, size="320x240")
    await cams.start()
    viewers = [await Viewer.open(cams.url_for(a)) for a in ("a", "b", "b")]
    for v in viewers:
        await v.frame()
    cams.freeze("b")  # a frozen feed's viewers are closed too
    assert len(ffmpeg_children()) == 2
    await asyncio.wait_for(cams.stop(), 5.0)
    assert ffmpeg_children() == [] and cams.producers == {}
    for v in viewers:
        assert await asyncio.wait_for(v.reader.read(), 2.0) == b"" or v.reader.at_eof()
        v.close()
