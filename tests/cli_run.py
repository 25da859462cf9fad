"""Run the `threshold` command line as a user would, without blocking the test's event loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def threshold_cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run `python -m threshold ARGS`; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "threshold", *args, env=env, cwd=cwd,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
