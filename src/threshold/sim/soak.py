"""`threshold demo --headless --minutes M`: deliveries with the usual mishaps for a while, then the checks that
say the platform can be left running: no invariant broken, no expired token refused, no false alarm, and every
alarm followed by its all-clear."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.homes.models import Device
from threshold.notify.models import OutboxMessage
from threshold.sim import invariants
from threshold.sim.driver import DriverApp, Run
from threshold.sim.harness import Harness, running
from threshold.sim.headless import broker_for, one_delivery

# The topics that tell a household its door did not lock again (moment door_not_relocked), and the reminder that
# repeats them for a door incident.
DOOR_TOPICS = frozenset({"door.unsecured", "door.found_open", "door.reopened"})
REMINDER = "incident.reminder"
DOOR_INCIDENTS = frozenset({"unsecured", "door_reopened", "door_found_open"})
# Incidents that alarm someone and must be followed by their all-clear once the problem is over.
ALARMED = DOOR_INCIDENTS | {"alarm_not_rearmed"}
ALL_CLEAR = "incident.resolved"
# What each door device says when shut and locked, and the command that asks for it.
SECURED = {"lock": "locked", "garage": "closed", "contact": "closed"}
SECURING = {"lock": "lock", "garage": "close"}
# What a door says while it moves: a securing command is still under way.
MOVING = frozenset({"locking", "unlocking", "closing", "opening"})
# A relock confirmed this close to its deadline is given the benefit of the doubt: the command reached the
# device a little after the session's clock started (it leaves after the commit and crosses the broker).
TOLERANCE = 0.25

Log = Sequence[tuple[float, str, str]]


@dataclass(slots=True)
class Clocks:
    """Pairs of (loop time, wall time) read together, to place a wall-clock event on the devices' log clock."""

    pairs: list[tuple[datetime, float]] = field(default_factory=list)

    def mark(self) -> None:
        """Read both clocks now."""
        self.pairs.append((datetime.now(UTC), asyncio.get_running_loop().time()))

    def loop_time(self, at: datetime) -> float:
        """`at` on the loop's clock, from the nearest pair (so slow drift between the clocks does not add up)."""
        i = bisect.bisect_left(self.pairs, at, key=lambda p: p[0])
        near = min(self.pairs[max(0, i - 1):i + 1], key=lambda p: abs((p[0] - at).total_seconds()))
        return near[1] + (at - near[0]).total_seconds()


@dataclass(frozen=True, slots=True)
class Alarm:
    """One 'your door did not lock' message: when it was queued and the door devices it is about."""

    topic: str
    at: datetime
    devices: tuple[tuple[str, str], ...]  # (address, kind)
    home_id: uuid.UUID | None = None


def left_unsecured(log: Log, address: str, kind: str, at: float, deadline: float) -> bool:
    """True when the device's own log shows its door not secured at `at`, and not secured within `deadline` of
    the last command that asked it to be (if one was pending): a door truly left open, not one being locked."""
    secured, securing = SECURED[kind], SECURING.get(kind)
    state: str | None = None
    asked: float | None = None  # the last securing command while the door was not secured
    after: float | None = None  # when it next reported secured, after `at`
    for t, where, what in log:
        if where != address:
            continue
        if t > at:
            if what == "=" + secured:
                after = t
                break
            continue
        if what.startswith("="):
            state = what[1:]
            if state not in MOVING:
                asked = None  # locked, or the command failed for good (jammed, stopped): nobody is locking it now
        elif what == securing:
            asked = t
    if state is None or state == secured:
        return False  # the devices start secured; a door locked when the message left was not left open
    if asked is None:
        return True  # nobody was locking it: opened with no session, or found open
    return after is None or after - asked >= deadline - TOLERANCE


async def door_alarms(db: AsyncSession, since: datetime) -> list[Alarm]:
    """Every door-not-relocked message queued since `since`, each with the door devices it names."""
    rows = (await db.execute(select(OutboxMessage).where(
        OutboxMessage.topic.in_(DOOR_TOPICS | {REMINDER}), OutboxMessage.created_at >= since))).scalars()
    devices = list((await db.execute(select(Device))).scalars())
    by_id = {str(d.id): d for d in devices}
    alarms = []
    for row in rows:
        payload = row.payload or {}
        if row.topic == REMINDER and payload.get("kind") not in DOOR_INCIDENTS:
            continue
        named = [by_id[payload["device"]]] if payload.get("device") in by_id else []
        if not named and payload.get("session"):
            session = await db.get(EntrySession, uuid.UUID(payload["session"]))
            entry = session.entry_point_id if session else None
            named = [d for d in devices if entry is not None and d.entry_point_id == entry]
        if not named and payload.get("entry_point_id"):
            named = [d for d in devices if str(d.entry_point_id) == payload["entry_point_id"]]
        doors = tuple((d.address, d.kind) for d in named if d.kind in SECURED)
        alarms.append(Alarm(row.topic, row.created_at, doors, row.home_id))
    # The household's and the operator's message about one problem are one alarm.
    return sorted(set(alarms), key=lambda a: a.at)


def false_alarms(alarms: Iterable[Alarm], log: Log, clocks: Clocks, deadline: float) -> list[str]:
    """Each alarm that no door in the devices' log justifies, described."""
    found = []
    # An hour's log is long; each alarm reads only its doors' entries.
    by_address: dict[str, list[tuple[float, str, str]]] = {}
    for entry in log:
        by_address.setdefault(entry[1], []).append(entry)
    for alarm in alarms:
        at = clocks.loop_time(alarm.at)
        theirs = [e for address, _ in alarm.devices for e in by_address.get(address, [])]
        if not any(left_unsecured(theirs, address, kind, at, deadline) for address, kind in alarm.devices):
            doors = ", ".join(a for a, _ in alarm.devices) or "no door named"
            found.append(f"{alarm.topic} at {alarm.at.isoformat()} ({doors}): the door was secured or being "
                         f"locked in time; its log: {_trace(sorted(theirs), alarm.devices, at)}")
    return found


def _trace(log: Log, devices: tuple[tuple[str, str], ...], at: float) -> str:
    """What the named doors did around the alarm, in seconds from it (the evidence for a person to read)."""
    named = {a for a, _ in devices}
    near = sorted((t for t in log if t[1] in named), key=lambda t: abs(t[0] - at))[:12]
    return "; ".join(f"{t - at:+.2f}s {what}" for t, _, what in sorted(near)) or "nothing"


async def missing_all_clears(db: AsyncSession, since: datetime) -> list[str]:
    """Each alarming incident opened since `since` without its all-clear (outbox row, and `resolved_at` where the
    table has it)."""
    incidents = list((await db.execute(select(Incident).where(
        Incident.kind.in_(ALARMED), Incident.opened_at >= since))).scalars())
    cleared = {str((row.payload or {}).get("incident")) for row in (await db.execute(
        select(OutboxMessage).where(OutboxMessage.topic == ALL_CLEAR, OutboxMessage.created_at >= since))).scalars()}
    missing = []
    for inc in incidents:
        stamped = getattr(inc, "resolved_at", True) is not None  # without the column, the outbox row is all
        if str(inc.id) not in cleared or not stamped:
            missing.append(f"{inc.kind} incident {inc.id} opened {inc.opened_at.isoformat()} has no all-clear")
    return missing


# The in-process client surfaces a server's unhandled error as an exception; a served API would answer 500.
SERVER = "server error: "


def token_refusals(runs: Iterable[Run]) -> list[str]:
    """Each delivery refused because the driver's token had expired."""
    return [f"delivery {r.delivery_id}" for r in runs if r.reason == "token_expired"]


async def _settled(h: Harness, since: datetime, timeout: float) -> None:
    """Wait (up to `timeout`) until no session is live and every alarming incident has had its all-clear."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        async with h.app.state.sessions() as db:
            live = (await db.execute(select(EntrySession.id).where(EntrySession.live.is_(True)).limit(1))).first()
            waiting = await missing_all_clears(db, since)
        if live is None and not waiting:
            return
        await asyncio.sleep(0.2)


async def soak(minutes: float | None = None, budget: int | None = None, seed: int = 1,
               database_url: str | None = None, show: bool = True, **overrides: object) -> dict[str, Any]:
    """Deliver for `minutes` of wall time (or `budget` deliveries, whichever ends first), then check; the
    summary's `ok` is true only when every check passed."""
    if minutes is None and budget is None:
        raise ValueError("a soak needs minutes or a deliveries budget")
    rng = random.Random(seed)
    runs: list[Run] = []
    clocks = Clocks()
    async with running(database_url, homes=8, drivers=4, mqtt=broker_for(), video=False, **overrides) as h:
        loop = asyncio.get_running_loop()
        since = datetime.now(UTC)
        clocks.mark()
        stop_at = loop.time() + minutes * 60 if minutes is not None else float("inf")
        numbers = itertools.count()
        busy: dict[int, asyncio.Lock] = {}
        apps = [DriverApp(h.client, email, h.world.password) for _, email in h.world.drivers]

        async def drive(i: int) -> None:
            for n in numbers:
                if (budget is not None and n >= budget) or loop.time() >= stop_at:
                    return
                try:
                    runs.append(await one_delivery(h, rng, n, busy, apps[i], i))
                except (httpx.HTTPError, ValueError) as exc:  # an answer that was not what the API promises
                    runs.append(Run(outcome="error", reason=f"{type(exc).__name__}: {exc}"[:200]))
                except Exception as exc:  # a server error, surfaced in-process: counted, not fatal
                    runs.append(Run(outcome="error", reason=f"{SERVER}{type(exc).__name__}: {exc}"[:200]))

        total, unit = (minutes, "min") if minutes is not None else (float(budget or 0), "deliveries")
        with Progress(TextColumn("soak"), BarColumn(), TextColumn(f"{{task.completed:.1f}}/{{task.total:g}} {unit}"),
                      TextColumn("{task.fields[done]} deliveries"), TimeElapsedColumn(),
                      disable=not show, transient=True) as bar:
            task = bar.add_task("soak", total=total, done=0)
            started = loop.time()
            drivers = asyncio.gather(*(drive(i) for i in range(len(apps))))
            while not drivers.done():
                clocks.mark()
                done = (loop.time() - started) / 60 if minutes is not None else len(runs)
                bar.update(task, completed=min(done, total), done=len(runs))
                await asyncio.wait([drivers], timeout=1.0)
            await drivers
        elapsed = (loop.time() - started) / 60
        await _settled(h, since, timeout=60)
        clocks.mark()
        async with h.app.state.sessions() as db:
            broken = await invariants.check(db, h.gateway)
            alarms = await door_alarms(db, since)
            false = false_alarms(alarms, list(h.gateway.log), clocks, h.settings.lock_timeout)
            unclear = await missing_all_clears(db, since)
            incidents = Counter((await db.execute(select(Incident.kind).where(
                Incident.opened_at >= since))).scalars())
        checks = {"invariants_broken": broken, "token_expired": token_refusals(runs), "false_alarms": false,
                  "server_errors": [r.reason or "" for r in runs if (r.reason or "").startswith(SERVER)],
                  "missing_all_clears": unclear}
        return {"minutes": round(elapsed, 2), "deliveries": len(runs),
                "outcomes": dict(Counter(r.outcome for r in runs)),
                "reasons": dict(Counter(r.reason for r in runs if r.reason)),
                "sign_ins": sum(a.sign_ins for a in apps), "alarms": len(alarms), "incidents": dict(incidents),
                "checks": checks, "ok": not any(checks.values())}


def table(summary: dict[str, Any]) -> Table:
    """The soak's summary as a table: what ran, then each check and what broke it."""
    out = Table(title=f"soak: {summary['deliveries']} deliveries in {summary['minutes']} min")
    out.add_column("")
    out.add_column("result")
    out.add_row("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items())) or "-")
    out.add_row("driver sign-ins", str(summary["sign_ins"]))
    out.add_row("incidents", ", ".join(f"{k} {v}" for k, v in sorted(summary["incidents"].items())) or "none")
    out.add_row("door alarms", str(summary["alarms"]))
    words = {"invariants_broken": "invariants", "token_expired": "expired tokens", "false_alarms": "false alarms",
             "missing_all_clears": "all-clears", "server_errors": "server errors"}
    for key, label in words.items():
        found = summary["checks"][key]
        out.add_row(label, "[green]ok[/green]" if not found else "[red]" + "\n".join(found[:10]) + "[/red]")
    return out


def show(summary: dict[str, Any], console: Console) -> None:
    """Print the summary's table."""
    console.print(table(summary))
