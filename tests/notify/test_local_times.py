"""Times in messages are the household's: its zone and that zone's abbreviation, in email and SMS alike; the
delivered message says who delivered, for which partner, how many packages, and when."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from threshold.access.models import EntrySession
from threshold.deliveries.models import Driver, Partner
from threshold.notify.ports import Note
from threshold.notify.templates import render
from threshold.sim.driver import deliver
from threshold.sim.harness import running
from threshold.times import clock


def note(moment: str, **data: Any) -> Note:
    """A note for one moment with the given data."""
    return Note(key="evt-1:email:ana@example.test", channel="email", recipient="ana@example.test",
                moment=moment, topic="delivery.completed", data=data)


def test_delivered_says_who_for_which_partner_how_many_and_when_in_the_homes_zone() -> None:
    rendered = render(note("delivered", home_label="Maple St 4", driver_name="Ana", partner="Parcelco", packages=2,
                           entry_point="Front door", finished_at="2026-12-07T19:02:00+00:00",
                           timezone="America/New_York", clip_url="https://threshold.example/c/1?s=2"))
    assert "Ana from Parcelco delivered 2 packages inside Maple St 4 through the Front door" in rendered.text
    assert "locked again on Mon 7 Dec, 14:02 EST" in rendered.text
    assert "Ana from Parcelco delivered 2 packages inside Maple St 4, locked again at 14:02 EST." in rendered.sms
    assert "19:02" not in rendered.text + rendered.sms


def test_the_same_moment_in_summer_names_summer_time() -> None:
    rendered = render(note("driver_on_way", driver_name="Ana", eta="2026-07-01T12:30:00Z", timezone="Europe/Berlin"))
    assert "arriving around 14:30 CEST" in rendered.text and "14:30 CEST" in rendered.sms


def test_a_window_names_its_zone_once() -> None:
    rendered = render(note("window_today", in_home=True, timezone="America/New_York",
                           window_start="2026-12-07T15:00:00Z", window_end="2026-12-07T17:00:00Z"))
    assert rendered.subject == "In-home delivery today, 10:00\N{EN DASH}12:00 EST"


async def test_the_delivered_email_and_sms_of_a_real_entry_say_who_and_when_in_local_time() -> None:
    async with running(homes=1) as h:
        headers = await h.member_headers(0)
        r = await h.client.put("/v1/household/notifications", headers=headers,
                               json={"channels": {"delivered": ["email", "sms"]}})
        assert r.status_code == 200
        driver_id = h.world.drivers[0][0]
        async with h.app.state.sessions() as db:
            await db.execute(update(Driver).where(Driver.id == driver_id).values(name="Ana Lima"))
            await db.commit()
        home = h.world.homes[0]  # the simulated neighbourhood is in Europe/Berlin
        run = await deliver(h.partner, await h.driver(0), driver_id, home, dwell=0.1)
        assert run.outcome == "completed"
        email = await h.mail.wait_for(lambda m: m.moment == "delivered" and not m.is_sms, timeout=15)
        sms = await h.mail.wait_for(lambda m: m.is_sms and "delivered" in (m.text or ""), timeout=15)
        async with h.app.state.sessions() as db:
            entry = await db.get(EntrySession, uuid.UUID(str(run.session_id)))
            partner = await db.get(Partner, h.world.partner_id)
            assert entry is not None and entry.ended_at is not None and partner is not None
        local = clock(entry.ended_at, "Europe/Berlin")
        assert local.endswith((" CET", " CEST"))
        for text in (email.text or "", sms.text or ""):
            assert "Ana from " + partner.name in text and "1 package" in text, text
            assert local in text, text
        assert "Lima" not in (email.text or "") + (sms.text or "")  # the first name is enough
