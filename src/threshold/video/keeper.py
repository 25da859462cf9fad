"""The worker's recording loop: one recording per live session, sealed after the post-roll.

A recording that fails is treated like a frozen camera: the session is told its camera stalled (so it ends
safely and the household hears), and the partial clip is kept and marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.access import machine
from threshold.access.models import EntrySession
from threshold.homes.models import Device, EntryPoint
from threshold.video import service
from threshold.video.models import Clip
from threshold.video.ports import CameraSource, Recorder, Recording, RecordingResult

log = structlog.get_logger("threshold.video")
# No recording starts from these outcomes: waiting for the household, or already over (the turn records the
# post-roll of a session that ended before any worker saw it).
NOT_STARTED = frozenset({machine.State.AWAITING_APPROVAL.value} | {s.value for s in machine.TERMINAL})
MIN_FRAMES = 3


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What is known of a finished clip file."""

    sha256: str | None
    duration: float | None
    codec: str | None
    size: int | None


Inspect = Callable[[Path], Awaitable[FileFacts]]
SourceFor = Callable[[Device], CameraSource | None]
Feed = Callable[[uuid.UUID, machine.Event], Awaitable[Any]]


@dataclass(slots=True)
class _Active:
    clip_id: uuid.UUID
    session_id: uuid.UUID
    recording: Recording
    failed: asyncio.Task[str]
    failure: str | None = None
    told: bool = False


class Keeper:
    """Starts, watches and seals recordings; any number of workers may run one (the clip row decides)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], recorder: Recorder, source_for: SourceFor,
                 inspect: Inspect, feed: Feed, clock: Callable[[], datetime], clip_dir: Path,
                 post_roll: float = 5.0, stale: float = 30.0) -> None:
        self.sessions, self.recorder, self.source_for, self.inspect = sessions, recorder, source_for, inspect
        self.feed, self.clock, self.clip_dir = feed, clock, clip_dir
        self.post_roll, self.stale = timedelta(seconds=post_roll), timedelta(seconds=stale)
        self.owner = uuid.uuid4().hex
        self.active: dict[uuid.UUID, _Active] = {}
        self._wake = asyncio.Event()
        self._sealing: set[asyncio.Task[None]] = set()
        self._starting: set[uuid.UUID] = set()
        self._went_live = asyncio.Condition()

    def nudge(self, session_id: uuid.UUID | None = None, state: str | None = None) -> None:
        """A session changed: a new one starts recording now; anything else is looked at on the next turn."""
        if (session_id is not None and state is not None and state not in NOT_STARTED
                and session_id not in self.active and session_id not in self._starting):
            # Straight from the step that asked the camera to start: no turn's delay, so no session is too short.
            self._starting.add(session_id)
            task = asyncio.create_task(self._start_by_id(session_id))
            self._sealing.add(task)
            task.add_done_callback(self._sealing.discard)
        self._wake.set()

    async def _start_by_id(self, session_id: uuid.UUID) -> None:
        try:
            async with self.sessions() as db:
                row = await db.get(EntrySession, session_id)
            if row is not None:
                await self._start(row)  # the clip's unique session id settles a race with the turn
        finally:
            self._starting.discard(session_id)

    async def run(self, every: float = 0.3) -> None:
        """Tick until cancelled, at least every `every` seconds and at once when nudged."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=every)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                # The next turn retries from stored state.
                log.exception("video.tick_failed")

    def live(self, session_id: uuid.UUID) -> Recording | None:
        """The running recording of a session in this process, for a live view."""
        a = self.active.get(session_id)
        return a.recording if a is not None and a.failure is None else None

    def will_be_live(self, session: EntrySession, clip: Clip | None) -> bool:
        """Whether a live view of this session is worth offering here: recording in this process, or about to
        start (no worker has taken its clip yet, or this one has and ffmpeg is starting)."""
        if self.live(session.id) is not None:
            return True
        if not session.live or session.state in NOT_STARTED:
            return False
        return clip is None or (clip.status == "recording" and clip.owner == self.owner)

    async def wait_live(self, session_id: uuid.UUID, timeout: float) -> Recording | None:
        """The running recording, waiting up to `timeout` seconds for one that is still starting."""
        # The camera confirms before ffmpeg has its first frame; a page opened in between should still get the view.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._went_live:
                await self._went_live.wait_for(lambda: self.live(session_id) is not None)
        return self.live(session_id)

    async def register(self, active: _Active) -> None:
        """A recording is running: live views may relay it, and those waiting for it are woken."""
        self.active[active.session_id] = active
        async with self._went_live:
            self._went_live.notify_all()

    async def tick(self) -> None:
        """One turn: start what is missing, handle failures, note gaps, seal what ended, keep the lease."""
        await self._start_missing()
        await self._handle_failures()
        now = self.clock()
        async with self.sessions() as db, db.begin():
            await service.note_watch_gaps(db, now)
            await service.heartbeat(db, self.owner, [a.clip_id for a in self.active.values()], now)
        await self._seal_ended()

    async def recover(self) -> int:
        """Close clips left recording by a worker that died (kept, marked partial, hashed)."""
        now = self.clock()
        async with self.sessions() as db:
            found = await service.orphans(db, now, self.stale)
        for clip in found:
            facts = await self._facts(Path(clip.path))
            async with self.sessions() as db, db.begin():
                await service.seal(db, clip.id, ok=False, failure="worker_lost", sha256=facts.sha256,
                                   duration=facts.duration, codec=facts.codec, frames=0, size=facts.size,
                                   gaps=[], now=now)
        return len(found)

    async def stop(self) -> None:
        """Seal every running recording (the process is stopping)."""
        for session_id in list(self.active):
            await self._finish(session_id)
        if self._sealing:
            await asyncio.gather(*self._sealing, return_exceptions=True)

    async def _start_missing(self) -> None:
        async with self.sessions() as db:
            todo = await service.sessions_to_record(db, self.clock() - self.post_roll)
        todo = [s for s in todo if s.id not in self._starting]
        self._starting.update(s.id for s in todo)
        try:
            # Started together: a short session must not wait behind another's ffmpeg start.
            await asyncio.gather(*(self._start(s) for s in todo))
        finally:
            self._starting.difference_update(s.id for s in todo)

    async def _start(self, s: EntrySession) -> None:
        now = self.clock()
        path = self.clip_dir / str(s.home_id) / f"{s.id}.mp4"
        try:
            async with self.sessions() as db, db.begin():
                clip = service.open_clip(db, s, str(path), self.owner, now)
                camera = await db.get(Device, s.camera_device_id)
                entry = await db.get(EntryPoint, s.entry_point_id)
        except IntegrityError:
            return  # another worker records this session
        source = self.source_for(camera) if camera is not None else None
        overlay = f"session {s.id} - {entry.label if entry else 'entry'}"
        try:
            if source is None:
                raise RuntimeError("no_stream")
            path.parent.mkdir(parents=True, exist_ok=True)
            recording = await self.recorder.start(source, path, overlay)
        except Exception as exc:
            reason = str(exc) if str(exc) == "no_stream" else "recorder_failed"
            log.warning("recording.not_started", session=str(s.id), reason=reason)
            await self._fail_now(clip.id, s.id, reason)
            return
        task = asyncio.create_task(recording.failed())
        await self.register(_Active(clip.id, s.id, recording, task))
        log.info("recording.started", session=str(s.id), clip=str(clip.id))

    async def _fail_now(self, clip_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> None:
        now = self.clock()
        async with self.sessions() as db, db.begin():
            await service.fail(db, clip_id, reason, now)
            await service.seal(db, clip_id, ok=False, failure=reason, sha256=None, duration=None, codec=None,
                               frames=0, size=None, gaps=[], now=now)
        await self.feed(session_id, machine.CameraFailed())

    async def _handle_failures(self) -> None:
        for a in list(self.active.values()):
            if a.told or not a.failed.done():
                continue
            a.told = True
            a.failure = a.failed.result() if not a.failed.cancelled() else "ffmpeg_exited"
            log.warning("recording.failed", session=str(a.session_id), reason=a.failure)
            async with self.sessions() as db, db.begin():
                await service.fail(db, a.clip_id, a.failure, self.clock())
            # A lost recording is a frozen camera to the session: it ends safely and the household hears.
            await self.feed(a.session_id, machine.CameraStalled())
            await self._finish(a.session_id)

    async def _seal_ended(self) -> None:
        if not self.active:
            return
        now = self.clock()
        async with self.sessions() as db:
            rows = (await db.execute(select(EntrySession.id, EntrySession.live, EntrySession.ended_at)
                                     .where(EntrySession.id.in_(list(self.active))))).tuples().all()
        for session_id, live, ended_at in rows:
            a = self.active.get(session_id)
            # A recording whose camera was slow to start keeps going until it holds a few frames: a clip is never
            # sealed empty or a blink long (the recorder itself gives up with no_frames if none come).
            if a is not None and a.recording.frames < MIN_FRAMES and not a.failed.done():
                continue
            if not live and (ended_at is None or ended_at + self.post_roll <= now) and a is not None:
                # Sealing waits on ffmpeg, ffprobe and a hash: in the background, so starts are never held up.
                task = asyncio.create_task(self._finish(session_id))
                self._sealing.add(task)
                task.add_done_callback(self._sealing.discard)

    async def _finish(self, session_id: uuid.UUID) -> None:
        a = self.active.pop(session_id, None)
        if a is None:
            return
        a.failed.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await a.failed
        result: RecordingResult = await a.recording.stop()
        failure = a.failure or (None if result.ok else result.reason) or (None if result.frames else "no_frames")
        facts = await self._facts(result.path)
        gaps = [{"start": round(g.start, 2), "end": None if g.end is None else round(g.end, 2), "by": "recorder"}
                for g in result.gaps]
        async with self.sessions() as db, db.begin():
            await service.seal(db, a.clip_id, ok=failure is None, failure=failure, sha256=facts.sha256,
                               duration=facts.duration or result.seconds, codec=facts.codec, frames=result.frames,
                               size=facts.size, gaps=gaps, now=self.clock())
        log.info("recording.sealed", session=str(session_id), ok=failure is None, frames=result.frames)

    async def _facts(self, path: Path) -> FileFacts:
        try:
            return await self.inspect(path)
        except Exception:
            log.warning("clip.inspect_failed", path=path.name)
            return FileFacts(None, None, None, path.stat().st_size if path.exists() else None)

    async def purge(self) -> int:
        """Delete the files of clips past retention (held clips stay); the hash stays in the chain."""
        now = self.clock()
        async with self.sessions() as db, db.begin():
            due = await service.due_for_purge(db, now)
            for clip in due:
                with contextlib.suppress(FileNotFoundError):
                    Path(clip.path).unlink()
                await service.purged(db, clip, now)
        return len(due)
