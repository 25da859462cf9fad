"""The live view of an entry whose recording is still starting: offered, and served once the first frames come;
not offered where another worker records it, nor before the household lets the driver in, nor after the end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threshold.access import machine
from threshold.access.models import EntrySession
from threshold.video.keeper import Keeper, _Active
from threshold.video.models import Clip


def _keeper(tmp_path: Path) -> Keeper:
    def unused(*_: Any) -> Any:
        raise AssertionError("not used by the live view")

    return Keeper(unused, unused, unused, unused, unused, lambda: datetime.now(UTC), tmp_path)  # type: ignore[arg-type]


def _entry(state: machine.State, live: bool = True) -> EntrySession:
    return EntrySession(id=uuid.uuid4(), state=state.value, live=live)


async def test_a_viewer_who_arrives_before_the_first_frame_waits_for_the_recording(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    entry = _entry(machine.State.UNLOCKING)
    assert keeper.will_be_live(entry, None)  # no worker has taken the clip yet
    assert keeper.will_be_live(entry, Clip(status="recording", owner=keeper.owner))  # this one, ffmpeg starting
    waiting = asyncio.create_task(keeper.wait_live(entry.id, timeout=5))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    recording: Any = object()
    failed: Any = None
    await keeper.register(_Active(uuid.uuid4(), entry.id, recording, failed))
    assert await asyncio.wait_for(waiting, 2) is recording


def test_no_live_view_is_offered_where_it_cannot_come(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    assert not keeper.will_be_live(_entry(machine.State.OPEN), Clip(status="recording", owner="another-worker"))
    assert not keeper.will_be_live(_entry(machine.State.AWAITING_APPROVAL), None)
    assert not keeper.will_be_live(_entry(machine.State.DONE, live=False), Clip(status="sealed", owner=None))


async def test_waiting_for_a_recording_that_never_starts_gives_up_at_the_timeout(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    started = asyncio.get_running_loop().time()
    assert await keeper.wait_live(uuid.uuid4(), timeout=0.2) is None
    assert asyncio.get_running_loop().time() - started < 1
