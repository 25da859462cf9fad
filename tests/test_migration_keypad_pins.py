"""Migration 0009 seals the keypad PINs already stored, and its downgrade opens them again, refusing (and changing
nothing) under the wrong key."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from threshold.access import keypad
from threshold.access.pins import PinBox, PinError, Row, parse_key
from threshold.db import alembic_config, make_engine
from threshold.sim.harness import running


async def _query(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def _code_with_pin(url: str, key: str, pin: str) -> uuid.UUID:
    """A guest's keypad code with this PIN, made through the app at head; its id."""
    async with running(url, homes=1, keypad_key=key) as h:
        home, now = h.world.homes[0], h.clock()
        r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(), json={
            "guest_name": "Ann Sitter", "entry_point_id": str(home.front_door), "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=3)).isoformat()})
        assert r.status_code == 201, r.text
        async with h.app.state.sessions() as db:
            made = await keypad.create(db, h.app.state.keypad.box, home.id, "member:test", r.json()["id"], pin, now)
            await db.commit()
        return made.code.id


async def test_upgrade_seals_plain_pins_and_downgrade_opens_them_only_under_the_same_key(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("THRESHOLD_KEYPAD_KEY", key)  # the migration reads the key as the app does
    code_id = await _code_with_pin(database_url, key, "508316")
    cfg = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, cfg, "0008")
        assert await _query(database_url, "SELECT pin FROM keypad_codes") == [("508316",)]

        await asyncio.to_thread(command.upgrade, cfg, "head")
        [(grant_id, device_id, slot, sealed)] = await _query(
            database_url, "SELECT grant_id, device_id, slot, pin_sealed FROM keypad_codes")
        assert sealed.startswith("v1:")
        row = Row(code_id, uuid.UUID(str(grant_id)), uuid.UUID(str(device_id)), slot)
        assert PinBox(parse_key(key)).open(sealed, row) == "508316"

        # To just above 0009 with the right key, so that only 0009's own downgrade meets the wrong one.
        await asyncio.to_thread(command.downgrade, cfg, "0009")
        monkeypatch.setenv("THRESHOLD_KEYPAD_KEY", base64.b64encode(os.urandom(32)).decode())
        with pytest.raises(PinError, match="does not open"):
            await asyncio.to_thread(command.downgrade, cfg, "0008")
        assert await _query(database_url, "SELECT version_num FROM alembic_version") == [("0009",)]
        assert await _query(database_url, "SELECT pin_sealed FROM keypad_codes") == [(sealed,)]
    finally:
        # The PostgreSQL database is shared by the run: leave it at head whatever happened above.
        monkeypatch.setenv("THRESHOLD_KEYPAD_KEY", key)
        await asyncio.to_thread(command.upgrade, cfg, "head")
