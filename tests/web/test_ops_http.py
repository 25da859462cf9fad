"""The operator console over HTTP: sign-in required, a household's or a driver's session refused, CSRF refused
with nothing changed, an unsecured door that cannot be closed until it is locked, and every act audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from pages import client, hidden
from sqlalchemy import select, update

from threshold.access.models import Incident
from threshold.audit.models import AuditRecord
from threshold.devices.simulated import Behaviour
from threshold.homes.models import Device
from threshold.notify.models import Notification
from threshold.ops.models import Operator
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import Result, eventually, expect_unsecured


async def sign_in(client: httpx.AsyncClient, prefix: str, email: str, password: str) -> httpx.Response:
    """Fill in and send a surface's sign-in form as a browser would."""
    page = await client.get(f"{prefix}/signin")
    return await client.post(f"{prefix}/signin", data={"email": email, "password": password,
                                                       "pre": hidden(page.text, "pre"), "next": prefix or "/portal"})


@asynccontextmanager
async def operator(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the console."""
    async with client(h) as b:
        r = await sign_in(b, "/ops", h.world.operator_email, h.world.password)
        assert r.status_code == 303 and r.headers["location"] == "/ops", r.text
        yield b


async def operator_id(h: Harness) -> uuid.UUID:
    """The world's operator."""
    async with h.app.state.sessions() as db:
        return (await db.execute(select(Operator.id).where(Operator.email == h.world.operator_email))).scalar_one()


async def leave_unsecured(h: Harness, home_index: int = 0) -> Incident:
    """A delivery whose lock jams on every relock, to an open `unsecured` incident."""
    home = h.world.homes[home_index]
    h.gateway.devices[home.lock].behaviour = Behaviour(jam_on_lock=99)
    run = await deliver(h.partner, await h.driver(), h.world.drivers[0][0], home)
    assert run.outcome == "unsecured", run
    res = Result("ops")
    await expect_unsecured(h, res, home.id)
    assert res.ok, res.failures
    return await incident(h, home.id)


async def incident(h: Harness, home_id: uuid.UUID) -> Incident:
    """The home's only incident, as stored now."""
    async with h.app.state.sessions() as db:
        return (await db.execute(select(Incident).where(Incident.home_id == home_id))).scalar_one()


async def audit_of(h: Harness, home_id: uuid.UUID, action: str) -> list[AuditRecord]:
    """The home's audit records of one action."""
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(AuditRecord).where(AuditRecord.home_id == home_id,
                                                                 AuditRecord.action == action))).scalars())


async def relock(h: Harness, home_index: int = 0) -> None:
    """Someone at the house locks the jammed door by hand, and the lock confirms it."""
    home = h.world.homes[home_index]
    h.gateway.devices[home.lock].behaviour = Behaviour()
    await h.gateway.set_state(home.lock, "locked")

    async def stored() -> bool:
        async with h.app.state.sessions() as db:
            lock = (await db.execute(select(Device).where(Device.address == home.lock))).scalar_one()
            return lock.state == "locked"

    assert await eventually(stored, timeout=5)


async def test_the_console_needs_an_operator_and_refuses_a_households_or_a_drivers_session() -> None:
    async with running(homes=1, drivers=1) as h, client(h) as anonymous:
        inc = await leave_unsecured(h)
        for path in ("/ops", f"/ops/incidents/{inc.id}", "/ops/devices", "/ops/notifications", "/ops/events"):
            r = await anonymous.get(path)
            assert r.status_code == 303 and r.headers["location"] == f"/ops/signin?next={path}", path

        async with client(h) as member, client(h) as driver:
            assert (await sign_in(member, "", h.world.homes[0].member_email, h.world.password)).status_code == 303
            assert (await sign_in(driver, "/driver", h.world.drivers[0][1], h.world.password)).status_code == 303
            for who, cookie in ((member, "thr_session"), (driver, "thr_driver")):
                token = who.cookies.get(cookie)
                assert token
                r = await who.get("/ops")
                assert r.status_code == 303 and r.headers["location"].startswith("/ops/signin")
                # The same token presented as the console's cookie is still not an operator's session.
                who.cookies.set("thr_ops", token, domain="threshold.test")
                r = await who.get("/ops")
                assert r.status_code == 303 and r.headers["location"].startswith("/ops/signin")
                page = await who.get(f"/ops/incidents/{inc.id}")
                assert page.status_code == 303
                for action, data in (("acknowledge", {}), ("close", {"note": "done"})):
                    r = await who.post(f"/ops/incidents/{inc.id}/{action}", data=data)
                    assert r.status_code == 303 and r.headers["location"].startswith("/ops/signin"), action
            # An operator's wrong password is no way in either.
            r = await sign_in(member, "/ops", h.world.operator_email, "not the password")
            assert r.status_code == 401 and "Wrong email or password" in r.text

        after = await incident(h, h.world.homes[0].id)
        assert (after.status, after.acknowledged_at, after.closed_at) == ("open", None, None)
        assert await audit_of(h, after.home_id, "incident.acknowledged") == []
        assert await audit_of(h, after.home_id, "incident.closed") == []


async def test_acknowledge_and_close_without_the_csrf_token_are_refused_and_change_nothing() -> None:
    async with running(homes=1, drivers=1) as h:
        inc = await leave_unsecured(h)
        await relock(h)  # so that only the missing token can be what refuses the close
        async with operator(h) as ops:
            page = await ops.get(f"/ops/incidents/{inc.id}")
            assert page.status_code == 200 and "Door left unsecured at Home 1" in page.text
            for csrf in (None, "x" * 43):
                extra = {"csrf": csrf} if csrf else {}
                r = await ops.post(f"/ops/incidents/{inc.id}/acknowledge", data=extra)
                assert r.status_code == 403
                r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"note": "forged", **extra})
                assert r.status_code == 403
            r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"note": "forged"},
                               headers={"X-CSRF-Token": "y" * 43})
            assert r.status_code == 403
        after = await incident(h, inc.home_id)
        assert (after.status, after.acknowledged_at, after.close_note) == ("open", None, None)
        assert await audit_of(h, inc.home_id, "incident.acknowledged") == []
        assert await audit_of(h, inc.home_id, "incident.closed") == []


async def test_an_operator_acknowledges_then_closes_only_once_the_door_is_locked_and_both_are_audited() -> None:
    async with running(homes=1, drivers=1) as h:
        inc = await leave_unsecured(h)
        me = await operator_id(h)
        async with operator(h) as ops:
            overview = await ops.get("/ops")
            assert overview.status_code == 200
            assert f'href="/ops/incidents/{inc.id}"' in overview.text and "Not acknowledged" in overview.text
            assert re.search(r'id="n-unack">1<', overview.text)
            page = await ops.get(f"/ops/incidents/{inc.id}")
            csrf = hidden(page.text, "csrf")
            r = await ops.post(f"/ops/incidents/{inc.id}/acknowledge", data={"csrf": csrf})
            assert r.status_code == 303
            acked = await incident(h, inc.home_id)
            assert acked.acknowledged_by == f"operator:{me}" and acked.acknowledged_at and acked.status == "open"
            [record] = await audit_of(h, inc.home_id, "incident.acknowledged")
            assert (record.actor, record.subject) == (f"operator:{me}", f"incident:{inc.id}")
            page = await ops.get(r.headers["location"])
            assert "Acknowledged: you are on it." in page.text and "Operator (operator)" in page.text
            # Acknowledging twice keeps the first acknowledgement and its one record.
            assert (await ops.post(f"/ops/incidents/{inc.id}/acknowledge", data={"csrf": csrf})).status_code == 303
            assert len(await audit_of(h, inc.home_id, "incident.acknowledged")) == 1

            r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"csrf": csrf, "note": "   "})
            assert r.status_code == 422 and 'id="e-note"' in r.text and 'aria-invalid="true"' in r.text
            r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"csrf": csrf, "note": "Checked the cameras"})
            assert r.status_code == 409
            error = re.search(r'<p class="error" id="e-note">([^<]*)</p>', r.text)
            assert error and "not confirmed locked" in error.group(1)
            assert "Checked the cameras</textarea>" in r.text  # what was typed is kept for the next try
            still = await incident(h, inc.home_id)
            assert (still.status, still.closed_at, still.close_note) == ("open", None, None)
            assert await audit_of(h, inc.home_id, "incident.closed") == []

            await relock(h)
            r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"csrf": csrf, "note": "Neighbour locked it"})
            assert r.status_code == 303, r.text
            closed = await incident(h, inc.home_id)
            assert (closed.status, closed.close_note, closed.closed_by) == ("closed", "Neighbour locked it",
                                                                             f"operator:{me}")
            [record] = await audit_of(h, inc.home_id, "incident.closed")
            assert (record.actor, record.data) == (f"operator:{me}", {"note": "Neighbour locked it"})
            page = await ops.get(r.headers["location"])
            assert "Closed." in page.text and "Neighbour locked it" in page.text
            assert "Close incident" not in page.text
            r = await ops.post(f"/ops/incidents/{inc.id}/close", data={"csrf": csrf, "note": "again"})
            assert r.status_code == 409 and "closed already" in r.text
            assert len(await audit_of(h, inc.home_id, "incident.closed")) == 1
            assert "No open incidents." in (await ops.get("/ops")).text
            missing = await ops.get(f"/ops/incidents/{uuid.uuid4()}")
            assert missing.status_code == 404 and "No such incident" in missing.text


async def test_device_health_lists_offline_first_and_filters_by_problem() -> None:
    async with running(homes=2, drivers=1) as h:
        home, other = h.world.homes
        await h.gateway.set_available(other.camera, False)
        run = await deliver(h.partner, await h.driver(), h.world.drivers[0][0], home)
        assert run.outcome == "completed"

        async def offline() -> bool:
            async with h.app.state.sessions() as db:
                cam = (await db.execute(select(Device).where(Device.address == other.camera))).scalar_one()
                return not cam.online

        assert await eventually(offline, timeout=5)
        async with h.app.state.sessions() as db:
            # No simulated device reports a weak battery; the row says what a real one would have reported.
            await db.execute(update(Device).where(Device.address == home.contact).values(battery=9))
            await db.commit()
        async with operator(h) as ops:
            assert re.search(r'id="n-offline">1<', (await ops.get("/ops")).text)
            page = await ops.get("/ops/devices")
            assert page.status_code == 200
            rows = re.findall(r"<tr( class=\"ops-problem\")?>\s*<td>(Home \d)", page.text)
            assert rows[0] == (' class="ops-problem"', "Home 2") and rows[1] == (' class="ops-problem"', "Home 1")
            assert "battery 9%" in page.text
            only = await ops.get("/ops/devices", params={"problem": "offline"})
            assert only.text.count("<tr class=\"ops-problem\">") == 1 and "1 device: offline." in only.text
            low = await ops.get("/ops/devices", params={"problem": "low_battery"})
            assert "1 device: low battery." in low.text and "battery 9%" in low.text
            bad = await ops.get("/ops/devices", params={"problem": "on fire"})
            assert bad.status_code == 422 and 'id="e-problem"' in bad.text
            # A day later, devices that reported during the delivery have been silent too long.
            h.clock.offset += timedelta(hours=25)
            stale = await ops.get("/ops/devices", params={"problem": "stale"})
            assert "(not seen for a while)" in stale.text and "Home 1" in stale.text


async def test_dead_letters_are_listed_with_their_error_and_replayed_only_with_the_csrf_token() -> None:
    async with running(homes=1, drivers=1) as h:
        # The mail server refuses the neighbourhood's addresses for good: every message is dead-lettered.
        h.mail.refuse_domains = frozenset({"demo.threshold.invalid"})
        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(), h.world.drivers[0][0], home)
        assert run.outcome == "completed"

        async def dead() -> list[Notification]:
            async with h.app.state.sessions() as db:
                return list((await db.execute(select(Notification).where(Notification.status == "dead"))).scalars())

        assert await eventually(dead, timeout=10)
        letter = (await dead())[0]
        async with operator(h) as ops:
            page = await ops.get("/ops/notifications")
            assert page.status_code == 200 and "550" in page.text and letter.recipient in page.text
            r = await ops.post(f"/ops/notifications/{letter.id}/replay")
            assert r.status_code == 403
            assert letter.id in {n.id for n in await dead()}
            h.mail.refuse_domains = frozenset()
            r = await ops.post(f"/ops/notifications/{letter.id}/replay", data={"csrf": hidden(page.text, "csrf")})
            assert r.status_code == 303 and r.headers["location"] == "/ops/notifications?done=replayed"
            assert letter.id not in {n.id for n in await dead()}
            [record] = await audit_of(h, home.id, "notification.replayed")
            assert record.actor == f"operator:{await operator_id(h)}"
            again = await ops.post(f"/ops/notifications/{letter.id}/replay", data={"csrf": hidden(page.text, "csrf")})
            assert again.status_code == 404 and "No such dead letter" in again.text
            # An operator who is deactivated is out of the console at once, whatever their cookie says.
            async with h.app.state.sessions() as db:
                await db.execute(update(Operator).where(Operator.email == h.world.operator_email).values(active=False))
                await db.commit()
            r = await ops.get("/ops")
            assert r.status_code == 303 and r.headers["location"].startswith("/ops/signin")
