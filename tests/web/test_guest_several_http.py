"""The guest form's "Allow several entries during this time": off by default (one entry), on when ticked for
one-time access; the guest list says which."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from pages import client, hidden
from sqlalchemy import select

from threshold.access.models import Grant
from threshold.audit.models import AuditRecord
from threshold.sim.harness import Harness

HOME = 1
BERLIN = ZoneInfo("Europe/Berlin")


async def test_a_household_chooses_one_or_several_entries_for_one_time_access(harness: Harness) -> None:
    h, home = harness, harness.world.homes[HOME]
    day = (h.clock().astimezone(BERLIN) + timedelta(days=1)).date().isoformat()
    async with client(h) as b:
        page = await b.get("/signin")
        r = await b.post("/signin", data={"email": home.member_email, "password": h.world.password,
                                          "pre": hidden(page.text, "pre"), "next": "/portal"})
        assert r.status_code == 303, r.text
        form = await b.get(f"/portal/homes/{home.id}/guests/new")
        assert "Allow several entries during this time" in form.text
        once = {"csrf": hidden(form.text, "csrf"), "entry_point": str(home.front_door), "mode": "once",
                "once_date": day, "once_from": "10:00", "once_to": "12:00"}
        for name, extra in (("Cleaner", {"several": "on"}), ("Plumber", {})):
            r = await b.post(f"/portal/homes/{home.id}/guests/new", data={**once, "name": name, **extra})
            assert r.status_code == 201, r.text
        listing = await b.get(f"/portal/homes/{home.id}/guests")
    async with h.app.state.sessions() as db:
        grants = {g.guest_name: g for g in (await db.execute(select(Grant).where(Grant.kind == "guest"))).scalars()}
        created = (await db.execute(select(AuditRecord).where(AuditRecord.action == "grant.created"))).scalars()
        audited = {r.data["guest"]: r.data["several_entries"] for r in created}
    assert (grants["Cleaner"].single_use, grants["Plumber"].single_use) == (False, True)
    assert audited == {"Cleaner": True, "Plumber": False}
    text = re.sub(r"\s+", " ", listing.text)
    assert "several entries allowed" in text and "one entry" in text
