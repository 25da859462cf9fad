"""The keypad page over HTTP: CSRF on every change, another household's home or code is a 404 that changes
nothing, server validation with errors next to the fields and nothing half-saved, the PIN shown once (in the
answer that added it) and stored sealed, and the states fragment the page polls."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from pages import client, hidden
from sqlalchemy import func, select

from threshold.access import keypad
from threshold.access.models import KeypadCode
from threshold.audit.models import AuditRecord
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually


@asynccontextmanager
async def signed_in(h: Harness, home_index: int = 0) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as the member of a home's household."""
    async with client(h) as b:
        page = await b.get("/signin")
        r = await b.post("/signin", data={"email": h.world.homes[home_index].member_email,
                                          "password": h.world.password, "pre": hidden(page.text, "pre"),
                                          "next": "/portal"})
        assert r.status_code == 303
        yield b


async def guest(h: Harness, home_index: int = 0, name: str = "Ann Sitter", garage: bool = False) -> str:
    """A guest grant open for the next three hours at the home's front door (or garage); its id."""
    home, now = h.world.homes[home_index], h.clock()
    door = home.garage if garage else home.front_door
    r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(home_index), json={
        "guest_name": name, "entry_point_id": str(door), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat()})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def codes(h: Harness) -> list[KeypadCode]:
    """Every stored code."""
    async with h.app.state.sessions() as db:
        return list((await db.execute(select(KeypadCode).order_by(KeypadCode.created_at))).scalars())


def pin_in(h: Harness, code: KeypadCode) -> str:
    """A stored code's PIN, opened as the sync opens it for the lock."""
    box = h.app.state.keypad.box
    return str(box.open(code.pin_sealed, keypad.row_of(code)))


def shown_pin(page: str) -> str:
    """The new PIN in the page that answers the form."""
    found = re.search(r'id="new-pin">(\d+)<', page)
    assert found, "no new PIN in the page"
    return found.group(1)


async def audits(h: Harness, action: str) -> int:
    """How many audit records of this action exist, over every home."""
    async with h.app.state.sessions() as db:
        q = select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
        return int((await db.execute(q)).scalar_one())


async def test_adding_and_removing_need_the_csrf_token() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        grant = await guest(h)
        async with signed_in(h) as b:
            page = await b.get(f"/portal/homes/{home.id}/keypad")
            assert page.status_code == 200 and "Ann Sitter" in page.text
            url = f"/portal/homes/{home.id}/keypad"
            assert (await b.post(url, data={"grant": grant})).status_code == 403
            assert (await b.post(url, data={"grant": grant, "csrf": "x" * 43})).status_code == 403
            assert await codes(h) == []
            csrf = hidden(page.text, "csrf")
            r = await b.post(url, data={"grant": grant, "pin": "", "csrf": csrf})
            assert r.status_code == 201 and "Code added" in r.text
            [code] = await codes(h)
            pin = shown_pin(r.text)
            assert len(pin) == 6 and pin_in(h, code) == pin and code.desired == "present"
            remove = f"{url}/codes/{code.id}/remove"
            assert (await b.post(remove, data={})).status_code == 403
            assert (await b.post(remove, data={"csrf": "forged"})).status_code == 403
            assert [c.desired for c in await codes(h)] == ["present"]
            r = await b.post(remove, data={"csrf": csrf})
            assert r.status_code == 303
            assert [c.desired for c in await codes(h)] == ["removed"]
            assert await audits(h, "keypad.removed") == 1


async def test_another_households_home_or_code_is_not_found_and_nothing_changes() -> None:
    async with running(homes=2) as h:
        mine, theirs = h.world.homes[0], h.world.homes[1]
        their_grant = await guest(h, 1, "Their Guest")
        await guest(h, 0, "My Guest")
        async with signed_in(h, 1) as them:
            page = await them.get(f"/portal/homes/{theirs.id}/keypad")
            r = await them.post(f"/portal/homes/{theirs.id}/keypad",
                                data={"grant": their_grant, "pin": "2749", "csrf": hidden(page.text, "csrf")})
            assert r.status_code == 201
        [their_code] = await codes(h)
        async with signed_in(h, 0) as b:
            page = await b.get(f"/portal/homes/{mine.id}/keypad")
            csrf = hidden(page.text, "csrf")
            assert "Their Guest" not in page.text
            for path in (f"/portal/homes/{theirs.id}/keypad", f"/portal/homes/{theirs.id}/keypad/states"):
                r = await b.get(path)
                assert r.status_code == 404, path
                assert "2749" not in r.text
            for path in (f"/portal/homes/{theirs.id}/keypad/codes/{their_code.id}/remove",
                         f"/portal/homes/{mine.id}/keypad/codes/{their_code.id}/remove"):
                assert (await b.post(path, data={"csrf": csrf})).status_code == 404, path
            r = await b.post(f"/portal/homes/{theirs.id}/keypad", data={"grant": their_grant, "csrf": csrf})
            assert r.status_code == 404
            # Their grant's id on my own home's form is just not one of my guests.
            r = await b.post(f"/portal/homes/{mine.id}/keypad", data={"grant": their_grant, "csrf": csrf})
            assert r.status_code == 422 and 'id="e-grant"' in r.text
        assert [(c.id, c.desired) for c in await codes(h)] == [(their_code.id, "present")]
        assert await audits(h, "keypad.removed") == 0


async def test_the_form_is_validated_on_the_server_and_saves_nothing_on_error() -> None:
    async with running(homes=2) as h:
        home = h.world.homes[1]  # this home has a garage: a door with no lock and no keypad
        grant, at_garage = await guest(h, 1), await guest(h, 1, "Garage Guest", garage=True)
        async with signed_in(h, 1) as b:
            page = await b.get(f"/portal/homes/{home.id}/keypad?grant={at_garage}")
            assert re.search(rf'value="{at_garage}"\s+selected', page.text)  # ?grant= picks the guest
            csrf, url = hidden(page.text, "csrf"), f"/portal/homes/{home.id}/keypad"
            before = await audits(h, "keypad.created")
            for pin, why in (("1234", "too easy to guess"), ("000000", "too easy to guess"),
                             ("12a45", "digits only"), ("123", "4 to 8 digits"), ("123456789", "4 to 8 digits")):
                r = await b.post(url, data={"grant": grant, "pin": pin, "csrf": csrf})
                assert r.status_code == 422, pin
                assert why in r.text.lower() and 'id="e-pin"' in r.text and 'aria-invalid="true"' in r.text
                assert pin not in re.findall(r'name="pin"[^>]*value="([^"]*)"', r.text)
            r = await b.post(url, data={"grant": at_garage, "pin": "2749", "csrf": csrf})
            assert r.status_code == 422 and "no lock with a keypad" in r.text and 'id="e-grant"' in r.text
            r = await b.post(url, data={"grant": "not-a-grant", "pin": "2749", "csrf": csrf})
            assert r.status_code == 422 and 'id="e-grant"' in r.text
            assert await codes(h) == [] and await audits(h, "keypad.created") == before

            assert (await b.post(url, data={"grant": grant, "pin": "2749", "csrf": csrf})).status_code == 201
            r = await b.post(url, data={"grant": grant, "pin": "8316", "csrf": csrf})
            assert r.status_code == 422 and "already has a code" in r.text
            other = await guest(h, 1, "Bo Walker")
            r = await b.post(url, data={"grant": other, "pin": "2749", "csrf": csrf})
            assert r.status_code == 422 and "Another guest has this PIN" in r.text
            assert [pin_in(h, c) for c in await codes(h)] == ["2749"]


async def test_the_pin_is_shown_once_in_the_answer_that_added_it_and_never_again() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        grant = await guest(h)
        async with signed_in(h) as b:
            page = await b.get(f"/portal/homes/{home.id}/keypad")
            url = f"/portal/homes/{home.id}/keypad"
            added = await b.post(url, data={"grant": grant, "pin": "508316", "csrf": hidden(page.text, "csrf")})
            assert added.status_code == 201 and shown_pin(added.text) == "508316"
            assert "shown only once" in added.text and "no-store" in added.headers["cache-control"]
            [code] = await codes(h)
            assert code.pin_sealed.startswith("v1:") and pin_in(h, code) == "508316"
            page = await b.get(url)
            assert "508316" not in page.text and 'id="new-pin"' not in page.text
            assert f'id="state-{code.id}"' in page.text and 'hx-trigger="every 2s"' in page.text
            # The old way to look again is gone.
            assert (await b.get(f"{url}/codes/{code.id}/pin?show=1")).status_code == 404

            async def on_lock() -> bool:
                states = await b.get(f"{url}/states")
                swapped = f'id="state-{code.id}" hx-swap-oob="innerHTML"' in states.text
                return swapped and ">On the lock</span>" in states.text

            assert await eventually(on_lock, timeout=15)
            assert "508316" not in (await b.get(f"{url}/states")).text
            assert h.gateway.devices[home.lock].codes[code.slot] == "508316"


async def test_a_signed_out_browser_is_sent_to_sign_in() -> None:
    async with running(homes=1) as h, client(h) as b:
        r = await b.get(f"/portal/homes/{h.world.homes[0].id}/keypad")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        r = await b.post(f"/portal/homes/{h.world.homes[0].id}/keypad/codes/{uuid.uuid4()}/remove", data={})
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_a_full_lock_refuses_a_new_code_until_one_is_removed_and_reuses_its_slot() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        await h.gateway.set_available(home.lock, False)  # nothing reaches the lock: every code stays pending
        async with signed_in(h) as b:
            url = f"/portal/homes/{home.id}/keypad"
            csrf = hidden((await b.get(url)).text, "csrf")
            for i in range(29):
                r = await b.post(url, data={"grant": await guest(h, name=f"Guest {i}"), "csrf": csrf})
                assert r.status_code == 201, r.text
            last = await guest(h, name="One Too Many")
            r = await b.post(url, data={"grant": last, "csrf": csrf})
            assert r.status_code == 422 and "Every keypad slot on this lock is in use" in r.text
            stored = await codes(h)
            assert len(stored) == 29 and len({c.slot for c in stored}) == 29
            assert len({pin_in(h, c) for c in stored}) == 29
            oldest = stored[0]
            assert (await b.post(f"{url}/codes/{oldest.id}/remove", data={"csrf": csrf})).status_code == 303
            assert (await b.post(url, data={"grant": last, "csrf": csrf})).status_code == 201
            after = await codes(h)
            assert len(after) == 29 and oldest.id not in {c.id for c in after}
            assert next(c for c in after if c.grant_id == uuid.UUID(last)).slot == oldest.slot
