"""A pending approval holds no door: other people come in meanwhile, an approval that finds the door taken ends
`door_busy` with the household's yes kept, and however asks and approvals race, two people never share a door."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from doors import HOME, ask, ask_first, book, decide, door_holders, grant_of, guest_ask, guest_grant, session, sessions
from sqlalchemy.exc import IntegrityError

from threshold.access.models import EntrySession
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually

WAIT = 20.0  # generous: device reports arrive asynchronously on a busy machine


async def waiting_session(h: Harness, driver_index: int) -> tuple[tuple[str, str], str]:
    """A delivery whose driver asked at an "ask me first" home and now waits; returns it and the session id."""
    delivery = await book(h, driver_index)
    _, r = await ask(h, driver_index, delivery)
    assert r.status_code == 202 and r.json()["state"] == "awaiting_approval", r.text
    return delivery, r.json()["id"]


async def test_a_pending_approval_does_not_keep_another_driver_from_the_door(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    await ask_first(h)
    _, waiting = await waiting_session(h, 0)
    assert not (await session(h, waiting)).holds_door
    second = await book(h, 1)
    r = await h.client.post(f"/v1/homes/{home.id}/deliveries/{second[0]}/approve",
                            headers=await h.member_headers(HOME))
    assert r.status_code == 200, r.text
    _, r = await ask(h, 1, second)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    assert [str(s.id) for s in await door_holders(h)] == [r.json()["id"]]
    assert (await session(h, waiting)).state == "awaiting_approval"


async def test_a_pending_approval_does_not_keep_a_guest_from_the_door(harness: Harness) -> None:
    h = harness
    await ask_first(h)
    _, waiting = await waiting_session(h, 0)
    grant = await guest_grant(h)
    r = await guest_ask(h, grant["token"])
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    assert (await session(h, waiting)).state == "awaiting_approval"


async def test_an_approval_that_finds_the_door_taken_ends_door_busy_and_the_retry_needs_no_second_yes(
        harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    await ask_first(h)
    first, waiting = await waiting_session(h, 0)
    grant = await guest_grant(h)
    inside = await guest_ask(h, grant["token"])
    assert inside.status_code == 200 and inside.json()["state"] == "open", inside.text

    a = await decide(h, waiting)
    assert a.status_code == 200, a.text
    assert (a.json()["state"], a.json()["reason"]) == ("aborted", "door_busy")
    # Nothing was started or opened for the approved driver while the guest held the door.
    assert h.commands_to(home.camera, "start") == 1 and h.commands_to(home.lock, "unlock") == 1
    assert (await grant_of(h, waiting)).used_at is None  # the delivery's one entry is still to come

    r = await h.client.post(f"/v1/guest/entries/{inside.json()['id']}/finish", json={"token": grant["token"]})
    assert r.status_code == 200, r.text

    async def guest_gone() -> bool:
        return not (await session(h, inside.json()["id"])).live

    assert await eventually(guest_gone, timeout=WAIT)
    driver, r = await ask(h, 0, first)
    assert r.status_code == 200 and r.json()["state"] == "open", r.text
    assert [s.state for s in await sessions(h)].count("awaiting_approval") == 0
    assert (await driver.finish(r.json()["id"])).status_code == 200
    assert (await driver.until(r.json()["id"], TERMINAL, timeout=WAIT))["state"] == "done"


async def test_declining_keeps_the_entry_spent(harness: Harness) -> None:
    h = harness
    await ask_first(h)
    first, waiting = await waiting_session(h, 0)
    d = await decide(h, waiting, "decline")
    assert (d.json()["state"], d.json()["reason"]) == ("aborted", "approval_declined")
    _, r = await ask(h, 0, first)
    assert r.status_code == 409 and r.json()["code"] == "grant_used", r.text


async def test_two_approvals_and_a_guest_at_once_give_the_door_to_exactly_one(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    await ask_first(h)
    _, one = await waiting_session(h, 0)
    _, two = await waiting_session(h, 1)
    grant = await guest_grant(h)
    answers = await asyncio.gather(decide(h, one), decide(h, two), guest_ask(h, grant["token"]))
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
    holders = await door_holders(h)
    assert len(holders) == 1, [(s.actor_kind, s.state) for s in holders]
    winner = str(holders[0].id)

    async def winner_inside() -> bool:
        return (await session(h, winner)).state == "open"

    assert await eventually(winner_inside, timeout=WAIT)
    rows = {str(s.id): s for s in await sessions(h)}
    for sid in (one, two):
        if sid != winner:
            assert (rows[sid].state, rows[sid].reason) == ("aborted", "door_busy")
            assert rows[sid].unlock_sent_at is None
    guest = answers[2]
    if guest.status_code != 200:
        assert guest.status_code == 409 and guest.json()["code"] == "entry_in_progress", guest.text
    assert h.commands_to(home.lock, "unlock") == 1
    assert len(await door_holders(h)) == 1


async def test_the_database_refuses_a_second_door_holder(harness: Harness) -> None:
    h = harness
    await ask_first(h)
    _, waiting = await waiting_session(h, 0)
    grant = await guest_grant(h)
    assert (await guest_ask(h, grant["token"])).status_code == 200
    async with h.app.state.sessions() as db:
        row = await db.get(EntrySession, uuid.UUID(waiting))
        assert row is not None
        row.holds_door = True
        with pytest.raises(IntegrityError):
            await db.commit()
