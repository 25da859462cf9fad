"""An entry's steps as they happen: audit records of one session streamed as server-sent events.

The portal, the driver app and the guest page all show the same steps; each checks who may see the session
before it calls `step_events`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Grant, Incident
from threshold.audit.models import AuditRecord
from threshold.deliveries.models import Delivery, Driver, Package, Partner
from threshold.errors import ThresholdError
from threshold.homes.models import EntryPoint, Home
from threshold.inputs import INT32_MAX
from threshold.web import story
from threshold.web.deps import templates

# Seconds between looks at the database, and how many quiet looks after the entry ended close the stream.
POLL, QUIET_LOOKS = 0.5, 40
# How long (looks) a stream stays open after the entry ended while the page still waits for something (its clip).
HOLD_LOOKS = 600
templates.env.filters["step_words"] = story.step_words
# Extra events a page wants besides the steps: (name, one-line HTML) pairs, and whether to keep waiting.
Extra = Callable[[AsyncSession, EntrySession], Awaitable[tuple[list[tuple[str, str]], bool]]]


async def steps_of(db: AsyncSession, entry: EntrySession) -> list[AuditRecord]:
    """Every step of an entry so far, in order."""
    q = select(AuditRecord).where(AuditRecord.home_id == entry.home_id,
                                  AuditRecord.subject == f"session:{entry.id}").order_by(AuditRecord.seq)
    return list((await db.execute(q)).scalars())


def state_label(state: str) -> str:
    """A session state as words."""
    return state.replace("_", " ")


def _first(steps: Iterable[AuditRecord], action: str, last: bool = False) -> AuditRecord | None:
    found = [s for s in steps if s.action == action]
    return (found[-1] if last else found[0]) if found else None


async def incident_of(db: AsyncSession, entry_id: uuid.UUID) -> Incident | None:
    """The entry's latest incident, if it has one."""
    q = select(Incident).where(Incident.session_id == entry_id).order_by(Incident.opened_at.desc()).limit(1)
    return (await db.execute(q)).scalars().first()


async def facts_of(db: AsyncSession, entry: EntrySession, done: list[AuditRecord]) -> story.Facts:
    """What the entry's sentence needs: who, from which partner, which door, how many packages, and when."""
    home = await db.get(Home, entry.home_id)
    door = await db.get(EntryPoint, entry.entry_point_id)
    who = partner = None
    packages = 0
    if entry.actor_kind == "driver":
        driver = await db.get(Driver, uuid.UUID(entry.actor_id))
        who = driver.name.split()[0] if driver and driver.name.split() else None
    elif entry.actor_kind == "guest":
        grant = await db.get(Grant, entry.grant_id)
        who = grant.guest_name if grant else None
    if entry.delivery_id is not None:
        delivery = await db.get(Delivery, entry.delivery_id)
        found = await db.get(Partner, delivery.partner_id) if delivery else None
        partner = found.name if found else None
        packages = int((await db.execute(select(func.count()).select_from(Package)
                                         .where(Package.delivery_id == entry.delivery_id))).scalar_one())
    incident = await incident_of(db, entry.id) if entry.state == "unsecured" else None
    relocked = _first(done, "lock.confirmed_after_unsecured")
    # The incident's own record of the door locked again (or the alarm re-armed) wins; the step is the fallback.
    resolved = getattr(incident, "resolved_at", None) or (relocked.at if relocked else None)
    locked, unlocked, left = _first(done, "lock.locked", last=True), _first(done, "lock.unlocked"), \
        _first(done, "session.finished")
    return story.Facts(
        state=entry.state, reason=entry.reason, actor_kind=entry.actor_kind, tz=home.timezone if home else "UTC",
        who=who, partner=partner, entry_point=door.label if door else None, packages=packages,
        asked_at=entry.requested_at, opened_at=unlocked.at if unlocked else None,
        locked_at=locked.at if locked else None, left_at=left.at if left else None, resolved_at=resolved,
        closed_at=incident.closed_at if incident is not None and incident.status == "closed" else None)


async def step_events(request: Request, db: AsyncSession, entry: EntrySession, after: int,
                      extra: Extra | None = None, technical: bool = False,
                      label: Callable[[str], str] = state_label) -> StreamingResponse:
    """Server-sent events: `step` (an <li>) for each new step after `after`, and `state` with the session's
    state, until the entry has ended and gone quiet; then `end`, on which the page closes the stream.

    `extra` adds a page's own events (sent when they change) and may hold the stream open after the entry ended
    (the portal waits for the sealed clip); `technical` keeps the code's step names (the operators' console);
    `label` words the `state` event.

    Each step carries its sequence number as the event id, so a browser that reconnects (it sends
    Last-Event-ID) is not sent the same steps twice."""
    if not 0 <= after <= INT32_MAX:
        # Refused before the stream starts: past this point an error could only cut the stream.
        raise ThresholdError(f"after must be between 0 and {INT32_MAX}.", code="out_of_range", status=422,
                             title="Out of range")
    resumed = request.headers.get("last-event-id", "")
    # A browser sends back an id it was given (a sequence number); anything else is ignored.
    if resumed.isascii() and resumed.isdigit() and len(resumed) <= 10 and int(resumed) <= INT32_MAX:
        after = max(after, int(resumed))
    sessions, subject, home, entry_id = request.app.state.sessions, f"session:{entry.id}", entry.home_id, entry.id
    step = templates.env.get_template("_step.html")
    zone = await db.get(Home, home)
    tz = zone.timezone if zone else "UTC"

    async def events() -> AsyncIterator[str]:
        last, quiet, held = after, 0, 0
        sent: dict[str, str] = {}
        waiting = extra is not None
        while quiet < QUIET_LOOKS and not await request.is_disconnected():
            more: list[tuple[str, str]] = []
            async with sessions() as fresh:
                rows = list((await fresh.execute(select(AuditRecord).where(
                    AuditRecord.home_id == home, AuditRecord.subject == subject, AuditRecord.seq > last)
                    .order_by(AuditRecord.seq))).scalars())
                state = await fresh.get(EntrySession, entry_id, populate_existing=True)
                if extra is not None and state is not None and (rows or waiting):
                    more, waiting = await extra(fresh, state)
            for row in rows:
                last = row.seq
                html = step.render(s=row, tz=tz, technical=technical).replace("\n", "")
                yield f"id: {row.seq}\nevent: step\ndata: {html}\n\n"
            for name, html in more:
                if sent.get(name) != html:
                    sent[name] = html
                    yield f"event: {name}\ndata: {html}\n\n"
            if state is not None:
                yield f"event: state\ndata: {label(state.state)}\n\n" if rows else ": keep-alive\n\n"
            # An ended entry still gets its last steps (lock confirmed, clip sealed); then the stream closes.
            ended = state is not None and not state.live
            held = held + 1 if ended else 0
            hold = waiting and held < HOLD_LOOKS
            quiet = quiet + 1 if not rows and ended and not hold else 0
            await asyncio.sleep(POLL)
        # Without this a browser would reconnect to an entry that has long ended.
        yield "event: end\ndata: end\n\n"

    # The request's transaction ends here, not when the viewer leaves: a stream must not hold a database lock.
    await db.commit()
    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})
