"""`threshold operators add/list`: an operator can be created from the command line and then signs in."""

from __future__ import annotations

import os
from pathlib import Path

from cli_run import threshold_cli
from threshold.db import migrate


async def test_an_operator_added_from_the_command_line_is_listed_and_bad_input_adds_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    await migrate(url)
    env = {**os.environ, "THRESHOLD_DATABASE_URL": url, "THRESHOLD_MODE": "test",
           "THRESHOLD_OPERATOR_PASSWORD": "a-long-operator-password"}
    code, _, err = await threshold_cli(env, tmp_path, "operators", "add", "Ops@Example.com", "--name", "Ada",
                                       "--phone", "+4915112345678")
    assert code == 0, err
    code, _, err = await threshold_cli(env, tmp_path, "operators", "add", "ops@example.com", "--name", "Ada")
    assert code == 1 and "exists already" in err
    code, _, err = await threshold_cli(env, tmp_path, "operators", "add", "b@example.com", "--name", "B",
                                       "--phone", "0151")
    assert code == 2 and "E.164" in err
    short = {**env, "THRESHOLD_OPERATOR_PASSWORD": "short"}
    code, _, err = await threshold_cli(short, tmp_path, "operators", "add", "c@example.com", "--name", "C")
    assert code == 2 and "12 characters" in err
    code, out, _ = await threshold_cli(env, tmp_path, "operators", "list")
    assert code == 0
    assert out.splitlines() == ["ops@example.com\tAda\t+4915112345678\tactive"]
    assert "a-long-operator-password" not in out
