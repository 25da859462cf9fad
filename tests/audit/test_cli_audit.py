"""`threshold audit verify` and `threshold audit export`, run as a person would run them, against a live database."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from cli_run import threshold_cli
from threshold.audit.models import AuditRecord
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness

GENESIS = "0" * 64


def summary(stdout: str) -> dict[str, Any]:
    """The JSON summary `audit verify` prints last."""
    found: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return found


@pytest.fixture
async def delivered(harness: Harness) -> Harness:
    """The harness after one completed in-home delivery at homes[0] (the home with an alarm)."""
    home = harness.world.homes[0]
    run = await deliver(harness.partner, await harness.driver(0), harness.world.drivers[0][0], home)
    assert run.outcome == "completed", run
    return harness


async def last_seq(h: Harness) -> int:
    """The highest seq in homes[0]'s chain."""
    async with h.app.state.sessions() as db:
        seq = (await db.execute(select(func.max(AuditRecord.seq)).where(
            AuditRecord.home_id == h.world.homes[0].id))).scalar_one()
    assert isinstance(seq, int) and seq >= 8, seq
    return seq


async def test_verify_passes_on_an_untouched_chain(
        delivered: Harness, cli_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest,
        database_url: str) -> None:
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "verify")
    assert code == 0, (out, err)
    result = summary(out)
    assert result["ok"] is True and result["problems"] == 0
    assert result["homes"] == len(delivered.world.homes)
    assert result["records"] >= await last_seq(delivered)


async def test_verify_fails_and_names_a_changed_record(
        delivered: Harness, cli_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest,
        database_url: str) -> None:
    home = delivered.world.homes[0]
    async with delivered.app.state.sessions() as db:
        await db.execute(update(AuditRecord).where(AuditRecord.home_id == home.id, AuditRecord.seq == 2)
                         .values(data={"driver": "someone-else"}))
        await db.commit()
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "verify")
    assert code == 1, (out, err)
    assert f"home {home.id}: record 2 changed" in out.splitlines()
    assert summary(out) | {"records": 0} == {"homes": len(delivered.world.homes), "records": 0, "ok": False,
                                            "problems": 1}
    # An evidence bundle of a broken chain says so, and the command fails.
    bundle = tmp_path / "evidence.zip"
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "export", str(home.id), "--out", str(bundle))
    assert code == 1, (out, err)
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["verified"] is False and manifest["findings"] == ["changed@2"]


async def test_verify_fails_and_names_a_deleted_middle_record(
        delivered: Harness, cli_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest,
        database_url: str) -> None:
    home = delivered.world.homes[0]
    async with delivered.app.state.sessions() as db:
        await db.execute(delete(AuditRecord).where(AuditRecord.home_id == home.id, AuditRecord.seq == 3))
        await db.commit()
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "verify")
    assert code == 1, (out, err)
    assert [line for line in out.splitlines() if line.startswith("home ")] == [f"home {home.id}: record 3 deleted"]
    assert summary(out)["ok"] is False


async def test_verify_fails_and_names_a_deleted_last_record(
        delivered: Harness, cli_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest,
        database_url: str) -> None:
    home = delivered.world.homes[0]
    last = await last_seq(delivered)
    async with delivered.app.state.sessions() as db:
        await db.execute(delete(AuditRecord).where(AuditRecord.home_id == home.id, AuditRecord.seq == last))
        await db.commit()
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "verify")
    assert code == 1, (out, err)
    assert [line for line in out.splitlines() if line.startswith("home ")] == [
        f"home {home.id}: record {last} deleted"]


def recompute(record: dict[str, Any]) -> str:
    """A record's hash, computed exactly as HOW-TO-VERIFY.txt describes."""
    body = {k: record[k] for k in ("home", "seq", "at", "actor", "action", "subject", "data", "prev")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


async def test_export_writes_a_bundle_that_verifies_by_its_own_instructions(delivered: Harness,
                                                                            cli_env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    home = delivered.world.homes[0]
    bundle = tmp_path / "out" / "evidence.zip"
    code, out, err = await threshold_cli(cli_env, tmp_path, "audit", "export", str(home.id), "--out", str(bundle))
    assert code == 0, (out, err)
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        files = {name: z.read(name) for name in names}
    assert {"records.jsonl", "manifest.json", "sessions.json", "HOW-TO-VERIFY.txt"} <= names
    manifest = json.loads(files["manifest.json"])
    assert manifest["verified"] is True and manifest["findings"] == []
    assert manifest["home"] == str(home.id)
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    records = [json.loads(line) for line in files["records.jsonl"].decode().splitlines()]
    assert len(records) == manifest["records"] == await last_seq(delivered)
    prev = GENESIS
    for i, record in enumerate(records, start=1):
        assert record["seq"] == i and record["home"] == str(home.id)
        assert record["prev"] == prev
        assert recompute(record) == record["hash"], record
        prev = record["hash"]
    assert manifest["head"] == {"seq": records[-1]["seq"], "hash": records[-1]["hash"]}
    assert "sha-256" in files["HOW-TO-VERIFY.txt"].decode().lower()
    sessions = json.loads(files["sessions.json"])
    assert [s["state"] for s in sessions] == ["done"]
    assert [r["action"] for r in records][-1] == "session.done"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_export_of_an_unknown_home_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = await threshold_cli(cli_env, tmp_path, "audit", "export", "00000000-0000-4000-8000-000000000000",
                                       "--out", str(tmp_path / "x.zip"))
    # Exit 2 is also a usage error; the message says it was the home that was unknown.
    assert code == 2 and "no home" in err, err
    assert not (tmp_path / "x.zip").exists()
    code, _, err = await threshold_cli(cli_env, tmp_path, "audit", "export", "not-a-uuid")
    assert code == 2 and "HOME must be a home id" in err, err
