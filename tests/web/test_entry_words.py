"""The household's entry page in plain words: who came in by which door and when, in the home's own zone; each
step worded; a door left unlocked follows its incident; the code's words one click away."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from pages import client
from sqlalchemy import select, update
from test_portal_http import sign_in

from threshold.access.models import EntrySession, Incident
from threshold.audit.models import AuditRecord
from threshold.deliveries.models import Driver, Partner
from threshold.homes.models import Home
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running
from threshold.times import clock
from threshold.web import story

AT = datetime(2026, 12, 7, 13, 1, 30, tzinfo=UTC)
NEW_YORK = "America/New_York"


def facts(**values: object) -> story.Facts:
    """An entry's facts, a driver's delivery by default."""
    base: dict[str, object] = dict(state="done", reason=None, actor_kind="driver", tz="Europe/Berlin", who="Ana",
                                   partner="Parcelco", entry_point="Front door", packages=1, asked_at=AT,
                                   opened_at=AT, locked_at=AT + timedelta(minutes=1))
    return story.Facts(**{**base, **values})  # type: ignore[arg-type]


def test_a_delivery_reads_as_who_from_whom_by_which_door_how_many_and_when() -> None:
    assert story.sentence(facts()) == ("Driver Ana from Parcelco opened the front door at 14:01 CET, left 1 package, "
                                       "and locked it at 14:02 CET.")
    assert "left 2 packages" in story.sentence(facts(packages=2))
    assert story.sentence(facts(who="Driver")).startswith("Driver from Parcelco opened")
    waiting = story.sentence(facts(state="awaiting_approval", opened_at=None, locked_at=None))
    assert waiting == ("Driver Ana from Parcelco is at the front door and asked to come in at 14:01 CET; "
                       "the door stays locked until you answer.")


def test_a_guest_reads_as_their_name_the_door_and_when_they_left() -> None:
    said = story.sentence(facts(actor_kind="guest", who="Sam (pet sitter)", entry_point="Back door",
                                left_at=AT + timedelta(minutes=20), locked_at=AT + timedelta(minutes=20)))
    assert said == ("Sam (pet sitter) came in by the back door at 14:01 CET and left at 14:21 CET; "
                    "the door was locked again at 14:21 CET.")


def test_an_entry_that_never_opened_says_why_in_words() -> None:
    said = story.sentence(facts(state="aborted", reason="approval_timeout", opened_at=None, locked_at=None))
    assert said == ("Driver Ana from Parcelco asked to come in by the front door at 14:01 CET, but the door stayed "
                    "locked, because nobody answered the request to come in.")
    stopped = story.sentence(facts(state="aborted", reason="driver_lingered"))
    assert "the entry was stopped because the visit took longer than allowed" in stopped
    assert story.badge(facts(state="aborted", reason="driver_lingered")) == "Stopped: door locked again"


def test_a_door_left_unlocked_follows_its_incident() -> None:
    assert story.badge(facts(state="unsecured")) == "Door left unlocked \N{EM DASH} an operator has been told"
    resolved = facts(state="unsecured", resolved_at=AT + timedelta(minutes=3))
    assert story.badge(resolved) == "Door left unlocked \N{EM DASH} locked again at 14:04 CET"
    assert "locked again at 14:04 CET" in story.sentence(resolved)
    closed = facts(state="unsecured", closed_at=AT + timedelta(minutes=9))
    assert story.badge(closed) == "Door left unlocked \N{EM DASH} an operator closed it at 14:10 CET"


def test_every_step_has_words_and_an_unknown_one_is_spelled_out() -> None:
    assert story.step_words("lock.unlocked") == "Door unlocked"
    assert story.step_words("session.aborted", {"reason": "lock_jammed"}) == "Stopped: the lock jammed"
    assert story.step_words("door.reopened_twice") == "Door reopened twice"
    for action in story.STEP_WORDS:
        assert "_" not in story.step_words(action) and "." not in story.step_words(action).rstrip(".")


async def a_delivery_in_new_york(h: Harness) -> tuple[uuid.UUID, str, str]:
    """A delivery by driver Ana Lima to the first home, moved to New York; its session id and partner's name."""
    home = h.world.homes[0]
    async with h.app.state.sessions() as db:
        await db.execute(update(Home).where(Home.id == home.id).values(timezone=NEW_YORK))
        await db.execute(update(Driver).where(Driver.id == h.world.drivers[0][0]).values(name="Ana Lima"))
        partner = await db.get(Partner, h.world.partner_id)
        assert partner is not None
        name = partner.name
        await db.commit()
    run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
    assert run.outcome == "completed" and run.session_id
    return home.id, str(run.session_id), name


async def step_at(h: Harness, session_id: str, action: str) -> datetime:
    """When the entry's step happened."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord.at).where(AuditRecord.subject == f"session:{session_id}", AuditRecord.action == action)
        return (await db.execute(q.order_by(AuditRecord.seq))).scalars().first()  # type: ignore[no-any-return]


async def test_the_entry_page_says_what_happened_in_the_homes_local_time() -> None:
    async with running(homes=1) as h, client(h) as b:
        home_id, session_id, partner = await a_delivery_in_new_york(h)
        opened = clock(await step_at(h, session_id, "lock.unlocked"), NEW_YORK)
        locked = clock(await step_at(h, session_id, "lock.locked"), NEW_YORK)
        assert re.fullmatch(r"\d\d:\d\d E[SD]T", opened)
        home = h.world.homes[0]
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = (await b.get(f"/portal/homes/{home_id}/sessions/{session_id}")).text
        assert (f"Driver Ana from {partner} opened the front door at {opened}, left 1 package, "
                f"and locked it at {locked}.") in page
        assert "Done: door locked" in page and "Times in E" in page
        visible, technical = page.split('<details class="technical">', 1)
        assert "SHA-256" not in visible and "session.done" not in visible and "Lima" not in visible
        assert "session.done" in technical and "Audit records of this entry (UTC)" in technical
        listing = (await b.get(f"/portal/homes/{home_id}")).text
        assert re.search(r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d\d:\d\d E[SD]T</a>", listing)
        assert "Done: door locked" in listing and "When (UTC)" not in listing
        # The delivery's window, and the home's audit trail, read the same clock.
        assert re.search(r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d\d:\d\d\u2013\d\d:\d\d E[SD]T</td>", listing)
        trail = (await b.get(f"/portal/homes/{home_id}/audit")).text
        assert re.search(r"\d\d:\d\d:\d\d E[SD]T</time>", trail) and "UTC" not in trail


async def test_a_door_left_unlocked_reads_locked_again_once_its_incident_is_resolved() -> None:
    async with running(homes=1) as h, client(h) as b:
        home_id, session_id, _ = await a_delivery_in_new_york(h)
        sid = uuid.UUID(session_id)
        resolved = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
        async with h.app.state.sessions() as db:
            entry = await db.get(EntrySession, sid)
            assert entry is not None
            entry.state, entry.reason = "unsecured", "lock_jammed"
            incident = Incident(home_id=home_id, session_id=sid, entry_point_id=entry.entry_point_id,
                                kind="door_unsecured", status="open", detail={}, opened_at=resolved)
            db.add(incident)
            await db.commit()
        home = h.world.homes[0]
        assert (await sign_in(b, home.member_email, h.world.password)).status_code == 303
        page = (await b.get(f"/portal/homes/{home_id}/sessions/{session_id}")).text
        assert "Door left unlocked \N{EM DASH} an operator has been told" in page
        async with h.app.state.sessions() as db:
            await db.execute(update(Incident).where(Incident.session_id == sid).values(resolved_at=resolved))
            await db.commit()
        again = f"Door left unlocked \N{EM DASH} locked again at {clock(resolved, NEW_YORK)}"
        assert again in (await b.get(f"/portal/homes/{home_id}/sessions/{session_id}")).text
        assert again in (await b.get(f"/portal/homes/{home_id}")).text
