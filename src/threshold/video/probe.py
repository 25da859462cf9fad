"""What a recorded clip holds (ffprobe) and its fingerprint for sealing it into the audit chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from threshold.video.ffmpeg import find_binary

_CHUNK = 1 << 20


class ProbeError(RuntimeError):
    """ffprobe could not read the file as video."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """The first video stream of a clip, as ffprobe sees it."""

    duration: float
    codec: str
    width: int
    height: int
    frames: int | None  # None when neither the container nor a count of its packets says


async def probe(path: Path | str, ffprobe: str = "ffprobe") -> ClipInfo:
    """Read a clip's duration, codec, size and frame count with ffprobe."""
    proc = await asyncio.create_subprocess_exec(
        find_binary(ffprobe), "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
        # Fragmented MP4 keeps no frame count; counting packets reads the file but decodes nothing.
        "-count_packets", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise ProbeError(f"ffprobe failed on {path}: {err.decode(errors='replace').strip()}")
    info = json.loads(out)
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise ProbeError(f"no video stream in {path}")
    duration = info.get("format", {}).get("duration") or video.get("duration") or 0.0
    frames = next((video[k] for k in ("nb_frames", "nb_read_packets") if video.get(k) not in (None, "N/A")), None)
    return ClipInfo(duration=float(duration), codec=str(video.get("codec_name", "")), width=int(video["width"]),
                    height=int(video["height"]), frames=None if frames is None else int(frames))


def sha256_file(path: Path | str) -> str:
    """The SHA-256 of a file, read in chunks so a long clip is never held in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
