"""What the video service needs from a recorder: start a recording of a camera, watch it, stop it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CameraSource:
    """Where a camera's video comes from: rtsp://, http(s):// MJPEG, or a Home Assistant camera stream."""

    url: str
    # Sent with the request (a Home Assistant bearer token); never logged.
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Gap:
    """A span with no frames, in seconds from the start of the recording."""

    start: float
    end: float | None  # None while the gap lasts


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """How a recording ended."""

    path: Path
    ok: bool  # False when the stream was lost or ffmpeg exited on its own
    reason: str | None  # stream_lost, ffmpeg_exited, no_frames, ...
    frames: int
    seconds: float  # recorded length by the frames seen
    gaps: tuple[Gap, ...] = ()


class Recording(Protocol):
    """One running recording of one camera into one file."""

    path: Path

    @property
    def frames(self) -> int:
        """Frames seen so far."""

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Frame gaps seen so far (the last may still be open)."""

    def live(self) -> AsyncIterator[bytes]:
        """JPEG frames as they arrive, for a live view; ends when the recording ends."""

    async def failed(self) -> str:
        """Returns (with a reason) only if the recording ends without being asked to stop."""

    async def stop(self) -> RecordingResult:
        """Finish the file cleanly (playable) and report how the recording went."""


class Recorder(Protocol):
    """Starts recordings (ffmpeg in production, tests and the demo)."""

    async def start(self, source: CameraSource, path: Path, overlay: str) -> Recording:
        """Record `source` into `path` (MP4, H.264), burning `overlay` and the UTC clock into the picture."""
