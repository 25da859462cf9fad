"""The driver app over HTTP: sign-in required, CSRF on every change, another driver's stop or entry is a 404,
every refusal in words with what to do instead, and an entry from the barcode to the lock."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pages import client, count, hidden
from sqlalchemy import select

from threshold.access.models import EntrySession
from threshold.audit.models import AuditRecord
from threshold.deliveries.models import Delivery
from threshold.devices.simulated import Behaviour
from threshold.homes.models import HomeRules
from threshold.notify.models import OutboxMessage
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually
from threshold.web import steps

DONE = frozenset({"done", "aborted", "interrupted", "unsecured"})


async def sign_in(client: httpx.AsyncClient, h: Harness, driver_index: int = 0) -> str:
    """Sign a driver in through the form; returns the CSRF token of the stops page."""
    page = await client.get("/driver/signin")
    r = await client.post("/driver/signin", data={"email": h.world.drivers[driver_index][1],
                                                  "password": h.world.password,
                                                  "pre": hidden(page.text, "pre"), "next": "/driver"})
    assert r.status_code == 303 and r.headers["location"] == "/driver", r.text
    stops = await client.get("/driver")
    assert stops.status_code == 200
    return hidden(stops.text, "csrf")


async def book(h: Harness, home_index: int = 0, driver_index: int = 0, start: datetime | None = None,
               hours: float = 2.0) -> tuple[str, str]:
    """A delivery assigned to a driver; returns its id and its package's barcode."""
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(h.world.homes[home_index], h.world.drivers[driver_index][0], barcode=barcode,
                               start=start, hours=hours)
    assert r.status_code == 201, r.text
    return r.json()["id"], barcode


def at_home(h: Harness, home_index: int = 0) -> dict[str, str]:
    """The phone's position, at the home's door."""
    home = h.world.homes[home_index]
    return {"lat": str(home.lat), "lon": str(home.lon)}


async def refusals_of(h: Harness, delivery_id: str) -> list[dict[str, Any]]:
    """The audited refusals of asks for a delivery, oldest first."""
    async with h.app.state.sessions() as db:
        rows = (await db.execute(select(AuditRecord).where(AuditRecord.action == "entry.refused",
                                                           AuditRecord.subject == f"delivery:{delivery_id}")
                                 .order_by(AuditRecord.seq))).scalars()
        return [{"actor": r.actor, **r.data} for r in rows]


async def settle(h: Harness, session_id: str, states: frozenset[str]) -> str:
    """Wait until the entry reaches one of `states`; its state then."""
    row = await h.app.state.runner.wait(uuid.UUID(session_id), states, 15)
    state: str = row.state
    return state


async def test_every_driver_page_needs_a_driver_signed_in(harness: Harness) -> None:
    h = harness
    delivery_id, _ = await book(h)
    async with client(h) as b:
        for path in ("/driver", f"/driver/stops/{delivery_id}", f"/driver/entries/{uuid.uuid4()}"):
            r = await b.get(path)
            assert r.status_code == 303 and r.headers["location"] == f"/driver/signin?next={path}", path
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": "X", **at_home(h)})
        assert r.status_code == 303 and r.headers["location"].startswith("/driver/signin")
        # A household member's session is not a driver's.
        page = await b.get("/signin")
        home = h.world.homes[0]
        await b.post("/signin", data={"email": home.member_email, "password": h.world.password,
                                      "pre": hidden(page.text, "pre"), "next": "/portal"})
        assert (await b.get("/driver")).status_code == 303
    assert await count(h, EntrySession) == 0


async def test_todays_stops_are_in_window_order_with_entry_point_note_and_status(harness: Harness) -> None:
    h = harness
    now = datetime.now(UTC)
    later, _ = await book(h, 1, start=now + timedelta(minutes=50))
    sooner, _ = await book(h, 2, start=now - timedelta(minutes=10))
    theirs, _ = await book(h, 3, driver_index=1)
    async with client(h) as b:
        await sign_in(b, h)
        page = (await b.get("/driver")).text
    assert page.index(f"/driver/stops/{sooner}") < page.index(f"/driver/stops/{later}")
    assert f"/driver/stops/{theirs}" not in page
    assert "In-home, Front door" in page and "Place parcels on the hall table." in page and "assigned" in page
    assert re.search(r"\d\d:\d\d\u2013\d\d:\d\d CES?T", page)


async def test_on_my_way_needs_the_csrf_token_and_tells_the_household_once(harness: Harness) -> None:
    h = harness
    mine, _ = await book(h, 1)
    theirs, _ = await book(h, 2, driver_index=1)

    async def told(delivery_id: str) -> int:
        return await count(h, OutboxMessage, OutboxMessage.idempotency_key == f"delivery:{delivery_id}:on_way")

    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{mine}/on-the-way", data={"eta": "15"})
        assert r.status_code == 403 and await told(mine) == 0
        r = await b.post(f"/driver/stops/{mine}/on-the-way", data={"eta": "15", "csrf": "forged" * 7})
        assert r.status_code == 403 and await told(mine) == 0
        r = await b.post(f"/driver/stops/{mine}/on-the-way", data={"eta": "lots", "csrf": csrf})
        assert r.status_code == 422 and f'id="e-eta-{mine}"' in r.text and await told(mine) == 0
        r = await b.post(f"/driver/stops/{theirs}/on-the-way", data={"eta": "15", "csrf": csrf})
        assert r.status_code == 404 and await told(theirs) == 0
        for _ in range(2):
            r = await b.post(f"/driver/stops/{mine}/on-the-way", data={"eta": "15", "csrf": csrf})
            assert r.status_code == 303
        page = await b.get(r.headers["location"])
        assert "has been told you are on the way" in page.text
    assert await told(mine) == 1
    assert await count(h, AuditRecord, AuditRecord.action == "driver.on_way") == 1


async def test_asking_without_the_csrf_token_is_refused_and_opens_nothing(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h)
    async with client(h) as b:
        await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, **at_home(h)})
        assert r.status_code == 403 and "The form expired" in r.text
        r = await b.post(f"/driver/stops/{delivery_id}/entry",
                         data={"barcode": barcode, "csrf": "x" * 43, **at_home(h)})
        assert r.status_code == 403
    assert await count(h, EntrySession) == 0
    assert h.commands_to(h.world.homes[0].camera, "start") == 0
    assert h.commands_to(h.world.homes[0].lock, "unlock") == 0


async def test_another_drivers_stop_and_entry_are_not_found_and_their_door_stays_shut(harness: Harness) -> None:
    h = harness
    theirs, barcode = await book(h, 1, driver_index=1)
    async with client(h) as other, client(h) as b:
        other_csrf = await sign_in(other, h, 1)
        r = await other.post(f"/driver/stops/{theirs}/entry", data={"barcode": barcode, "csrf": other_csrf,
                                                                    **at_home(h, 1)})
        assert r.status_code == 303
        session_id = r.headers["location"].rsplit("/", 1)[1]
        assert await settle(h, session_id, frozenset({"open"}) | DONE) == "open"

        csrf = await sign_in(b, h)
        address = (await other.get(f"/driver/stops/{theirs}")).text.split("<h1>")[1].split("</h1>")[0]
        r = await b.get(f"/driver/stops/{theirs}")
        assert r.status_code == 404 and address not in r.text and barcode not in r.text
        assert (await b.get(f"/driver/stops/{uuid.uuid4()}")).text == r.text  # missing and not yours alike
        r = await b.post(f"/driver/stops/{theirs}/entry", data={"barcode": barcode, "csrf": csrf,
                                                               **at_home(h, 1)})
        assert r.status_code == 404
        assert [a["codes"] for a in await refusals_of(h, theirs)] == [["wrong_driver"]]
        for path in (f"/driver/entries/{session_id}", f"/driver/entries/{session_id}/panel",
                     f"/driver/entries/{session_id}/steps"):
            r = await b.get(path)
            assert r.status_code == 404 and "lock unlocked" not in r.text, path
        r = await b.post(f"/driver/entries/{session_id}/finish", data={"csrf": csrf})
        assert r.status_code == 404
        assert await settle(h, session_id, frozenset({"open"})) == "open"
        assert await count(h, EntrySession) == 1
        r = await other.post(f"/driver/entries/{session_id}/finish", data={"csrf": other_csrf})
        assert r.status_code == 303
        assert await settle(h, session_id, DONE) == "done"


async def test_a_wrong_or_missing_barcode_shows_next_to_the_field(harness: Harness) -> None:
    h = harness
    delivery_id, _ = await book(h, 1)
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": " ", "csrf": csrf,
                                                                    **at_home(h, 1)})
        assert r.status_code == 422 and 'id="e-barcode"' in r.text and "Type or scan" in r.text
        assert await refusals_of(h, delivery_id) == []  # a blank form is not an ask
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": "PKG-SOMEONE-ELSES",
                                                                    "csrf": csrf, **at_home(h, 1)})
        assert r.status_code == 403
        assert 'aria-invalid="true" aria-describedby="e-barcode"' in r.text
        assert "This barcode does not belong to this stop." in r.text and "Check the label" in r.text
        assert 'value="PKG-SOMEONE-ELSES"' in r.text and 'role="alert"' in r.text
    assert [a["codes"] for a in await refusals_of(h, delivery_id)] == [["wrong_package"]]
    assert await count(h, EntrySession) == 0


async def test_outside_the_window_the_driver_is_told_when_to_come(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    h.clock.offset -= timedelta(hours=1)  # an hour early
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
    assert r.status_code == 403
    assert re.search(r"It is outside the delivery window \(\d\d:\d\d\u2013\d\d:\d\d CES?T\)", r.text)
    assert "Come back within the window" in r.text
    assert [a["codes"] for a in await refusals_of(h, delivery_id)] == [["outside_window"]]
    assert await count(h, EntrySession) == 0


async def test_without_a_location_the_driver_learns_why_and_what_to_do(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    async with client(h) as b:
        csrf = await sign_in(b, h)
        for where in ({}, {"lat": "nan", "lon": "nan"}, {"lat": "95", "lon": "0"}):
            r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                        **where})
            assert r.status_code == 422, where
            assert "did not share its location" in r.text and "Allow location for this site" in r.text
        far = {"lat": str(h.world.homes[1].lat + 0.05), "lon": str(h.world.homes[1].lon)}
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf, **far})
        assert r.status_code == 403 and "Your location is not at this home." in r.text
    assert await count(h, EntrySession) == 0
    assert [a["codes"] for a in await refusals_of(h, delivery_id)] == [["not_at_home"]]


async def actions_of(h: Harness, home_id: uuid.UUID) -> list[AuditRecord]:
    """The home's audit records in order."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord).where(AuditRecord.home_id == home_id).order_by(AuditRecord.seq)
        return list((await db.execute(q)).scalars())


async def test_an_offline_lock_tells_the_driver_the_households_fallback(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    home = h.world.homes[1]
    await h.gateway.set_available(home.lock, False)
    hub = h.app.state.hub  # the lock says so itself; the hub writes the row before the ask
    assert await eventually(lambda: hub.online.get(hub.by_address[home.lock].device_id) is False)
    await hub.flush()
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
        assert r.status_code == 503
        assert "The lock or the camera at this door is offline." in r.text
        assert "What to do instead:</strong> Leave it at the door" in r.text
        page = await b.get(f"/driver/stops/{delivery_id}")
        assert "Leave it at the door" in page.text and 'id="ask"' not in page.text
        async with h.app.state.sessions() as db:
            d = await db.get(Delivery, uuid.UUID(delivery_id))
            assert d is not None and (d.status, d.fallback) == ("fallback", "doorstep")
        # The stop ends with the package at the door: not in a locker, and only with the page's token.
        r = await b.post(f"/driver/stops/{delivery_id}/left", data={"where": "locker", "csrf": csrf})
        assert r.status_code == 409 and "cannot be finished that way" in r.text
        r = await b.post(f"/driver/stops/{delivery_id}/left", data={"where": "doorstep"})
        assert r.status_code == 403
        r = await b.post(f"/driver/stops/{delivery_id}/left", data={"where": "doorstep", "csrf": csrf})
        assert r.status_code == 303
        assert "the household has been told where the package is" in (await b.get(r.headers["location"])).text
    async with h.app.state.sessions() as db:
        d = await db.get(Delivery, uuid.UUID(delivery_id))
        assert d is not None and (d.status, d.fallback) == ("delivered", "doorstep")
        told = (await db.execute(select(OutboxMessage).where(OutboxMessage.topic == "delivery.left_outside")))\
            .scalars().all()
        assert [m.payload["where"] for m in told] == ["doorstep"]
    assert "delivery.left_outside" in [a.action for a in await actions_of(h, home.id)]
    assert h.commands_to(home.lock, "unlock") == 0


async def test_a_camera_that_never_records_keeps_the_door_shut_and_the_driver_is_told_what_to_do(
        harness: Harness) -> None:
    h = harness
    home = h.world.homes[1]
    h.gateway.devices[home.camera].behaviour = Behaviour(camera_fails=True)
    delivery_id, barcode = await book(h, 1)
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
        entry = r.headers["location"]
        assert await settle(h, entry.rsplit("/", 1)[1], DONE) == "aborted"
        page = await b.get(entry)
        assert "Stopped: the door did not open" in page.text
        assert "The camera did not confirm it was recording, so the door stayed locked." in page.text
        assert "What to do:</strong> Leave it at the door" in page.text  # the household's fallback
        assert "Finished: lock up" not in page.text and "Back to your stops" in page.text
    assert h.commands_to(home.lock, "unlock") == 0


async def test_ask_first_shows_the_wait_then_the_door(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    async with h.app.state.sessions() as db:
        rules = await db.get(HomeRules, h.world.homes[1].id)
        assert rules is not None
        rules.ask_first = True
        await db.commit()
    async with client(h) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 1)})
        entry = r.headers["location"]
        session_id = entry.rsplit("/", 1)[1]
        assert await settle(h, session_id, frozenset({"awaiting_approval"})) == "awaiting_approval"
        page = await b.get(entry)
        assert "Waiting for the household to let you in" in page.text and "Finished: lock up" not in page.text
        r = await h.client.post(f"/v1/homes/{h.world.homes[1].id}/sessions/{session_id}/approve",
                                headers=await h.member_headers(1))
        assert r.status_code == 200, r.text
        assert await settle(h, session_id, frozenset({"open"}) | DONE) == "open"
        page = await b.get(f"{entry}/panel")
        assert "Door unlocked" in page.text and "Finished: lock up" in page.text
        await b.post(f"{entry}/finish", data={"csrf": csrf})
        assert await settle(h, session_id, DONE) == "done"


async def test_a_driver_scans_asks_watches_the_door_open_and_locks_up(harness: Harness) -> None:
    h = harness
    delivery_id, barcode = await book(h, 1)
    home = h.world.homes[1]
    async with client(h) as b:
        csrf = await sign_in(b, h)
        stop = await b.get(f"/driver/stops/{delivery_id}")
        assert 'inputmode="text"' in stop.text and 'autocomplete="off"' in stop.text and barcode not in stop.text
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": f" {barcode} ", "csrf": csrf,
                                                                    **at_home(h, 1)})
        assert r.status_code == 303 and r.headers["location"].startswith("/driver/entries/")
        entry = r.headers["location"]
        session_id = entry.rsplit("/", 1)[1]
        assert await settle(h, session_id, frozenset({"open"}) | DONE) == "open"
        page = await b.get(entry)
        assert "Door unlocked" in page.text and "Finished: lock up" in page.text
        assert "Camera recording" in page.text and "Door unlocked</li>" in page.text
        assert f'sse-connect="{entry}/steps?after=' in page.text
        r = await b.post(f"{entry}/finish", data={})
        assert r.status_code == 403
        assert await settle(h, session_id, frozenset({"open"})) == "open"
        r = await b.post(f"{entry}/finish", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == entry
        assert await settle(h, session_id, DONE) == "done"
        page = await b.get(entry)
        assert "Done: door locked" in page.text and "Delivered. Go on to your next stop." in page.text
        assert "Door locked</li>" in page.text and "sse-connect" not in page.text
        r = await b.post(f"{entry}/finish", data={"csrf": csrf})
        assert r.status_code == 409 and "nothing to lock up" in r.text
        stops = await b.get("/driver")
        assert f"/driver/stops/{delivery_id}" not in stops.text
    assert h.gateway.state(home.lock) == "locked"
    assert h.commands_to(home.lock, "unlock") == 1


async def test_the_entry_page_streams_its_steps_and_then_closes_the_stream(portal: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    h = portal.h  # over real HTTP: an in-process transport would hold the stream until it ends
    monkeypatch.setattr(steps, "QUIET_LOOKS", 2)  # close soon after the end, not twenty seconds later
    delivery_id, barcode = await book(h, 0)
    async with client(h, portal.base_url) as b:
        csrf = await sign_in(b, h)
        r = await b.post(f"/driver/stops/{delivery_id}/entry", data={"barcode": barcode, "csrf": csrf,
                                                                    **at_home(h, 0)})
        entry = r.headers["location"]
        session_id = entry.rsplit("/", 1)[1]
        assert await settle(h, session_id, frozenset({"open"}) | DONE) == "open"
        page = await b.get(entry)
        after = re.search(r"steps\?after=(\d+)", page.text)
        assert after
        got = ""
        async with b.stream("GET", f"{entry}/steps", params={"after": after.group(1)}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert (await b.post(f"{entry}/finish", data={"csrf": csrf})).status_code == 303
            async for chunk in stream.aiter_text():
                got += chunk
    assert "Done inside and out of the door" in got and "Door locked" in got and "event: state" in got
    assert got.rstrip().endswith("event: end\ndata: end")
    assert "Door unlocked" not in got  # only steps after the page's last one
