"""Recording a camera with ffmpeg: one process writes the clip and streams JPEG frames back for watching."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from threshold.video.ports import CameraSource, Gap, RecordingResult

log = structlog.get_logger("threshold.video")

DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
# The clock as drawtext expands it: UTC wall time when the frame passes the filter, i.e. when it arrived.
CLOCK_TEXT = r"%{gmtime:%Y-%m-%d %H\:%M\:%S} UTC"
# Wording ffmpeg uses when the input (the camera or the network to it) fails rather than ffmpeg itself.
_INPUT_ERRORS = ("connection refused", "connection reset", "timed out", "input/output error", "end of file",
                 "server returned", "no route to host", "network is unreachable", "name or service not known",
                 "invalid data found when processing input")
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")
_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s'\"?]*)\?[^\s'\"]*")


class FfmpegNotFound(RuntimeError):
    """The ffmpeg (or ffprobe) binary is not installed where we were told to find it."""


def find_binary(name: str) -> str:
    """The full path of an ffmpeg tool, or a clear error saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise FfmpegNotFound(f"{name!r} not found on PATH; install it with scripts/ensure-ffmpeg.sh")
    return found


def drawtext_literal(text: str) -> str:
    """`text` as drawtext's expansion must see it to draw it verbatim (no %{...} expansion)."""
    flat = "".join(c if c.isprintable() else " " for c in text).strip()
    return flat.replace("\\", "\\\\").replace("%", "\\%")


def graph_value(value: str) -> str:
    """A filter option value escaped for the option parser, then for the filter-graph parser."""
    for specials in ("\\':", "\\'[],;"):
        value = "".join("\\" + c if c in specials else c for c in value)
    return value


def drawtext(text: str, font: str, y: str, x: str = "6") -> str:
    """A drawtext filter drawing `text` (already in drawtext's expansion syntax) on a dim box at (x, y)."""
    font_opt = f"fontfile={graph_value(font)}:" if font and Path(font).is_file() else ""
    return (f"drawtext={font_opt}fontsize=h/18:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=3"
            f":x={graph_value(x)}:y={graph_value(y)}:text={graph_value(text)}")


def redact(line: str, secrets: Iterable[str] = ()) -> str:
    """A log line with URL credentials, query strings and the given secrets masked."""
    line = _QUERY.sub(r"\1?***", _CREDENTIALS.sub(r"\1***@", line))
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line


async def mpjpeg_frames(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """JPEG frames from ffmpeg's `-f mpjpeg` output, until the stream ends or stops making sense."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(value) for name, _, value in (line.partition(b":") for line in head.split(b"\r\n"))
                           if name.strip().lower() == b"content-length"), None)
            if length is None:
                return
            frame = await reader.readexactly(length)
            await reader.readexactly(2)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        yield frame


class FrameFanout:
    """Hands each frame to every viewer; a slow viewer loses its oldest frames and never holds up the rest."""

    def __init__(self, depth: int = 2) -> None:
        self._depth = depth
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self._closed = False

    @property
    def viewers(self) -> int:
        """How many viewers are subscribed."""
        return len(self._queues)

    async def subscribe(self) -> AsyncGenerator[bytes, None]:
        """Frames published from the first iteration on; ends when the fanout is closed."""
        if self._closed:
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=self._depth)
        self._queues.add(queue)
        try:
            while (frame := await queue.get()) is not None:
                yield frame
        finally:
            self._queues.discard(queue)

    def publish(self, frame: bytes) -> None:
        """Offer a frame to every viewer."""
        for queue in self._queues:
            _put_latest(queue, frame)

    def close(self) -> None:
        """End every viewer's stream (after the frames it already holds)."""
        self._closed = True
        for queue in self._queues:
            _put_latest(queue, None)


def _put_latest(queue: asyncio.Queue[bytes | None], item: bytes | None) -> None:
    while queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    # Only while unreaped: afterwards the group id could belong to someone else.
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


async def end_process(proc: asyncio.subprocess.Process, grace: float, first: int = signal.SIGINT) -> int:
    """Ask a process started in its own session to finish (`first`), and kill its group after `grace` s."""
    try:
        _signal_group(proc, first)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(proc.wait(), grace)
        _signal_group(proc, signal.SIGKILL)
        return await proc.wait()
    except asyncio.CancelledError:
        _signal_group(proc, signal.SIGKILL)
        await asyncio.shield(proc.wait())  # reaped before we give up: no zombie left behind
        raise


def input_args(source: CameraSource, stall_timeout: float) -> list[str]:
    """ffmpeg's input options for a camera source, chosen by its scheme."""
    url, micros = source.url, str(int(stall_timeout * 1_000_000))
    if url.startswith("lavfi:"):
        return ["-re", "-f", "lavfi", "-i", url.removeprefix("lavfi:")]
    if url.startswith(("rtsp://", "rtsps://")):
        return ["-rtsp_transport", "tcp", "-timeout", micros, "-i", url]
    if url.startswith(("http://", "https://")):
        # Arrival time is the only honest clock for MJPEG over HTTP, which carries no timestamps.
        args = ["-rw_timeout", micros, "-use_wallclock_as_timestamps", "1"]
        if source.headers:
            if any(c in kv for kv in (*source.headers, *source.headers.values()) for c in "\r\n"):
                raise ValueError("camera source headers must not contain line breaks")
            args += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in source.headers.items())]
        if not urlsplit(url).path.endswith((".m3u8", ".mp4", ".ts")):
            # Read MJPEG as a plain run of JPEGs: cameras (Home Assistant's proxy among them) often send
            # multipart boundaries that ffmpeg's strict multipart reader rejects; the JPEG markers never lie.
            args += ["-f", "mjpeg"]
        return [*args, "-i", url]
    raise ValueError(f"unsupported camera source scheme: {url.split(':', 1)[0]!r}")


def classify_exit(returncode: int, stderr_tail: Iterable[str]) -> str:
    """Why ffmpeg ended on its own: the stream went away (`stream_lost`) or ffmpeg failed (`ffmpeg_exited`)."""
    text = "\n".join(stderr_tail).lower()
    return "stream_lost" if returncode == 0 or any(e in text for e in _INPUT_ERRORS) else "ffmpeg_exited"


class FfmpegRecording:
    """One ffmpeg process recording one camera: counts frames, notes gaps, feeds live viewers."""

    def __init__(self, path: Path, proc: asyncio.subprocess.Process, *, gap_after: float, stall_timeout: float,
                 stop_grace: float, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self._proc = proc
        self._gap_after, self._stall_timeout, self._stop_grace = gap_after, stall_timeout, stop_grace
        self._secrets = tuple(secrets)
        self._t0 = time.monotonic()
        self._first: float | None = None
        self._last: float | None = None
        self._frames = 0
        self._gaps: list[Gap] = []
        self._stderr: deque[str] = deque(maxlen=20)
        self._fanout = FrameFanout()
        self._stopping = False
        self._reason: str | None = None
        self._failure: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._readers = [asyncio.create_task(self._read_frames()), asyncio.create_task(self._read_stderr())]
        self._watchdog = asyncio.create_task(self._watch())
        self._ended = asyncio.create_task(self._supervise())

    @property
    def frames(self) -> int:
        """Frames seen so far."""
        return self._frames

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Frame gaps seen so far (the last may still be open)."""
        return tuple(self._gaps)

    @property
    def detail(self) -> str:
        """The end of ffmpeg's error output, credentials masked: what to show next to a failure reason."""
        return "\n".join(self._stderr)

    def live(self) -> AsyncIterator[bytes]:
        """JPEG frames as they arrive, for a live view; ends when the recording ends."""
        return self._fanout.subscribe()

    async def failed(self) -> str:
        """Returns (with a reason) only if the recording ends without being asked to stop."""
        return await asyncio.shield(self._failure)

    async def stop(self) -> RecordingResult:
        """Finish the file cleanly (playable) and report how the recording went."""
        if self._reason is None and not self._stopping and self._proc.returncode is None:
            self._stopping = True
            await end_process(self._proc, self._stop_grace)
        await asyncio.shield(self._ended)
        seconds = self._last - self._first if self._last is not None and self._first is not None else 0.0
        return RecordingResult(path=self.path, ok=self._reason is None, reason=self._reason, frames=self._frames,
                               seconds=round(seconds, 3), gaps=tuple(self._gaps))

    def _now(self) -> float:
        return time.monotonic() - self._t0

    async def _read_frames(self) -> None:
        assert self._proc.stdout is not None
        async for frame in mpjpeg_frames(self._proc.stdout):
            now = time.monotonic()
            if self._gaps and self._gaps[-1].end is None:
                self._gaps[-1] = Gap(self._gaps[-1].start, round(now - self._t0, 3))
            self._first = self._first if self._first is not None else now
            self._last = now
            self._frames += 1
            self._fanout.publish(frame)

    async def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        async for raw in self._proc.stderr:
            if line := raw.decode(errors="replace").strip():
                self._stderr.append(redact(line, self._secrets))

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if self._last is None:
                if now - self._t0 > self._stall_timeout:
                    return await self._abort("no_frames")
                continue
            if now - self._last > self._gap_after and not (self._gaps and self._gaps[-1].end is None):
                self._gaps.append(Gap(round(self._last - self._t0, 3), None))
            # ffmpeg's own read timeout should have ended it by now; this covers inputs without one.
            if now - self._last > self._stall_timeout + 1.0:
                return await self._abort("stream_lost")

    async def _abort(self, reason: str) -> None:
        if not self._stopping and self._reason is None:
            self._reason = reason
            await end_process(self._proc, self._stop_grace)

    async def _supervise(self) -> None:
        try:
            returncode = await self._proc.wait()
            await asyncio.gather(*self._readers)
        finally:
            self._watchdog.cancel()
            for task in self._readers:
                task.cancel()
            self._fanout.close()
        if self._gaps and self._gaps[-1].end is None:
            self._gaps[-1] = Gap(self._gaps[-1].start, round(self._now(), 3))
        if not self._stopping and self._reason is None:
            # A camera that answered but never sent a picture is `no_frames`, whichever timer noticed first.
            silent = self._first is None and self._now() >= self._stall_timeout
            self._reason = "no_frames" if silent else classify_exit(returncode, self._stderr)
        if self._reason is not None:
            log.warning("recording failed", path=str(self.path), reason=self._reason, detail=self.detail)
            self._failure.set_result(self._reason)


class FfmpegRecorder:
    """Starts ffmpeg recordings: H.264 in fragmented MP4 (playable even if cut short) plus MJPEG for live view."""

    def __init__(self, ffmpeg: str = "ffmpeg", fps: int = 10, gap_after: float = 1.5, stall_timeout: float = 5.0,
                 font: str = DEFAULT_FONT, stop_grace: float = 5.0) -> None:
        self.ffmpeg, self.fps, self.font = ffmpeg, fps, font
        self.gap_after, self.stall_timeout, self.stop_grace = gap_after, stall_timeout, stop_grace

    def command(self, source: CameraSource, path: Path, overlay: str) -> list[str]:
        """The ffmpeg command line (without the binary) that records `source` into `path`."""
        chain = []
        if source.url.startswith(("http://", "https://")):
            # The MJPEG demuxer's 1/25 s time base would round arrival times and halve a 10 fps camera below.
            chain.append("settb=1/1000,setpts=(RTCTIME-RTCSTART)/1000000/TB")
        # Caps the rate (roughly) without inventing frames: a frozen camera must look frozen, not padded.
        chain.append(f"select={graph_value(f'isnan(prev_selected_t)+gte(t-prev_selected_t,{0.75 / self.fps:.4f})')}")
        if overlay.strip():
            chain.append(drawtext(drawtext_literal(overlay), self.font, "6"))
        chain += [drawtext(CLOCK_TEXT, self.font, "h-th-6"), "split=2[rec][live]"]
        graph = "[0:v]" + ",".join(chain) + ";[rec]format=yuv420p[clip]"
        return ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-n",
                *input_args(source, self.stall_timeout), "-filter_complex", graph,
                "-map", "[clip]", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "28",
                "-force_key_frames", "expr:gte(t,n_forced*2)", "-fps_mode", "passthrough", "-enc_time_base", "1:1000",
                "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
                "-f", "mp4", str(path),
                # One thread: with more, the MJPEG encoder holds each frame back until the next one arrives.
                "-map", "[live]", "-c:v", "mjpeg", "-q:v", "6", "-threads", "1", "-fps_mode", "passthrough",
                "-f", "mpjpeg", "pipe:1"]

    async def start(self, source: CameraSource, path: Path, overlay: str) -> FfmpegRecording:
        """Record `source` into `path` (MP4, H.264), burning `overlay` and the UTC clock into the picture."""
        binary = find_binary(self.ffmpeg)
        if path.exists():
            raise FileExistsError(f"will not overwrite a recording: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        args = self.command(source, path, overlay)
        proc = await asyncio.create_subprocess_exec(
            binary, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        log.info("recording started", path=str(path), source=redact(source.url))
        return FfmpegRecording(path, proc, gap_after=self.gap_after, stall_timeout=self.stall_timeout,
                               stop_grace=self.stop_grace, secrets=source.headers.values())
