"""An entry's steps as they happen: audit records of one session streamed as server-sent events.

The portal, the driver app and the guest page all show the same steps; each checks who may see the session
before it calls `step_events`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession
from threshold.audit.models import AuditRecord
from threshold.errors import ThresholdError
from threshold.inputs import INT32_MAX
from threshold.web.deps import templates

# Seconds between looks at the database, and how many quiet looks after the entry ended close the stream.
POLL, QUIET_LOOKS = 0.5, 40


async def steps_of(db: AsyncSession, entry: EntrySession) -> list[AuditRecord]:
    """Every step of an entry so far, in order."""
    q = select(AuditRecord).where(AuditRecord.home_id == entry.home_id,
                                  AuditRecord.subject == f"session:{entry.id}").order_by(AuditRecord.seq)
    return list((await db.execute(q)).scalars())


def state_label(state: str) -> str:
    """A session state as words."""
    return state.replace("_", " ")


async def step_events(request: Request, db: AsyncSession, entry: EntrySession, after: int) -> StreamingResponse:
    """Server-sent events: `step` (an <li>) for each new step after `after`, and `state` with the session's
    state, until the entry has ended and gone quiet; then `end`, on which the page closes the stream.

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

    async def events() -> AsyncIterator[str]:
        last, quiet = after, 0
        while quiet < QUIET_LOOKS and not await request.is_disconnected():
            async with sessions() as fresh:
                rows = list((await fresh.execute(select(AuditRecord).where(
                    AuditRecord.home_id == home, AuditRecord.subject == subject, AuditRecord.seq > last)
                    .order_by(AuditRecord.seq))).scalars())
                state = await fresh.get(EntrySession, entry_id, populate_existing=True)
            for row in rows:
                last = row.seq
                html = step.render(s=row).replace("\n", "")
                yield f"id: {row.seq}\nevent: step\ndata: {html}\n\n"
            if state is not None:
                yield f"event: state\ndata: {state_label(state.state)}\n\n" if rows else ": keep-alive\n\n"
            # An ended entry still gets its last steps (lock confirmed, clip sealed); then the stream closes.
            quiet = quiet + 1 if not rows and state is not None and not state.live else 0
            await asyncio.sleep(POLL)
        # Without this a browser would reconnect to an entry that has long ended.
        yield "event: end\ndata: end\n\n"

    # The request's transaction ends here, not when the viewer leaves: a stream must not hold a database lock.
    await db.commit()
    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})
