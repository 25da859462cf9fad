"""Guest access over HTTP: the household's form (CSRF, errors next to fields, nothing half-saved), one household
never reading or revoking another's guest, and the guest's link opening the door only inside the schedule."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pages import client, hidden
from sqlalchemy import func, select

from threshold.access.models import EntrySession, Grant
from threshold.audit.models import AuditRecord
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually
from threshold.web.schedule_form import DAYS

BERLIN = ZoneInfo("Europe/Berlin")
HOME = 1  # a home without an alarm, with a front door and a garage
DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@asynccontextmanager
async def signed_in(h: Harness, home_index: int = HOME) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as a member of the home's household."""
    async with client(h) as b:
        page = await b.get("/signin")
        r = await b.post("/signin", data={"email": h.world.homes[home_index].member_email,
                                          "password": h.world.password, "pre": hidden(page.text, "pre"),
                                          "next": "/portal"})
        assert r.status_code == 303, r.text
        yield b


async def rows(h: Harness, model: type, **where: Any) -> list[Any]:
    """Rows of a table matching `where`."""
    async with h.app.state.sessions() as db:
        q = select(model).filter_by(**where)
        return list((await db.execute(q)).scalars())


async def actions(h: Harness, home_index: int = HOME) -> list[str]:
    """The home's audit actions, in order."""
    found = await rows(h, AuditRecord, home_id=h.world.homes[home_index].id)
    return [r.action for r in sorted(found, key=lambda r: r.seq)]


def tomorrow(h: Harness) -> date:
    """Tomorrow in the homes' time zone."""
    return (h.clock().astimezone(BERLIN) + timedelta(days=1)).date()


def repeating(h: Harness, csrf: str, home_index: int = HOME, **changes: Any) -> dict[str, Any]:
    """A valid repeating guest form: tomorrow's weekday, 10:00-11:00, for two weeks."""
    today = h.clock().astimezone(BERLIN).date()
    door = str(h.world.homes[home_index].front_door)
    form: dict[str, Any] = {"csrf": csrf, "name": "Pet sitter", "entry_point": door,
                            "mode": "repeat", "days": [DAYS[tomorrow(h).weekday()]], "repeat_from": "10:00",
                            "repeat_to": "11:00", "starting": today.isoformat(),
                            "until": (today + timedelta(days=14)).isoformat()}
    form.update(changes)
    return form


async def create_guest(h: Harness, b: httpx.AsyncClient, home_index: int = HOME, **changes: Any) -> str:
    """Give a guest access through the form; returns the token from the link shown once."""
    home = h.world.homes[home_index]
    page = await b.get(f"/portal/homes/{home.id}/guests/new")
    assert page.status_code == 200
    r = await b.post(f"/portal/homes/{home.id}/guests/new", data=repeating(h, hidden(page.text, "csrf"),
                                                                           home_index, **changes))
    assert r.status_code == 201, r.text
    assert "shown only once" in r.text and r.headers["cache-control"] == "no-store"
    link = re.search(r'value="(http[^"]+/g/([^"]+))"', r.text)
    assert link, "no personal link on the page"
    assert link.group(1).startswith(h.settings.public_url)
    return link.group(2)


def inside_next_visit(h: Harness) -> None:
    """Move the clock to five minutes into tomorrow's 10:00 visit."""
    visit = datetime.combine(tomorrow(h), datetime.min.time().replace(hour=10, minute=5), BERLIN)
    h.clock.offset += visit - h.clock()


async def test_a_forged_guest_form_is_refused_and_creates_no_grant(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        page = await b.get(f"/portal/homes/{home.id}/guests/new")
        good = repeating(h, hidden(page.text, "csrf"))
        for csrf in ("", "x" * 43):
            r = await b.post(f"/portal/homes/{home.id}/guests/new", data={**good, "csrf": csrf})
            assert r.status_code == 403
            r = await b.post(f"/portal/homes/{home.id}/guests/preview", data={**good, "csrf": csrf})
            assert r.status_code == 403
        assert await rows(h, Grant, kind="guest") == []
        assert "grant.created" not in await actions(h)
        # The preview, with the token as htmx sends it, shows the visits and saves nothing.
        r = await b.post(f"/portal/homes/{home.id}/guests/preview", data={**good, "csrf": ""},
                         headers={"X-CSRF-Token": good["csrf"]})
        assert r.status_code == 200 and "10:00-11:00" in r.text and "<caption>" in r.text
        assert await rows(h, Grant, kind="guest") == []


async def test_every_wrong_field_is_shown_next_to_it_and_nothing_is_saved(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        page = await b.get(f"/portal/homes/{home.id}/guests/new")
        csrf = hidden(page.text, "csrf")
        today = h.clock().astimezone(BERLIN).date()
        bad = repeating(h, csrf, name=" ", entry_point=str(h.world.homes[0].front_door), days=[],
                        repeat_from="10:00", repeat_to="09:30", starting=today.isoformat(),
                        until=(today - timedelta(days=1)).isoformat())
        r = await b.post(f"/portal/homes/{home.id}/guests/new", data=bad)
        assert r.status_code == 422
        for field in ("name", "entry_point", "days", "repeat_to", "until"):
            assert f'id="e-{field}"' in r.text, field
            assert f'aria-describedby="e-{field}"' in r.text, field
        assert "Choose at least one weekday." in r.text and "The end must be after the start." in r.text
        assert "The until date must be after the starting date." in r.text
        assert 'value="10:00"' in r.text and 'value="09:30"' in r.text  # the form comes back as sent

        r = await b.post(f"/portal/homes/{home.id}/guests/new", data=repeating(
            h, csrf, repeat_from="ten", starting=(today - timedelta(days=3)).isoformat(), until="soon"))
        assert r.status_code == 422
        assert "such as 10:00" in r.text and "cannot be in the past" in r.text and 'id="e-until"' in r.text

        r = await b.post(f"/portal/homes/{home.id}/guests/new", data={
            "csrf": csrf, "name": "Cleaner", "entry_point": str(home.front_door), "mode": "once",
            "once_date": (today - timedelta(days=1)).isoformat(), "once_from": "10:00", "once_to": "12:00"})
        assert r.status_code == 422 and 'id="e-once_date"' in r.text and "today or a later date" in r.text
        assert 'value="once" checked' in r.text

        assert await rows(h, Grant, kind="guest") == []
        assert "grant.created" not in await actions(h)

        await create_guest(h, b, name="Cleaner")
        grants = await rows(h, Grant, kind="guest")
        assert [(g.guest_name, g.duration_minutes, g.single_use) for g in grants] == [("Cleaner", 60, False)]
        assert grants[0].rrule == f"FREQ=WEEKLY;BYDAY={DAYS[tomorrow(h).weekday()]};BYHOUR=10;BYMINUTE=0;BYSECOND=0"
        assert (await actions(h)).count("grant.created") == 1
        listed = await b.get(f"/portal/homes/{home.id}/guests")
        assert "Cleaner" in listed.text and "10:00-11:00" in listed.text and "Active" in listed.text
        assert f"/portal/homes/{home.id}/keypad?grant={grants[0].id}" in listed.text

        day = tomorrow(h)
        await create_guest(h, b, name="Plumber", mode="once", once_date=day.isoformat(), once_from="08:00",
                           once_to="09:30")
        once = next(g for g in await rows(h, Grant, kind="guest") if g.guest_name == "Plumber")
        assert (once.rrule, once.single_use) == (None, True)
        assert once.starts_at == datetime.combine(day, datetime.min.time().replace(hour=8), BERLIN)
        assert f"Once: {DAY_ABBR[day.weekday()]} {day.day} " in (await b.get(f"/portal/homes/{home.id}/guests")).text


async def test_another_households_guests_are_404_and_revoking_them_changes_nothing(database_url: str) -> None:
    async with running(database_url, homes=2) as h:
        async with signed_in(h, 0) as theirs:
            await create_guest(h, theirs, 0, name="Their sitter")
        grant = (await rows(h, Grant, kind="guest"))[0]
        other = h.world.homes[0].id
        async with signed_in(h, HOME) as b:
            mine = h.world.homes[HOME].id
            csrf = hidden((await b.get(f"/portal/homes/{mine}/guests")).text, "csrf")
            for path in (f"/portal/homes/{other}/guests", f"/portal/homes/{other}/guests/new"):
                assert (await b.get(path)).status_code == 404, path
            for path in (f"/portal/homes/{other}/guests/{grant.id}/revoke",
                         f"/portal/homes/{mine}/guests/{grant.id}/revoke",
                         f"/portal/homes/{mine}/guests/{uuid.uuid4()}/revoke"):
                r = await b.post(path, data={"csrf": csrf})
                assert r.status_code == 404, path
            r = await b.post(f"/portal/homes/{other}/guests/new", data=repeating(h, csrf, 0))
            assert r.status_code == 404
            assert "Their sitter" not in (await b.get(f"/portal/homes/{mine}/guests")).text
        assert [(g.guest_name, g.revoked_at) for g in await rows(h, Grant, kind="guest")] == [("Their sitter", None)]
        assert "grant.revoked" not in await actions(h, 0)


async def test_a_guest_outside_the_schedule_is_refused_with_the_next_visit_then_let_in_on_time(
        database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        token = await create_guest(h, b)
        guest = client(h)
        page = await guest.get(f"/g/{token}")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        visit = tomorrow(h)
        day = DAY_ABBR[visit.weekday()]
        assert "Home 2" in page.text and "Pet sitter" in page.text
        assert f"Next: {day} {visit.day} " in page.text and "Open the door" not in page.text
        # A try anyway is judged by the access service: refused, in words, audited; the lock is never told.
        assert 'name="pre"' not in page.text
        r = await guest.post(f"/g/{token}/open", data={"pre": guest.cookies["thr_guest"]})
        assert r.status_code == 403 and "Your access is" in r.text and f"Next: {day} {visit.day} " in r.text
        refused = [r for r in await rows(h, AuditRecord, home_id=home.id) if r.action == "entry.refused"]
        assert [r.data["codes"] for r in refused] == [["outside_window"]]
        assert await rows(h, EntrySession, home_id=home.id) == [] and h.commands_to(home.lock, "unlock") == 0

        inside_next_visit(h)
        page = await guest.get(f"/g/{token}")
        assert "Open the door" in page.text
        r = await guest.post(f"/g/{token}/open", data={"pre": hidden(page.text, "pre")})
        assert r.status_code == 303, r.text
        sessions = await rows(h, EntrySession, home_id=home.id)
        assert [(s.actor_kind, s.state) for s in sessions] == [("guest", "open")]
        assert r.headers["location"] == f"/g/{token}/entries/{sessions[0].id}"
        assert h.gateway.state(home.lock) == "unlocked"
        entry = await guest.get(r.headers["location"])
        assert "every check passed" in entry.text and "Door unlocked" in entry.text and "lock up" in entry.text
        r = await guest.post(f"/g/{token}/entries/{sessions[0].id}/finish", data={"pre": hidden(entry.text, "pre")})
        assert r.status_code == 303

        async def locked() -> bool:
            return h.gateway.state(home.lock) == "locked" and not (await rows(h, EntrySession, home_id=home.id))[0].live

        assert await eventually(locked)
        await guest.aclose()


async def test_guest_posts_need_the_page_token_and_a_same_site_request(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        token = await create_guest(h, b)
        inside_next_visit(h)
        async with client(h) as guest:
            page = await guest.get(f"/g/{token}")
            pre = hidden(page.text, "pre")
            assert (await guest.post(f"/g/{token}/open", data={"pre": "forged"})).status_code == 403
            r = await guest.post(f"/g/{token}/open", data={"pre": pre}, headers={"sec-fetch-site": "cross-site"})
            assert r.status_code == 403
            r = await guest.post(f"/g/{token}/open", data={"pre": pre}, headers={"origin": "https://evil.example"})
            assert r.status_code == 403
        async with client(h) as stranger:  # the right token, but not the cookie that goes with it
            assert (await stranger.post(f"/g/{token}/open", data={"pre": pre})).status_code == 403
        assert await rows(h, EntrySession, home_id=home.id) == []
        # Never judged by the rules (no entry.refused), but each forged try is on the home's record.
        assert "entry.refused" not in await actions(h) and h.commands_to(home.lock, "unlock") == 0
        assert (await actions(h)).count("access.refused") == 4


async def test_a_revoked_or_unknown_link_is_a_plain_page_and_opens_nothing(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        token = await create_guest(h, b)
        inside_next_visit(h)
        grant = (await rows(h, Grant, kind="guest"))[0]
        async with client(h) as guest:
            pre = hidden((await guest.get(f"/g/{token}")).text, "pre")
            csrf = hidden((await b.get(f"/portal/homes/{home.id}/guests")).text, "csrf")
            r = await b.post(f"/portal/homes/{home.id}/guests/{grant.id}/revoke", data={"csrf": csrf})
            assert r.status_code == 303
            assert (await rows(h, Grant, kind="guest"))[0].revoked_at is not None
            assert "grant.revoked" in await actions(h)
            assert "Revoked" in (await b.get(r.headers["location"])).text
            for r in (await guest.get(f"/g/{token}"), await guest.post(f"/g/{token}/open", data={"pre": pre})):
                assert r.status_code == 410 and "Home 2" not in r.text and "Pet sitter" not in r.text
                assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
            r = await guest.get(f"/g/{'x' * 43}")
            assert r.status_code == 404 and "does not work" in r.text and r.headers["cache-control"] == "no-store"
        assert await rows(h, EntrySession, home_id=home.id) == [] and h.commands_to(home.lock, "unlock") == 0


async def test_a_guest_cannot_see_another_grants_entry_with_their_own_link(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        first = await create_guest(h, b, name="First")
        second = await create_guest(h, b, name="Second", entry_point=str(home.garage))
        inside_next_visit(h)
        async with client(h) as guest:
            page = await guest.get(f"/g/{first}")
            r = await guest.post(f"/g/{first}/open", data={"pre": hidden(page.text, "pre")})
            assert r.status_code == 303
            entry = r.headers["location"].rsplit("/", 1)[1]
            for path in (f"/g/{second}/entries/{entry}", f"/g/{second}/entries/{entry}/steps"):
                assert (await guest.get(path)).status_code == 404, path
            r = await guest.post(f"/g/{second}/entries/{entry}/finish", data={"pre": hidden(page.text, "pre")})
            assert r.status_code == 404
        async with h.app.state.sessions() as db:
            live = (await db.execute(select(func.count()).select_from(EntrySession).where(
                EntrySession.live.is_(True)))).scalar_one()
        assert live == 1


async def test_revoking_a_guest_who_is_inside_locks_the_door_at_once(database_url: str) -> None:
    async with running(database_url, homes=2) as h, signed_in(h) as b:
        home = h.world.homes[HOME]
        token = await create_guest(h, b)
        inside_next_visit(h)
        async with client(h) as guest:
            page = await guest.get(f"/g/{token}")
            assert (await guest.post(f"/g/{token}/open", data={"pre": hidden(page.text, "pre")})).status_code == 303
        assert h.gateway.state(home.lock) == "unlocked"
        grant = (await rows(h, Grant, kind="guest"))[0]
        csrf = hidden((await b.get(f"/portal/homes/{home.id}/guests")).text, "csrf")
        r = await b.post(f"/portal/homes/{home.id}/guests/{grant.id}/revoke", data={"csrf": csrf})
        assert r.status_code == 303

        async def secured() -> bool:
            sessions = await rows(h, EntrySession, home_id=home.id)
            return h.gateway.state(home.lock) == "locked" and not sessions[0].live

        assert await eventually(secured)
        assert (await rows(h, EntrySession, home_id=home.id))[0].reason == "grant_revoked"
