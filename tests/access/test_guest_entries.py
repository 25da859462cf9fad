"""One-time guest access opens the door once, or several times within its time when the household chose so; never
after the time is over. A try that a device or a busy door stopped before any unlock does not use the visit up."""

from __future__ import annotations

import uuid
from datetime import timedelta

from doors import HOME, guest_ask, guest_finish, guest_grant, session
from sqlalchemy import select

from threshold.access.models import Grant
from threshold.audit.models import AuditRecord
from threshold.devices.simulated import Behaviour
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually

WAIT = 20.0  # generous: device reports arrive asynchronously on a busy machine


async def come_in_and_leave(h: Harness, token: str) -> None:
    """The guest opens the door, says they are done, and the door is locked again."""
    r = await guest_ask(h, token)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    sid = r.json()["id"]
    assert (await guest_finish(h, token, sid)).status_code == 200

    async def ended() -> bool:
        return not (await session(h, sid)).live

    assert await eventually(ended, timeout=WAIT)


async def test_several_entries_when_the_household_allows_them_and_none_after_the_time(harness: Harness) -> None:
    h = harness
    grant = await guest_grant(h, hours=1, several_entries=True)
    assert grant["single_use"] is False
    await come_in_and_leave(h, grant["token"])
    await come_in_and_leave(h, grant["token"])
    h.clock.offset += timedelta(hours=2)
    r = await guest_ask(h, grant["token"])
    assert r.status_code == 403 and r.json()["code"] == "grant_expired", r.text
    async with h.app.state.sessions() as db:
        created = (await db.execute(select(AuditRecord).where(AuditRecord.action == "grant.created",
                                                              AuditRecord.subject == f"grant:{grant['id']}")))
        assert [r.data["several_entries"] for r in created.scalars()] == [True]
        refused = (await db.execute(select(AuditRecord).where(AuditRecord.action == "entry.refused"))).scalars()
        assert [r.data["codes"] for r in refused] == [["grant_expired"]]


async def test_one_entry_by_default(harness: Harness) -> None:
    h = harness
    grant = await guest_grant(h, hours=1)
    assert grant["single_use"] is True
    await come_in_and_leave(h, grant["token"])
    r = await guest_ask(h, grant["token"])
    assert r.status_code == 409 and r.json()["code"] == "grant_used", r.text


async def test_a_camera_that_would_not_start_does_not_use_up_a_one_time_visit(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    grant = await guest_grant(h, hours=1)
    h.gateway.devices[home.camera].behaviour = Behaviour(camera_fails=True)
    r = await guest_ask(h, grant["token"])
    assert r.status_code == 503 and r.json()["code"] == "camera_not_confirmed", r.text
    async with h.app.state.sessions() as db:
        stored = await db.get(Grant, uuid.UUID(grant["id"]))
        assert stored is not None and stored.used_at is None
    assert h.commands_to(home.lock, "unlock") == 0
    h.gateway.devices[home.camera].behaviour = Behaviour()
    await come_in_and_leave(h, grant["token"])
