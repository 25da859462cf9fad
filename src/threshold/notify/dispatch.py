"""The dispatcher: fans committed events out and delivers each notification at least once.

Rows are claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a compare-and-set everywhere), each
result is committed on its own as soon as it is known, and a worker that dies lets go of its rows when the
lease runs out. The only repeat a crash can cause is a message sent and not yet recorded; it carries the same
idempotency key (Message-ID, webhook-id), so receivers can drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.notify import fanout
from threshold.notify.models import Notification, WebhookEndpoint
from threshold.notify.ports import Note, PermanentFailure, Sender

log = structlog.get_logger("threshold.notify")


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard the dispatcher tries."""

    batch: int = 100
    concurrency: int = 16
    lease: timedelta = timedelta(seconds=30)
    max_attempts: int = 8
    max_backoff: float = 600.0


def backoff(attempts: int, cap: float = 600.0, jitter: float | None = None) -> timedelta:
    """Delay before retry number `attempts`: exponential from 2 s, capped, with up to 25% jitter."""
    base = min(cap, 2.0 ** min(attempts, 20))
    j = random.random() if jitter is None else jitter
    return timedelta(seconds=base * (1 - 0.25 * j))


class Dispatcher:
    """Fans out and delivers; any number of dispatchers may run against one database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], senders: dict[str, Sender],
                 links: fanout.LinkPolicy, clock: Callable[[], datetime], policy: Policy | None = None) -> None:
        self.sessions = sessions
        self.senders = senders
        self.links = links
        self.clock = clock
        self.policy = policy or Policy()
        self._gate = asyncio.Semaphore(self.policy.concurrency)
        self._results: list[_Result] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run_once(self, turns: int = 20) -> int:
        """Fan out new events and deliver what is due, turn after turn while there is work (up to `turns`).

        Returns how many notifications were delivered; under load the caller's pause comes only once it is idle.
        """
        delivered = 0
        for _ in range(turns):
            made = await self.expand_once()
            sent = await self.deliver_once()
            delivered += sent
            if not made and not sent:
                break
        return delivered

    async def expand_once(self) -> int:
        """Turn committed events into notifications, in one transaction per batch."""
        now = self.clock()
        # claim_events takes each event for this worker alone, so no two workers ever fan out the same one.
        async with self.sessions() as db, db.begin():
            made: list[Notification] = []
            memo = dict[object, Any]()
            # Inserted once at commit (many rows per statement), not flushed before each event's reads.
            with db.no_autoflush:
                for event in await fanout.claim_events(db, now, self.policy.batch):
                    made += await fanout.expand(db, event, self.links, now, memo)
            db.add_all(made)
            return len(made)

    async def deliver_once(self) -> int:
        """Claim due notifications under a lease and deliver them concurrently."""
        now = self.clock()
        lease_until = now + self.policy.lease
        async with self.sessions() as db, db.begin():
            rows = await self._claim(db, now, lease_until)
            secrets = await self._secrets(db, rows)
        results = await asyncio.gather(*(self._deliver(row, secrets, lease_until) for row in rows))
        return sum(results)

    async def _claim(self, db: AsyncSession, now: datetime, lease_until: datetime) -> list[Notification]:
        due = (Notification.status == "pending", Notification.available_at <= now,
               or_(Notification.lease_until.is_(None), Notification.lease_until < now))
        ids = list((await db.execute(
            select(Notification.id).where(*due).order_by(Notification.available_at)
            .limit(self.policy.batch).with_for_update(skip_locked=True))).scalars())
        if not ids:
            return []
        taken = list((await db.execute(
            update(Notification).where(Notification.id.in_(ids), *due).values(lease_until=lease_until)
            .returning(Notification.id))).scalars())
        if not taken:
            return []
        rows = (await db.execute(select(Notification).where(Notification.id.in_(taken))
                                 .execution_options(populate_existing=True))).scalars()
        return sorted(rows, key=lambda r: r.available_at)

    async def _secrets(self, db: AsyncSession, rows: list[Notification]) -> dict[object, str]:
        ids = {r.endpoint_id for r in rows if r.endpoint_id is not None}
        if not ids:
            return {}
        eps = (await db.execute(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)))).scalars()
        return {ep.id: ep.secret for ep in eps}

    async def _deliver(self, row: Notification, secrets: dict[object, str], lease_until: datetime) -> int:
        note = Note(key=row.key, channel=row.channel, recipient=row.recipient, moment=row.moment,
                    topic=row.topic, data=dict(row.data), secret=secrets.get(row.endpoint_id))
        sender = self.senders.get(row.channel)
        error: str | None = None
        permanent = sender is None
        async with self._gate:
            if self.clock() >= lease_until:
                # Waited past the lease: another worker may own the row now; it will be claimed again.
                return 0
            if sender is None:
                error = f"no sender for channel {row.channel}"
            else:
                try:
                    await sender.send(note)
                except PermanentFailure as exc:
                    error, permanent = f"refused: {exc}"[:500], True
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
            # Inside the gate: a slot frees only once its result is committed, so a crash repeats <= concurrency.
            await self._record(row, error, permanent, lease_until)
        return 1 if error is None else 0

    async def close(self) -> None:
        """Wait for results still being committed (a stopped worker leaves nothing half-recorded)."""
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher

    async def _record(self, row: Notification, error: str | None, permanent: bool, lease_until: datetime) -> None:
        """Queue the result for the next batch commit and wait until it is committed."""
        attempts = row.attempts + 1
        if error is None:
            outcome = "sent"
        elif permanent or attempts >= self.policy.max_attempts:
            outcome = "dead"
            log.warning("notify.dead", channel=row.channel, moment=row.moment, attempts=attempts, error=error)
        else:
            outcome = "retry"
            log.info("notify.retry", channel=row.channel, moment=row.moment, attempts=attempts, error=error)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append(_Result(row.id, lease_until, outcome, attempts, error, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        # Results that finish within a few milliseconds are committed together: one commit for many sends.
        await asyncio.sleep(0.005)
        while self._results:
            batch, self._results = self._results, []
            try:
                await self._write(batch)
            except Exception as exc:
                for r in batch:
                    if not r.done.done():
                        r.done.set_exception(exc)
                continue
            for r in batch:
                if not r.done.done():
                    r.done.set_result(None)

    async def _write(self, batch: list[_Result]) -> None:
        now = self.clock()
        sent: dict[datetime, list[object]] = {}
        async with self.sessions() as db, db.begin():
            for r in batch:
                if r.outcome == "sent":
                    sent.setdefault(r.lease_until, []).append(r.id)
                    continue
                values: dict[str, object] = {"attempts": r.attempts, "lease_until": None, "last_error": r.error}
                if r.outcome == "dead":
                    values.update(status="dead", dead_at=now)
                else:
                    values["available_at"] = now + backoff(r.attempts, self.policy.max_backoff)
                # Only while the lease is still ours: past it, another worker may already own the row.
                await db.execute(update(Notification).where(
                    Notification.id == r.id, Notification.lease_until == r.lease_until).values(**values))
            for lease, ids in sent.items():
                await db.execute(update(Notification).where(
                    Notification.id.in_(ids), Notification.lease_until == lease).values(
                    status="sent", sent_at=now, attempts=Notification.attempts + 1, lease_until=None,
                    last_error=None))


@dataclass(slots=True)
class _Result:
    id: object
    lease_until: datetime
    outcome: str  # sent | retry | dead
    attempts: int
    error: str | None
    done: asyncio.Future[None]
