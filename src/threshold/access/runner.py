"""The imperative shell around sessions: one transaction per step, commands sent only after commit.

Used by the HTTP routers, the device hub's events (wired in app.py), the deadline sweep and the reconciler.
A crash between commit and send is safe: the reconciler re-derives what must happen from stored state.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from threshold.access import alerts, doors, events, guests, incidents, machine, reconcile, service, watch
from threshold.access.models import EntrySession
from threshold.db import close_failed
from threshold.devices.ports import CommandSink
from threshold.errors import Conflict, ThresholdError
from threshold.homes.models import Device

log = structlog.get_logger("threshold.access")

Clock = Callable[[], datetime]
# Reports that say a door is shut and locked.
SECURING_STATES = frozenset({"locked", "closed"})


def system_clock() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


class AccessRunner:
    """Runs entry use cases at the task boundary and sends their device commands."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], sink: CommandSink, settings: Any,
                 clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.sink = sink
        self.settings = settings
        self.clock = clock
        self._changed: dict[uuid.UUID, asyncio.Event] = {}
        self.on_outcome: list[Callable[[service.Outcome], Awaitable[None] | None]] = []

    async def transact(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        """Run `work` in one transaction, retrying on a lost race; keeps audited refusals."""
        for attempt in range(5):
            async with self.sessions() as db:
                try:
                    result = await work(db)
                    await db.commit()
                    return result
                except ThresholdError as err:
                    await close_failed(db, err)
                    raise
                except (StaleDataError, DBAPIError) as exc:
                    await db.rollback()
                    if isinstance(exc, IntegrityError) and "entry_point" in str(exc):
                        raise Conflict("Another entry is in progress at this door.",
                                       code="entry_in_progress") from exc
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.005 * (attempt + 1))
        raise RuntimeError("unreachable")

    async def after(self, outcome: service.Outcome | None) -> None:
        """Send a committed outcome's device commands and wake whoever waits on the session."""
        if outcome is None:
            return
        for device_id, action in outcome.commands:
            try:
                await self.sink.send_to(device_id, action)
            except Exception:
                # The deadline sweep or the reconciler will retry from stored state.
                log.exception("command.failed", session=str(outcome.session_id), action=action)
        waiter = self._changed.pop(outcome.session_id, None)
        if waiter is not None:
            waiter.set()
        for hook in self.on_outcome:
            result = hook(outcome)
            if result is not None:
                await result

    async def ask(self, actor: service.Actor, req: service.EntryRequest) -> service.Outcome:
        """A driver asks for entry: judge it, open the session, start the camera."""
        now = self.clock()
        return await self._enter(lambda db: service.ask_for_entry(db, actor, req, now, self.settings))

    async def ask_guest(self, token: str) -> service.Outcome:
        """A guest asks for entry with their link token."""
        now = self.clock()
        return await self._enter(lambda db: guests.ask_for_entry(db, token, now, self.settings))

    async def _enter(self, work: Callable[[AsyncSession], Awaitable[service.Outcome]]) -> service.Outcome:
        outcome: service.Outcome = await self.transact(work)
        await self.after(outcome)
        return outcome

    async def feed(self, session_id: uuid.UUID, event: machine.Event, actor: str = "system") -> \
            service.Outcome | None:
        """Advance one session by one event."""
        now = self.clock()

        async def work(db: AsyncSession) -> service.Outcome | None:
            return await service.apply(db, session_id, event, now, self.settings, actor)

        outcome: service.Outcome | None = await self.transact(work)
        await self.after(outcome)
        return outcome

    async def on_device_event(self, device_id: uuid.UUID, kind: str, state: str) -> None:
        """A confirmed device change: feed it to every live session that uses this device, in one transaction."""
        if events.ignorable(kind, state):
            return
        now = self.clock()

        async def work(db: AsyncSession) -> tuple[list[service.Outcome], bool]:
            targets = await service.sessions_for_device(db, device_id)
            # A door a session holds unlocked is the machine's to judge; at any other time the watch judges it.
            machine_judges = any(role == "lock" and row.state in watch.AT_RISK for row, role in targets)
            outcomes = []
            for row, role in targets:
                event = events.to_machine_event(role, kind, state)
                if event is not None:
                    outcome = await service.apply(db, row.id, event, now, self.settings, row=row)
                    if outcome is not None:
                        outcomes.append(outcome)
            if not targets and kind in ("lock", "garage") and state in ("locked", "closed"):
                # A door left unsecured is now confirmed locked: the audit says so on that session.
                confirmed = events.to_machine_event("lock", kind, state)
                for row in await service.unsecured_sessions_for_door(db, device_id):
                    if confirmed is not None:
                        await service.apply(db, row.id, confirmed, now, self.settings, row=row)
            if watch.watched(kind) and not machine_judges:
                await reconcile.door_changed(db, device_id, state, now)
            if state in SECURING_STATES or (kind == "alarm" and alerts.alarm_armed(state)):
                # The same report that secures a door or arms the alarm ends the problems it was about.
                await incidents.resolve_for_device(db, device_id, state, now)
                if kind in ("lock", "garage"):
                    await reconcile.settle(db, device_id, state, now)
            return outcomes, bool(targets)

        outcomes, had_sessions = await self.transact(work)
        for outcome in outcomes:
            await self.after(outcome)
        if not had_sessions and kind in ("lock", "garage") and state in ("unlocked", "open"):
            await self.reconcile_device(device_id, state)

    async def sweep(self) -> int:
        """Time out every wait whose deadline has passed; returns how many sessions moved."""
        async with self.sessions() as db:
            due = await service.due_sessions(db, self.clock())
        moved = 0
        for session_id in due:
            if await self.feed(session_id, machine.Tick()) is not None:
                moved += 1
        return moved

    async def recover(self) -> int:
        """After a restart: every live session is made safe (door relocked, alarm re-armed)."""
        async with self.sessions() as db:
            live = await service.live_sessions(db)
        for session_id in live:
            await self.feed(session_id, machine.Restarted())
        await self.reconcile()
        return len(live)

    async def reconcile(self, pending: bool = False) -> list[str]:
        """Relock every door found open that no session owns (`pending`: only doors awaiting a relock)."""
        now, window = self.clock(), reconcile.relock_window(self.settings)

        async def work(db: AsyncSession) -> list[tuple[str, str]]:
            return await reconcile.orphan_doors(db, now, window, pending=pending)

        commands: list[tuple[str, str]] = await self.transact(work)
        for device_id, action in commands:
            await self.sink.send_to(device_id, action)
        return [d for d, _ in commands]

    async def reconcile_device(self, device_id: uuid.UUID, state: str) -> None:
        """Reconcile one door that reported open with no session."""
        now, window = self.clock(), reconcile.relock_window(self.settings)

        async def work(db: AsyncSession) -> list[tuple[str, str]]:
            return await reconcile.orphan_doors(db, now, window, device_id, state)

        for dev, action in await self.transact(work):
            await self.sink.send_to(dev, action)

    async def alerts(self) -> tuple[int, int, int]:
        """The alerts turn: resolve what cleared, send due reminders and device notices, and alarm for doors still
        open past their relock deadline. Returns (resolved, reminders, notices)."""
        now = self.clock()

        async def work(db: AsyncSession) -> tuple[int, int, int]:
            resolved, reminded = await incidents.sweep(db, now)
            return resolved, reminded, await incidents.device_notices(db, now)

        counts: tuple[int, int, int] = await self.transact(work)
        await self.reconcile(pending=True)
        return counts

    async def command(self, work: Callable[[AsyncSession], Awaitable[doors.Order]],
                      timeout: float | None = None) -> tuple[doors.Order, str | None]:
        """Accept a securing command (`work` audits it), send it, and wait for the device to confirm it.

        Returns the order and the confirming state, or None when it was not confirmed within `timeout` (the
        command stays sent; the caller says so, and the device's report still ends any incident later).
        """
        done: doors.Order = await self.transact(work)
        await self.sink.send_to(str(done.device_id), done.action)
        loop = asyncio.get_running_loop()
        end = loop.time() + (timeout if timeout is not None else float(self.settings.lock_timeout) + 1.0)
        while True:
            # Another process's hub may hear the answer: its written-behind row is read, as the reconciler does.
            async with self.sessions() as db:
                state = (await db.execute(select(Device.state).where(Device.id == done.device_id))).scalar()
            if state in done.confirms:
                await self.transact(partial(doors.confirmed, done=done, state=str(state), now=self.clock()))
                return done, str(state)
            if loop.time() >= end:
                return done, None
            # Each look is a short read; on SQLite every transaction takes the write lock, so not too often.
            await asyncio.sleep(0.25)

    async def wait(self, session_id: uuid.UUID, until: frozenset[str], timeout: float) -> EntrySession:
        """Wait until the session reaches one of `until` (or the timeout); returns the session as last read."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            waiter = self._changed.setdefault(session_id, asyncio.Event())
            async with self.sessions() as db:
                row = await service.get_session(db, session_id)
            remaining = end - loop.time()
            if row.state in until or remaining <= 0:
                return row
            # Another process may be advancing it: poll the database as well as listening.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=min(0.1, remaining))


def unlocked_or_final() -> frozenset[str]:
    """States at which a waiting driver gets an answer."""
    return frozenset({machine.State.OPEN.value, machine.State.AWAITING_APPROVAL.value}
                     | {s.value for s in machine.TERMINAL})
