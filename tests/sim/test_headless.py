"""`threshold demo --headless`: many deliveries with mishaps keep every invariant; the CLI runs one scenario."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_run import threshold_cli
from threshold.sim import headless


async def test_headless_deliveries_complete_and_break_no_invariant(database_url: str, tmp_path: Path) -> None:
    summary = await headless.deliveries(24, database_url=database_url, show=False, clip_dir=tmp_path / "clips")
    assert summary["invariants_broken"] == [], summary["invariants_broken"]
    assert summary["deliveries"] == 24
    assert summary["completed"]["count"] > 0, summary
    outcomes = ("completed", "refused", "aborted", "unsecured", "interrupted", "error")
    assert sum(summary[o]["count"] for o in outcomes) == 24, summary
    assert summary["error"]["count"] == 0, summary
    # Checkable from outside: each delivery's clip file and the notifications sent, channel and moment.
    runs = summary["runs"]
    assert len(runs) == 24
    for run in runs:
        moments = {n["moment"] for n in run["notifications"]}
        assert {n["channel"] for n in run["notifications"]} <= {"email", "sms", "webhook"}
        if run["outcome"] == "completed":
            assert "delivered" in moments, run
            assert run["clip"]["status"] == "sealed" and Path(run["clip"]["file"]).is_file(), run
            assert len(run["clip"]["sha256"]) == 64 and run["clip"]["seconds"] > 0
        if run["outcome"] == "unsecured":
            assert "door_not_relocked" in moments, run
        if run["session"] is None:
            assert run["clip"] is None


async def demo(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run `python -m threshold demo ARGS` in an empty directory; returns (exit code, stdout, stderr)."""
    env = {**os.environ, "THRESHOLD_MODE": "test", "COLUMNS": "240", "TERM": "dumb"}
    env.pop("THRESHOLD_DATABASE_URL", None)
    return await threshold_cli(env, tmp_path, "demo", *args)


@pytest.mark.slow
async def test_demo_headless_scenario_prints_ok_json_and_exits_0(tmp_path: Path) -> None:
    code, out, err = await demo(tmp_path, "--headless", "--scenario", "wrong-package")
    assert code == 0, (out, err)
    result = json.loads(out)
    assert result["scenario"] == "wrong-package"
    assert result["ok"] is True and result["failures"] == []
    assert result["facts"]["code"] == "wrong_package"


async def test_demo_headless_unknown_scenario_exits_2(tmp_path: Path) -> None:
    code, out, err = await demo(tmp_path, "--headless", "--scenario", "nope")
    assert code == 2, (out, err)
    assert "nope" in err and "wrong-package" in err
    assert out == ""


async def test_demo_help_lists_every_scenario(tmp_path: Path) -> None:
    code, out, err = await demo(tmp_path, "--help")
    assert code == 0, err
    flat = " ".join(out.split())
    missing = [name for name in headless.names() if name not in flat]
    assert missing == [], (missing, out)
