"""The ffmpeg recorder against simulated cameras that stream real video: clips, live view, gaps and failures."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from threshold.sim.camera_streams import CameraStreams
from threshold.video.ffmpeg import DEFAULT_FONT, FfmpegNotFound, FfmpegRecorder, FfmpegRecording, drawtext, graph_value
from threshold.video.ports import CameraSource
from threshold.video.probe import probe

W, H = 320, 240
Record = Callable[..., Awaitable[FfmpegRecording]]
# Nothing but the characters the filter graph, drawtext's options and its expansion treat specially.
NASTY = "1b2c… · a:'b' 5% \\ [c],d;e=%{n}"


@pytest.fixture
async def cams() -> AsyncIterator[CameraStreams]:
    streams = CameraStreams(fps=5, size=f"{W}x{H}")
    await streams.start()
    yield streams
    await streams.stop()


@pytest.fixture
async def record(tmp_path: Path) -> AsyncIterator[Record]:
    """Starts recordings into tmp_path and stops whatever a test leaves running."""
    started: list[FfmpegRecording] = []

    async def start(url: str, overlay: str = "session test · front door", **kwargs: Any) -> FfmpegRecording:
        recorder = FfmpegRecorder(**{"fps": 10, "stall_timeout": 3.0, **kwargs})
        rec = await recorder.start(CameraSource(url), tmp_path / f"clip{len(started)}.mp4", overlay)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        await rec.stop()


async def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Whether `check` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def collect(frames: AsyncIterator[bytes]) -> list[bytes]:
    """Every frame left in a live view, once it ends."""
    return [f async for f in frames]


async def ffmpeg_rgb(*args: str) -> bytes:
    """The frames ffmpeg decodes from `args`, as packed RGB."""
    proc = await asyncio.create_subprocess_exec("ffmpeg", "-v", "error", *args, "-f", "rawvideo", "-pix_fmt",
                                                "rgb24", "pipe:1", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out


async def rendered(text: str, y: str, tmp_path: Path) -> bytes:
    """`text` drawn verbatim (from a file, no expansion: none of the recorder's escaping) on the test colour."""
    (tmp_path / "text.txt").write_text(text)
    literal = drawtext("", DEFAULT_FONT, y).removesuffix(":text=")
    literal += f":expansion=none:textfile={graph_value(str(tmp_path / 'text.txt'))}"
    return await ffmpeg_rgb("-f", "lavfi", "-i", f"color=c=blue:size={W}x{H}", "-vf", f"{literal},format=yuv420p",
                            "-frames:v", "1")


def looks_like(frame: bytes, right: bytes, wrong: bytes, rows: tuple[int, int]) -> bool:
    """Whether `frame` matches `right` far better than `wrong` in those rows, judged where the two differ."""
    f, a, b = (x[rows[0] * W * 3:rows[1] * W * 3] for x in (frame, right, wrong))
    where = [i for i in range(len(a)) if abs(a[i] - b[i]) > 64]
    assert where, "the two renderings do not differ"
    return sum(abs(f[i] - a[i]) for i in where) * 3 < sum(abs(f[i] - b[i]) for i in where)


async def test_recording_a_camera_gives_a_playable_h264_clip_of_the_recorded_length(
        cams: CameraStreams, record: Record) -> None:
    rec = await record(cams.url_for("front-door"))
    assert await wait_until(lambda: rec.frames > 0, 3.0)
    await asyncio.sleep(3.0)
    asked = time.monotonic()
    result = await rec.stop()
    assert time.monotonic() - asked < 2.0
    assert result.ok and result.reason is None and result.gaps == ()
    assert 2.5 < result.seconds < 4.0 and result.frames >= 12  # 5 fps camera
    info = await probe(result.path)
    assert (info.codec, info.width, info.height) == ("h264", W, H)
    assert abs(info.duration - result.seconds) < 0.6
    assert info.frames is not None and abs(info.frames - result.frames) <= 1


async def test_overlay_text_and_a_running_utc_clock_are_burnt_into_the_picture(
        record: Record, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    rec = await record(f"lavfi:color=c=blue:size={W}x{H}:rate=5", overlay=NASTY)
    assert await wait_until(lambda: rec.frames >= 8, 5.0)  # more than a second of frames
    result = await rec.stop()
    after = datetime.now(UTC)
    raw = await ffmpeg_rgb("-i", str(result.path))
    first, last = raw[:W * H * 3], raw[-W * H * 3:]

    top, bottom = (0, 32), (H - 32, H)
    right = await rendered(NASTY, "6", tmp_path)
    # What the usual escaping mistakes would draw: a swallowed backslash or quote, an expanded %{n}.
    for mistake in (NASTY.replace("\\", ""), NASTY.replace("'", ""), NASTY.replace("%{n}", "0")):
        assert looks_like(last, right, await rendered(mistake, "6", tmp_path), top), mistake

    seconds = [before.replace(microsecond=0) + timedelta(seconds=s)
               for s in range(int((after - before).total_seconds()) + 2)]
    clocks = [await rendered(f"{t:%Y-%m-%d %H:%M:%S} UTC", "h-th-6", tmp_path) for t in seconds]
    shown = [[i for i, c in enumerate(clocks) if all(looks_like(frame, c, o, bottom) for o in clocks if o is not c)]
             for frame in (first, last)]
    assert len(shown[0]) == len(shown[1]) == 1, "each frame shows exactly one of the seconds it was recorded in"
    assert shown[1][0] > shown[0][0]  # the clock ran: more than a second between the first and last frame


async def test_live_view_yields_jpeg_frames_while_recording_and_ends_with_it(
        cams: CameraStreams, record: Record) -> None:
    rec = await record(cams.url_for("front-door"))
    fast, slow = rec.live(), rec.live()
    await asyncio.wait_for(anext(slow), 3.0)
    frames = [await asyncio.wait_for(anext(fast), 3.0) for _ in range(3)]
    assert all(f.startswith(b"\xff\xd8") and f.endswith(b"\xff\xd9") for f in frames)
    await asyncio.sleep(1.5)  # the slow viewer reads nothing meanwhile, and is kept only the newest frames
    await rec.stop()
    # Both streams end with the recording, each having kept no more than its two newest frames.
    for viewer in (slow, fast):
        kept = await asyncio.wait_for(collect(viewer), 1.0)
        assert 1 <= len(kept) <= 2


async def test_a_cut_stream_fails_as_stream_lost_and_leaves_a_playable_partial_clip(
        cams: CameraStreams, record: Record) -> None:
    rec = await record(cams.url_for("back-door"))
    assert await wait_until(lambda: rec.frames >= 10, 4.0)
    cams.cut("back-door")
    assert await asyncio.wait_for(rec.failed(), 3.0) == "stream_lost"
    info = await probe(rec.path)
    assert info.codec == "h264" and info.duration > 1.0
    result = await rec.stop()
    assert (result.ok, result.reason) == (False, "stream_lost") and result.path.stat().st_size > 0


async def test_a_frozen_feed_opens_a_gap_which_closes_when_it_thaws(cams: CameraStreams, record: Record) -> None:
    rec = await record(cams.url_for("garage"), gap_after=1.0)
    assert await wait_until(lambda: rec.frames >= 5, 4.0)
    cams.freeze("garage")
    frozen_at = time.monotonic()
    assert await wait_until(lambda: bool(rec.gaps), 2.0)
    assert rec.gaps[0].end is None
    cams.thaw("garage")
    assert await wait_until(lambda: rec.gaps[0].end is not None, 2.0)
    gap = rec.gaps[0]
    assert gap.end is not None and gap.end - gap.start >= time.monotonic() - frozen_at - 1.0
    result = await rec.stop()
    assert result.ok and len(result.gaps) == 1
    assert (await probe(result.path)).duration > 2.0


async def test_a_freeze_longer_than_the_stall_timeout_fails_the_recording(
        cams: CameraStreams, record: Record) -> None:
    rec = await record(cams.url_for("garage"), gap_after=0.5, stall_timeout=1.5)
    assert await wait_until(lambda: rec.frames >= 3, 4.0)
    cams.freeze("garage")
    assert await asyncio.wait_for(rec.failed(), 4.0) == "stream_lost"
    result = await rec.stop()
    assert not result.ok and len(result.gaps) == 1 and result.gaps[0].end is not None


async def test_a_camera_that_answers_but_never_sends_a_frame_fails_as_no_frames(
        cams: CameraStreams, record: Record) -> None:
    cams.freeze("porch")
    started = time.monotonic()
    rec = await record(cams.url_for("porch"), stall_timeout=1.5)
    assert await asyncio.wait_for(rec.failed(), 4.0) == "no_frames"
    assert time.monotonic() - started >= 1.5
    assert (await rec.stop()).frames == 0


async def test_an_unreachable_camera_fails_quickly_without_leaking_its_credentials(record: Record) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    rec = await record(f"http://admin:hunter2@127.0.0.1:{port}/cam.mjpg?token=s3cret")
    assert await asyncio.wait_for(rec.failed(), 3.0) == "stream_lost"
    assert "refused" in rec.detail and "hunter2" not in rec.detail and "s3cret" not in rec.detail
    result = await rec.stop()
    assert (result.ok, result.frames) == (False, 0)


async def test_a_missing_ffmpeg_is_a_clear_error_at_start(tmp_path: Path) -> None:
    recorder = FfmpegRecorder(ffmpeg=str(tmp_path / "no-ffmpeg-here"))
    with pytest.raises(FfmpegNotFound, match="ensure-ffmpeg"):
        await recorder.start(CameraSource("lavfi:testsrc2"), tmp_path / "clip.mp4", "x")
