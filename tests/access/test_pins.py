"""Keypad PINs at rest: the stored value is not the PIN, it opens only under its key and for its own row, and a
code whose stored PIN does not open fails with the reason while the lock still gets every other code."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from threshold.access import keypad
from threshold.access.models import KeypadCode
from threshold.access.pins import KeySettingError, PinBox, PinError, Row, box_for, derive_key, parse_key
from threshold.audit.models import AuditRecord
from threshold.config import Settings
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually

ROW = Row(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 29)


def test_a_sealed_pin_is_not_the_pin_and_opens_for_its_row() -> None:
    box = PinBox(os.urandom(32))
    sealed = box.seal("508316", ROW)
    assert sealed.startswith("v1:") and sealed != "508316"
    assert box.open(sealed, ROW) == "508316"
    # A fresh nonce each time: two codes with one PIN do not look alike at rest.
    assert box.seal("508316", ROW) != sealed


@pytest.mark.parametrize("moved", [{"code_id": uuid.uuid4()}, {"grant_id": uuid.uuid4()},
                                   {"device_id": uuid.uuid4()}, {"slot": 28}])
def test_a_pin_copied_to_another_row_does_not_open(moved: dict[str, object]) -> None:
    box = PinBox(os.urandom(32))
    sealed = box.seal("508316", ROW)
    with pytest.raises(PinError, match="copied from another code"):
        box.open(sealed, replace(ROW, **moved))  # type: ignore[arg-type]


def test_a_pin_does_not_open_under_another_key_and_the_error_says_so() -> None:
    sealed = PinBox(os.urandom(32)).seal("508316", ROW)
    with pytest.raises(PinError, match=r"sealed under another keypad key") as caught:
        PinBox(os.urandom(32)).open(sealed, ROW)
    assert "508316" not in str(caught.value) and str(ROW.code_id) in str(caught.value)


def test_a_plain_or_damaged_stored_value_is_refused_clearly() -> None:
    box = PinBox(os.urandom(32))
    sealed = box.seal("508316", ROW)
    flipped = base64.b64decode(sealed[3:])
    flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
    for stored, why in (("508316", "not a sealed v1 value"), ("v2:AAAA", "not a sealed v1 value"),
                        ("v1:!!!!", "not base64"), ("v1:AAAA", "too short"),
                        ("v1:" + base64.b64encode(flipped).decode(), "altered")):
        with pytest.raises(PinError, match=why):
            box.open(stored, ROW)


def test_the_key_is_the_setting_or_else_derived_from_the_secret_key() -> None:
    key = os.urandom(32)
    sealed = PinBox(key).seal("508316", ROW)
    for encoded in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
        assert box_for(Settings(keypad_key=encoded)).open(sealed, ROW) == "508316"
    secret = "a-secret-key-of-at-least-thirty-two-chars"
    derived = PinBox(derive_key(secret)).seal("508316", ROW)
    assert box_for(Settings(secret_key=secret, keypad_key=None)).open(derived, ROW) == "508316"
    with pytest.raises(PinError):
        box_for(Settings(secret_key=secret + "!", keypad_key=None)).open(derived, ROW)
    # A key of its own wins over the derived one.
    with pytest.raises(PinError):
        box_for(Settings(secret_key=secret, keypad_key=base64.b64encode(key).decode())).open(derived, ROW)
    assert base64.b64encode(key).decode() not in repr(Settings(keypad_key=base64.b64encode(key).decode()))


@pytest.mark.parametrize(("encoded", "why"), [("not base64 at all!", "not base64"),
                                              (base64.b64encode(os.urandom(16)).decode(), "32 bytes, not 16")])
def test_a_keypad_key_that_is_not_32_bytes_of_base64_is_refused(encoded: str, why: str) -> None:
    with pytest.raises(KeySettingError, match=why):
        parse_key(encoded)


async def guest(h: Harness, name: str) -> str:
    """A guest grant open for the next three hours at the home's front door; its id."""
    home, now = h.world.homes[0], h.clock()
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(), json={
        "guest_name": name, "entry_point_id": str(home.front_door), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat()})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_code_whose_stored_pin_does_not_open_fails_with_the_reason_and_the_others_reach_the_lock() -> None:
    async with running(homes=1) as h:
        home, hub = h.world.homes[0], h.app.state.hub
        await h.gateway.set_available(home.lock, False)  # nothing leaves until the rows are as this test wants
        assert await eventually(lambda: hub.online.get(hub.by_address[home.lock].device_id) is False, timeout=10)
        ann, bo, box = await guest(h, "Ann"), await guest(h, "Bo"), h.app.state.keypad.box
        async with h.app.state.sessions() as db:
            moved = (await keypad.create(db, box, home.id, "member:test", ann, None, h.clock())).code
            kept = await keypad.create(db, box, home.id, "member:test", bo, None, h.clock())
            # Someone with write access to the database copies Bo's sealed PIN onto Ann's code.
            moved.pin_sealed = kept.code.pin_sealed
            await db.commit()
        await h.gateway.set_available(home.lock, True)

        async def settled() -> bool:
            await h.app.state.keypad.turn()
            async with h.app.state.sessions() as db:
                states = {c.id: c for c in (await db.execute(select(KeypadCode))).scalars()}
            return states[moved.id].sync_state == "failed" and states[kept.code.id].sync_state == "on_lock"

        assert await eventually(settled, timeout=15)
        async with h.app.state.sessions() as db:
            failed = await db.get(KeypadCode, moved.id)
            assert failed is not None and failed.detail == keypad.UNREADABLE
            q = select(AuditRecord.action).where(AuditRecord.subject == f"keypad:{moved.id}")
            assert list((await db.execute(q)).scalars()) == ["keypad.created", "keypad.failed"]
        lock = h.gateway.devices[home.lock]
        assert lock.codes.get(kept.code.slot) == kept.pin and moved.slot not in lock.codes
        assert h.commands_to(home.lock, "set_code") == 1
