"""Kill the serving process for real while the door is open: after restart the door is locked and the
household is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from threshold.sim import crash


@pytest.mark.slow
async def test_sigkill_mid_session_leaves_the_door_locked_after_restart(database_url: str, tmp_path: Path) -> None:
    facts = await crash.run(database_url, workdir=tmp_path)
    assert facts["before_kill"] == "open", facts
    assert facts["lock_before_kill"] == "unlocked", facts
    assert facts["after_restart"] == "interrupted", facts
    assert facts["reason"] == "interrupted", facts
    assert facts["lock_after_restart"] == "locked", facts
    assert facts["outbox_household_interrupted"] is True, facts
    assert facts["household_told"] is True, facts
    assert facts["ok"] is True, facts
