"""Keypad codes over zigbee2mqtt on a real Mosquitto: the `pin_code` payloads, the lock's `users` report as the
only confirmation, revoke clearing the code, and an offline lock holding the sync until it is back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiomqtt
import pytest
import structlog
from sqlalchemy import select

from threshold.access import keypad
from threshold.access.models import KeypadCode
from threshold.audit.models import AuditRecord
from threshold.devices import z2m
from threshold.devices.mqtt import BrokerAddress
from threshold.devices.ports import DeviceCommand, DeviceKind
from threshold.devices.simulated import Behaviour
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually


def test_commands_and_reports_have_zigbee2mqtts_pin_code_shape() -> None:
    set_code = DeviceCommand("front/lock", DeviceKind.LOCK, "set_code", "508316", slot=29)
    assert json.loads(z2m.command_payload(set_code)) == {"pin_code": {
        "user": 29, "user_type": "unrestricted", "user_enabled": True, "pin_code": "508316"}}
    clear = DeviceCommand("front/lock", DeviceKind.LOCK, "clear_code", slot=29)
    assert json.loads(z2m.command_payload(clear)) == {"pin_code": {"user": 29, "pin_code": None}}
    assert "508316" not in repr(set_code)
    with pytest.raises(z2m.MessageError):
        z2m.command_payload(DeviceCommand("front/lock", DeviceKind.LOCK, "set_code", None, slot=29))
    with pytest.raises(z2m.MessageError):  # a device known only from discovery has no keypad command
        z2m.command_payload(set_code, z2m.Topics("home/lock", "home/lock/set"))
    state = {"lock_state": "locked", "state": "LOCK", "last_seen": "2025-06-01T10:00:00Z",
             "users": {"29": {"status": "enabled", "pin_code": "508316"}, "3": {"status": "available"},
                       "4": {"status": "not_supported_5"}}}
    parsed = z2m.state("front/lock", DeviceKind.LOCK, json.dumps(state).encode())
    assert parsed.state == "locked" and parsed.codes == ((3, "available"), (29, "enabled"))
    assert "508316" not in repr(parsed)
    for bad in ({"users": []}, {"users": {"x": {"status": "enabled"}}}, {"users": {"999": {"status": "enabled"}}}):
        with pytest.raises(z2m.MessageError):
            z2m.state("front/lock", DeviceKind.LOCK, json.dumps(bad).encode())


@asynccontextmanager
async def watching(h: Harness, address: str) -> AsyncIterator[list[Any]]:
    """Every command payload published to a device's `/set` topic, as another client on the broker sees it."""
    seen: list[Any] = []
    broker = BrokerAddress.parse(h.settings.mqtt_url or "")
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"spy-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(f"{h.settings.mqtt_base}/{address}/set", qos=1)

        async def read() -> None:
            async for message in client.messages:
                seen.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]

        task = asyncio.create_task(read())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def guest(h: Harness, hours: float = 3, home_index: int = 0) -> str:
    """A one-time guest grant at the home's front door, open now; its id."""
    home, now = h.world.homes[home_index], h.clock()
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(home_index), json={
        "guest_name": "Ann Sitter", "entry_point_id": str(home.front_door), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=hours)).isoformat()})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@dataclass(frozen=True, slots=True)
class Added:
    """A new code as these tests need it: its id and slot, and the PIN the household was shown once."""

    id: uuid.UUID
    slot: int
    pin: str


async def add_code(h: Harness, grant_id: str, home_index: int = 0) -> Added:
    """A code for the grant, as the portal adds one."""
    async with h.app.state.sessions() as db:
        made = await keypad.create(db, h.app.state.keypad.box, h.world.homes[home_index].id, "member:test",
                                   grant_id, None, h.clock())
        await db.commit()
        return Added(made.code.id, made.code.slot, made.pin)


async def row(h: Harness, code_id: uuid.UUID) -> KeypadCode:
    """The code as stored now."""
    async with h.app.state.sessions() as db:
        found = await db.get(KeypadCode, code_id)
        assert found is not None
        return found


async def reaches(h: Harness, code_id: uuid.UUID, state: str, timeout: float = 15) -> KeypadCode:
    """Wait until the code's sync state is `state`."""
    async def there() -> bool:
        return (await row(h, code_id)).sync_state == state
    assert await eventually(there, timeout=timeout), f"never {state}: {(await row(h, code_id)).sync_state}"
    return await row(h, code_id)


async def turns(h: Harness, count: int = 2) -> None:
    """Run `count` sync turns now, as the worker's loop does every two seconds."""
    for _ in range(count):
        await h.app.state.keypad.turn()


async def lock_online(h: Harness, address: str, online: bool) -> None:
    """Take the simulated lock off the network (or bring it back) and wait until the hub has heard."""
    await h.gateway.set_available(address, online)
    device_id = h.app.state.hub.by_address[address].device_id
    assert await eventually(lambda: h.app.state.hub.online.get(device_id) is online, timeout=10)


async def chain(h: Harness, home_index: int = 0) -> list[AuditRecord]:
    """The home's audit records."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord).where(AuditRecord.home_id == h.world.homes[home_index].id).order_by(AuditRecord.seq)
        return list((await db.execute(q)).scalars())


@contextlib.contextmanager
def every_log_line() -> Any:
    """Every structlog event at any level while the block runs (the test settings log warnings only)."""
    saved = structlog.get_config()
    with structlog.testing.capture_logs() as logs:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            yield logs
        finally:
            structlog.configure(**saved)


async def test_a_code_reaches_the_lock_then_revoke_clears_it_with_no_pin_in_audit_or_logs(
        mqtt_url: str, database_url: str) -> None:
    async with running(database_url, homes=1, mqtt=mqtt_url) as h:
        home = h.world.homes[0]
        grant_id = await guest(h)
        with every_log_line() as logs:
            async with watching(h, home.lock) as sent:
                code = await add_code(h, grant_id)
                stored = (await row(h, code.id)).pin_sealed
                assert stored.startswith("v1:") and stored != code.pin  # kept sealed, never as shown
                on = await reaches(h, code.id, "on_lock")
                assert on.synced_at is not None and on.desired == "present" and on.attempts == 0
                assert {"pin_code": {"user": code.slot, "user_type": "unrestricted", "user_enabled": True,
                                     "pin_code": code.pin}} in sent
                assert h.gateway.devices[home.lock].codes[code.slot] == code.pin  # the lock holds it
                r = await h.client.delete(f"/v1/homes/{home.id}/guest-grants/{grant_id}",
                                          headers=await h.member_headers())
                assert r.status_code == 200, r.text
                off = await reaches(h, code.id, "cleared")
                assert off.desired == "absent"
                assert {"pin_code": {"user": code.slot, "pin_code": None}} in sent
                assert h.gateway.devices[home.lock].codes[code.slot] is None
        records = await chain(h)
        actions = [r.action for r in records if r.subject == f"keypad:{code.id}"]
        assert actions == ["keypad.created", "keypad.on_lock", "keypad.cleared"]
        assert code.pin not in json.dumps([r.data for r in records])
        assert any(e.get("event") == "keypad.sent" for e in logs)
        assert code.pin not in repr(logs)


async def test_an_offline_lock_keeps_the_code_pending_then_setting_until_it_is_back(
        mqtt_url: str, database_url: str) -> None:
    async with running(database_url, homes=1, mqtt=mqtt_url) as h:
        home = h.world.homes[0]
        grant_id = await guest(h)
        async with watching(h, home.lock) as sent:
            await lock_online(h, home.lock, False)
            code = await add_code(h, grant_id)
            await turns(h)
            assert (await row(h, code.id)).sync_state == "pending" and sent == []
            await lock_online(h, home.lock, True)
            await turns(h, 1)
            await reaches(h, code.id, "on_lock")

            # The lock's battery dies as it is told the next code: the try waits, and no try is spent offline.
            h.gateway.devices[home.lock].behaviour.offline_on = "set_code"
            other = await add_code(h, await guest(h))
            await turns(h, 1)
            await reaches(h, other.id, "setting")
            hub = h.app.state.hub
            assert await eventually(lambda: hub.online.get(hub.by_address[home.lock].device_id) is False, 10)
            await turns(h)
            waiting = await row(h, other.id)
            assert (waiting.sync_state, waiting.attempts) == ("setting", 1)
            assert other.slot not in h.gateway.devices[home.lock].codes
            h.gateway.devices[home.lock].behaviour.offline_on = None
            await lock_online(h, home.lock, True)
            h.clock.offset += timedelta(seconds=15)  # past the first try's backoff
            await turns(h, 1)
            await reaches(h, other.id, "on_lock")
            assert h.gateway.devices[home.lock].codes[other.slot] == other.pin
            assert sum(1 for p in sent if p["pin_code"].get("user") == other.slot) == 2


async def test_a_lock_without_a_keypad_is_unsupported_and_audited() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        h.gateway.devices[home.lock].behaviour = Behaviour(keypad=False)
        code = await add_code(h, await guest(h))
        unsupported = await reaches(h, code.id, "unsupported")
        assert unsupported.detail and "cannot hold keypad codes" in unsupported.detail
        assert "keypad.unsupported" in [r.action for r in await chain(h)]
        assert h.commands_to(home.lock, "set_code") == 0
