"""Recording entry sessions: what N cameras recorded at once with the production `FfmpegRecorder` cost.

Simulated cameras (`CameraStreams`, its default 5 fps 320x240 MJPEG from ffmpeg test sources) run in a process
of their own and are kept streaming by a watcher there, as real cameras always are, so a recording never waits
for its camera to boot. This process records N of them at once for SECONDS with `FfmpegRecorder` at the
product's settings (`Settings().video_fps`, the session overlay the keeper burns in), then stops them all at
once and checks every clip with ffprobe (H.264, duration within 1 s of start() to stop()).

CPU, in cores, over the steady part (every recording has its first frame until stop): the recorder ffmpeg
processes (children of this process: the recorder does not expose its process), the camera-source ffmpeg
processes and the camera server's Python apart (they stand in for cameras), this process (frame reading and
fan-out), and whatever else ran on the machine meanwhile. Recorder CPU per session, start to stop included,
comes from this process's reaped-children counters.

Run: make bench-recording   (N = 1, 4, 8, 16, 15 s each; 2 to 5 minutes, waiting for a quiet machine)
     .venv/bin/python bench/recording.py --counts 1,4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from common import machine, numbers, percentile
from threshold.config import Settings
from threshold.logs import configure_logging
from threshold.sim.camera_streams import CameraStreams
from threshold.video.ffmpeg import FfmpegRecorder, FfmpegRecording
from threshold.video.ports import CameraSource, RecordingResult
from threshold.video.probe import ClipInfo, probe

OUT = Path(__file__).resolve().parent / "out"
TICK = os.sysconf("SC_CLK_TCK")
OVERLAY = "session 00000000-0000-4000-8000-000000000000 - Front door"  # as long as the keeper's
console = Console(stderr=True)


# The camera process ------------------------------------------------------------------------------------------

async def keep_watching(url: str, ready: asyncio.Future[None]) -> None:
    """Hold a camera's stream open (reading and dropping it) so its source runs before any recording starts."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"Content-Length")  # the first frame is on its way
        ready.set_result(None)
        while await reader.read(1 << 16):
            pass
    finally:
        writer.close()


async def serve_cameras(fps: int, size: str) -> None:
    """Camera process: answers `warm N` (with the source pids) and `cool` on stdin, until stdin closes."""
    streams = CameraStreams(fps=fps, size=size)
    await streams.start()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    watchers: list[asyncio.Task[None]] = []
    print(f"port {streams.port}", flush=True)
    try:
        while words := (await stdin.readline()).decode().split():
            if words[0] == "warm":
                ready = [loop.create_future() for _ in range(int(words[1]))]
                watchers += [asyncio.create_task(keep_watching(streams.url_for(camera(i)), r))
                             for i, r in enumerate(ready)]
                await asyncio.gather(*ready)
                print("warm", *streams.producers.values(), flush=True)
            elif words[0] == "cool":
                for task in watchers:
                    task.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
                watchers.clear()
                for _ in range(200):  # the sources end as their last viewer leaves: up to 10 s
                    if not streams.producers:
                        break
                    await asyncio.sleep(0.05)
                print("cool", flush=True)
    finally:
        for task in watchers:
            task.cancel()
        await streams.stop()


def camera(i: int) -> str:
    """The address of simulated camera `i`."""
    return f"bench-{i}"


class Cameras:
    """The camera process, seen from the bench."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port

    @classmethod
    async def start(cls, fps: int, size: str) -> Cameras:
        """Start the camera process and wait until it listens."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "cameras", "--fps", str(fps), "--size", size,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self = cls(proc, 0)
        self.port = int((await self._ask(None, "port"))[0])
        return self

    async def _ask(self, command: str | None, answer: str, timeout: float = 60.0) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command.encode() + b"\n")
            await self.proc.stdin.drain()
        words = (await asyncio.wait_for(self.proc.stdout.readline(), timeout)).decode().split()
        if not words or words[0] != answer:
            raise SystemExit(f"camera process: expected {answer!r}, got {words!r}")
        return words[1:]

    def source(self, i: int) -> CameraSource:
        """Where camera `i` streams, as the product's `source_for` builds it for a simulated camera."""
        return CameraSource(f"http://127.0.0.1:{self.port}/cam/{camera(i)}.mjpg")

    async def warm(self, n: int) -> list[int]:
        """Have cameras 0..n-1 streaming; their source ffmpeg pids."""
        return [int(p) for p in await self._ask(f"warm {n}", "warm")]

    async def cool(self) -> None:
        """Stop every camera source."""
        await self._ask("cool", "cool")

    async def stop(self) -> None:
        """End the camera process (it stops its sources), killing it if it does not end."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# Counters -----------------------------------------------------------------------------------------------------

def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def reaped_children_seconds() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    fields = _stat("self")
    return (int(fields[13]) + int(fields[14])) / TICK


def ffmpeg_children() -> list[int]:
    """Pids of the ffmpeg processes this process started (the recorders)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) and fields[1] == me:
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "ffmpeg":
                    found.append(int(entry.name))
    return found


def pss_mb(pid: int) -> float:
    """A process's proportional share of memory in MB: shared libraries split among their users (NaN if gone)."""
    with contextlib.suppress(OSError, StopIteration):
        line = next(x for x in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if x.startswith("Pss:"))
        return int(line.split()[1]) / 1024
    return math.nan


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores, from /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group of processes, and of the whole machine."""
    return {**{name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()},
            "machine": machine_busy_seconds(), "t": time.perf_counter()}


async def wait_quiet(limit: float, ours: list[int], progress: Progress, task: TaskID) -> None:
    """Wait (up to `limit` seconds) for a second in which other processes use under a third of a core."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy, mine = machine_busy_seconds(), sum(cpu_seconds(p) for p in ours)
        await asyncio.sleep(1.0)
        others = machine_busy_seconds() - busy - (sum(cpu_seconds(p) for p in ours) - mine)
        if others < 0.33:
            return
        progress.update(task, description=f"waiting for a quiet machine (others use {others:.1f} cores)")


# One count ----------------------------------------------------------------------------------------------------

async def record_count(n: int, args: argparse.Namespace, cams: Cameras, recorder: FfmpegRecorder, workdir: Path,
                       progress: Progress) -> dict[str, Any]:
    """Record n warm cameras at once for `args.seconds`, stop them all, probe the clips."""
    task = progress.add_task(f"{n:>2} cameras", total=args.seconds)
    if args.quiet_wait:
        await wait_quiet(args.quiet_wait, [os.getpid(), cams.proc.pid], progress, task)
    sources = await cams.warm(n)
    await asyncio.sleep(1.0)  # let the sources settle into their pace
    recordings: list[FfmpegRecording | None] = [None] * n
    began, first = [0.0] * n, [math.nan] * n

    async def begin(i: int) -> None:
        began[i] = time.perf_counter()
        rec = recordings[i] = await recorder.start(cams.source(i), workdir / f"{n}-{i}.mp4", OVERLAY)
        async for _ in rec.live():
            first[i] = time.perf_counter() - began[i]
            break

    reaped0 = reaped_children_seconds()
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(begin(i) for i in range(n))), args.seconds)
        groups = {"recorder": ffmpeg_children(), "source": sources, "camera_server": [cams.proc.pid],
                  "python": [os.getpid()]}
        before = snapshot(groups)
        while (elapsed := time.perf_counter() - t0) < args.seconds:
            frames = sum(r.frames for r in recordings if r is not None)
            progress.update(task, completed=elapsed,
                            description=f"{n:>2} cameras  {frames / elapsed / n:4.1f} frames/s each")
            await asyncio.sleep(min(0.5, args.seconds - elapsed))
        after = snapshot(groups)
        pss = [pss_mb(p) for p in groups["recorder"]]
    finally:
        results, stop_s, ended = await stop_all(recordings)
    reaped = reaped_children_seconds() - reaped0
    progress.update(task, completed=args.seconds, description=f"{n:>2} cameras  probing")
    clips = await asyncio.gather(*(check(r, ended - b) for r, b in zip(results, began, strict=True)))
    await cams.cool()
    for clip in workdir.glob(f"{n}-*.mp4"):
        clip.unlink()
    window = after["t"] - before["t"]
    cores = {k: (after[k] - before[k]) / window for k in (*groups, "machine")}
    cores["others"] = cores.pop("machine") - sum(cores.values())
    good = [c for c in clips if c["codec"]]
    seen = [x for x in first if not math.isnan(x)]
    return {
        "cameras": n, "steady_window_s": round(window, 2), "cpu_cores": {k: round(v, 3) for k, v in cores.items()},
        "recorder_cores_per_camera": round(cores["recorder"] / n, 4),
        "recorder_cpu_s_per_session": round(reaped / n, 3),
        "first_frame_ms": {"p50": percentile(seen, 0.5) * 1e3, "max": max(seen, default=math.nan) * 1e3,
                           "missing": n - len(seen)},
        "stop_ms": {"p50": percentile(stop_s, 0.5) * 1e3, "max": max(stop_s) * 1e3},
        "fps_per_camera": sum(c["fps"] for c in good) / len(good) if good else 0.0,
        "mb_per_minute": sum(c["mb_per_minute"] for c in good) / len(good) if good else 0.0,
        "recorder_pss_mb": max(pss, default=math.nan),
        "clips_ok": sum(c["ok"] for c in clips), "clips": clips,
    }


async def stop_all(recordings: list[FfmpegRecording | None]) -> tuple[list[RecordingResult], list[float], float]:
    """Stop every recording at once; the results, the time each stop() took, and when they were asked."""
    asked = time.perf_counter()

    async def one(rec: FfmpegRecording) -> tuple[RecordingResult, float]:
        result = await rec.stop()
        return result, time.perf_counter() - asked

    done = await asyncio.gather(*(one(r) for r in recordings if r is not None))
    return [r for r, _ in done], [s for _, s in done], asked


async def check(result: RecordingResult, run_s: float) -> dict[str, Any]:
    """What ffprobe says of a clip, and whether it passes: H.264, its duration within 1 s of the run."""
    row: dict[str, Any] = {"path": result.path.name, "recorder_ok": result.ok, "reason": result.reason,
                           "frames_seen": result.frames, "gaps": len(result.gaps), "run_s": round(run_s, 3)}
    try:
        info: ClipInfo = await probe(result.path)
    except Exception as exc:
        return {**row, "ok": False, "codec": None, "error": str(exc)[-300:]}
    size = result.path.stat().st_size
    minutes = info.duration / 60 if info.duration else math.nan
    return {**row, "codec": info.codec, "duration_s": info.duration, "frames": info.frames, "bytes": size,
            "fps": (info.frames or 0) / info.duration if info.duration else 0.0, "mb_per_minute": size / 1e6 / minutes,
            "ok": result.ok and info.codec == "h264" and abs(info.duration - run_s) <= 1.0}


# The whole bench ---------------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> None:
    """Start the cameras, record every count, report."""
    configure_logging(Settings(mode="demo"))  # warnings only: a failed recording still shows
    settings = Settings()
    recorder = FfmpegRecorder(ffmpeg=settings.ffmpeg, fps=settings.video_fps)
    defaults = CameraStreams()
    fps, size = args.camera_fps or defaults.fps, args.camera_size or defaults.size
    where = {**machine(), "ffmpeg": ffmpeg_version(settings.ffmpeg),
             "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    where.pop("mosquitto", None)
    OUT.mkdir(exist_ok=True)
    results: list[dict[str, Any]] = []
    cams = await Cameras.start(fps, size)
    try:
        with tempfile.TemporaryDirectory(prefix="threshold-bench-rec-") as tmp, Progress(console=console) as progress:
            for n in args.counts:
                results.append(await record_count(n, args, cams, recorder, Path(tmp), progress))
    finally:
        await cams.stop()
    setup = {"recorder_fps": recorder.fps, "camera_fps": fps, "camera_size": size, "seconds": args.seconds,
             "command_sample": recorder.command(cams.source(0), Path("clip.mp4"), OVERLAY)}
    report(results, setup, args, where)


def ffmpeg_version(binary: str) -> str:
    """The first line of `ffmpeg -version`."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        return subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    return "?"


def report(results: list[dict[str, Any]], setup: dict[str, Any], args: argparse.Namespace,
           where: dict[str, str]) -> None:
    """Print the table, the machine and the command; write JSON and a PNG plot."""
    table = Table(title=f"recording N cameras at once: FfmpegRecorder at {setup['recorder_fps']} fps, cameras "
                        f"{setup['camera_fps']} fps {setup['camera_size']} MJPEG, {setup['seconds']:g} s each")
    for col in ("N", "recorder cores", "per cam", "CPU s/session", "source cores", "cam server", "python",
                "others", "1st frame p50/max ms", "stop p50/max ms", "fps/cam", "MB/min", "PSS MB", "clips ok"):
        table.add_column(col, justify="right")
    for r in results:
        c, ff, st = r["cpu_cores"], r["first_frame_ms"], r["stop_ms"]
        table.add_row(str(r["cameras"]), f"{c['recorder']:.2f}", f"{r['recorder_cores_per_camera']:.3f}",
                      f"{r['recorder_cpu_s_per_session']:.2f}", f"{c['source']:.2f}", f"{c['camera_server']:.2f}",
                      f"{c['python']:.3f}", f"{c['others']:.2f}", f"{ff['p50']:.0f}/{ff['max']:.0f}",
                      f"{st['p50']:.0f}/{st['max']:.0f}", f"{r['fps_per_camera']:.2f}", f"{r['mb_per_minute']:.2f}",
                      f"{r['recorder_pss_mb']:.0f}", f"{r['clips_ok']}/{r['cameras']}")
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
    for r in results:
        for clip in r["clips"]:
            if not clip["ok"]:
                print(f"N={r['cameras']} {clip['path']}: failed check: codec {clip['codec']}, duration "
                      f"{clip.get('duration_s')} s for a {clip['run_s']} s run, recorder {clip['reason'] or 'ok'}"
                      + (f", {clip['error']}" if "error" in clip else ""))
    print("cores over the steady part (all first frames in, until stop); 'others' is the rest of the machine "
          "meanwhile; CPU s/session includes ffmpeg start and stop; PSS MB: the largest recorder's memory")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in where.items()))
    print("reproduce: make bench-recording   # or: .venv/bin/python bench/recording.py " + " ".join(sys.argv[1:]))
    (OUT / "recording.json").write_text(json.dumps(
        {"results": results, "setup": setup, "args": vars(args), "machine": where}, indent=2, default=str))
    plot(results, int(where["cores"]), OUT / "recording.png")
    print(f"wrote {OUT / 'recording.json'} and {OUT / 'recording.png'}")


def plot(results: list[dict[str, Any]], cores: int, path: Path) -> None:
    """CPU cores against N, stacked: recorder ffmpeg, camera sources, camera server, this process."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = [str(r["cameras"]) for r in results]
    bottom = [0.0] * len(results)
    for key, name in (("recorder", "recorder ffmpeg"), ("python", "bench Python (frame reading, fan-out)"),
                      ("source", "camera-source ffmpeg (stand-in cameras)"), ("camera_server", "camera server Python")):
        values = [r["cpu_cores"][key] for r in results]
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.axhline(cores, color="grey", linestyle="--", label=f"{cores} cores on this machine")
    ax.set_xlabel("cameras recorded at once (N)")
    ax.set_ylabel("CPU (cores), steady part of the recording")
    ax.legend(fontsize=8)
    ax.set_title("threshold: what recording entry sessions costs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    """Command line: `cameras` (internal) or the benchmark itself."""
    if sys.argv[1:2] == ["cameras"]:
        cam = argparse.ArgumentParser()
        cam.add_argument("--fps", type=int, required=True)
        cam.add_argument("--size", required=True)
        opts = cam.parse_args(sys.argv[2:])
        asyncio.run(serve_cameras(opts.fps, opts.size))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=numbers, default=[1, 4, 8, 16], help="cameras recorded at once, one run each")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run")
    parser.add_argument("--camera-fps", type=int, help="simulated camera rate (default: CameraStreams' own)")
    parser.add_argument("--camera-size", help="simulated camera picture size (default: CameraStreams' own)")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="before each run, wait up to this many seconds for other processes to go quiet")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
