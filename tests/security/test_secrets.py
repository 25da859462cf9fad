"""No published secret outside the demo: serve and worker refuse to start without a secret of their own, and a
token signed with the published demo secret opens nothing."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flows import bearer, problem

from servers import EXE, Server
from threshold.config import DEFAULT_SECRET
from threshold.security import issue_token


@pytest.mark.parametrize("command,secret", [(["serve", "--port", "9"], None),
                                            (["serve", "--port", "9"], DEFAULT_SECRET),
                                            (["worker"], ""), (["worker"], "short-secret")])
def test_serve_and_worker_refuse_to_start_without_a_secret_of_their_own(tmp_path: Path, command: list[str],
                                                                         secret: str | None) -> None:
    # Before any database is touched: the same on every backend, so run once.
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRESHOLD_")}
    env["THRESHOLD_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    if secret is not None:
        env["THRESHOLD_SECRET_KEY"] = secret
    done = subprocess.run([EXE, *command], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "Refusing to start" in done.stderr and "THRESHOLD_SECRET_KEY" in done.stderr
    assert "token_urlsafe" in done.stderr  # the message says how to make one
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("role,path", [("driver", "/v1/driver/stops"), ("member", "/v1/homes"),
                                       ("operator", "/v1/ops/overview")])
def test_a_token_signed_with_the_published_demo_secret_is_refused(server: Server, role: str, path: str) -> None:
    subject = {"driver": server.world["drivers"][0][0], "member": str(uuid.uuid4()),
               "operator": str(uuid.uuid4())}[role]
    forged = issue_token(DEFAULT_SECRET, subject, role, 10 * 365 * 24 * 3600, datetime.now(UTC))
    with server.client() as c:
        problem(c.get(path, headers=bearer(forged)), 401, "token_invalid")
