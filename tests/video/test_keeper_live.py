"""The live view of an entry whose recording is still starting: offered, and served once the first frames come."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threshold.access import machine
from threshold.video.keeper import Keeper, _Active


def _keeper(tmp_path: Path) -> Keeper:
    def unused(*_: Any) -> Any:
        raise AssertionError("not used by the live view")

    return Keeper(unused, unused, unused, unused, unused, lambda: datetime.now(UTC), tmp_path)  # type: ignore[arg-type]


async def test_a_viewer_who_arrives_before_the_first_frame_waits_for_the_recording(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    sid = uuid.uuid4()
    assert keeper.will_be_live(sid, machine.State.UNLOCKING.value, live=True)
    waiting = asyncio.create_task(keeper.wait_live(sid, timeout=5))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    recording: Any = object()
    failed: Any = None
    await keeper.register(_Active(uuid.uuid4(), sid, recording, failed))
    assert await asyncio.wait_for(waiting, 2) is recording


async def test_no_live_view_is_offered_for_an_entry_that_waits_for_the_household_or_has_ended(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    sid = uuid.uuid4()
    assert not keeper.will_be_live(sid, machine.State.AWAITING_APPROVAL.value, live=True)
    assert not keeper.will_be_live(sid, machine.State.DONE.value, live=False)
    started = asyncio.get_running_loop().time()
    assert await keeper.wait_live(sid, timeout=0.2) is None
    assert asyncio.get_running_loop().time() - started < 1
