"""What a scenario is judged on: its verdict, and the checks every scenario shares."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from threshold.access.models import Incident
from threshold.audit.models import AuditRecord
from threshold.notify.models import OutboxMessage
from threshold.sim import invariants
from threshold.sim.driver import TERMINAL, DriverApp
from threshold.sim.harness import Harness
from threshold.sim.neighbourhood import SimHome


@dataclass(slots=True)
class Result:
    """A scenario's verdict with the facts it was judged on."""

    name: str
    ok: bool = True
    facts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def expect(self, cond: bool, why: str) -> None:
        """Record a failed expectation."""
        if not cond:
            self.ok = False
            self.failures.append(why)


async def common(h: Harness, res: Result, home_index: int = 0) -> None:
    """The checks every scenario ends with: DESIGN.md's invariants hold over the whole neighbourhood."""
    async with h.app.state.sessions() as db:
        broken = await invariants.check(db, h.gateway)
    res.facts["invariants_broken"] = broken
    res.expect(not broken, f"invariants broken: {broken}")
    home = h.world.homes[home_index]
    res.facts["door"] = h.gateway.state(home.lock)


async def refusal_audited(h: Harness, home_id: uuid.UUID, code: str) -> bool:
    """True when the home's audit chain holds an `entry.refused` naming `code`."""
    async with h.app.state.sessions() as db:
        rows = (await db.execute(select(AuditRecord).where(AuditRecord.home_id == home_id,
                                                           AuditRecord.action == "entry.refused"))).scalars()
        return any(code in r.data.get("codes", []) for r in rows)


async def audited(h: Harness, home_id: uuid.UUID, action: str, subject: str | None = None) -> bool:
    """True when the home's audit chain holds `action` (on `subject`, when given)."""
    async with h.app.state.sessions() as db:
        q = select(AuditRecord.id).where(AuditRecord.home_id == home_id, AuditRecord.action == action)
        if subject is not None:
            q = q.where(AuditRecord.subject == subject)
        return (await db.execute(q.limit(1))).first() is not None


async def told(h: Harness, home_id: uuid.UUID, topic: str, audience: str = "household") -> bool:
    """True when the outbox holds a message on `topic` for the home's `audience`."""
    async with h.app.state.sessions() as db:
        q = select(OutboxMessage).where(OutboxMessage.home_id == home_id, OutboxMessage.topic == topic,
                                        OutboxMessage.audience == audience)
        return (await db.execute(q)).first() is not None


async def incidents(h: Harness, home_id: uuid.UUID, kind: str | None = None) -> list[Incident]:
    """The home's incidents (of one kind, when given)."""
    async with h.app.state.sessions() as db:
        q = select(Incident).where(Incident.home_id == home_id)
        if kind is not None:
            q = q.where(Incident.kind == kind)
        return list((await db.execute(q.order_by(Incident.opened_at))).scalars())


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll until `check` (plain or async) holds or the timeout passes: device reports arrive asynchronously."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await _holds(check):
        if loop.time() > end:
            return False
        await asyncio.sleep(step)
    return True


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    answer = check()
    return bool(await answer) if inspect.isawaitable(answer) else bool(answer)


async def enter(h: Harness, res: Result, home: SimHome, entry_point_id: uuid.UUID | None = None,
                driver_index: int = 0) -> tuple[DriverApp, str | None]:
    """Book a delivery and ask for entry; returns the driver and the session id once the door is open."""
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(home, h.world.drivers[driver_index][0], barcode=barcode, entry_point_id=entry_point_id)
    driver = await h.driver(driver_index)
    if r.status_code != 201:
        res.expect(False, f"delivery not created: {r.status_code} {r.text}")
        return driver, None
    a = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
    body: dict[str, Any] = a.json()
    if a.status_code >= 400:
        res.expect(False, f"entry refused: {a.status_code} {body.get('code')}")
        return driver, None
    if body["state"] != "open":
        body = await driver.until(body["id"], {"open"} | TERMINAL)
    res.expect(body["state"] == "open", f"door never opened: {body['state']} ({body.get('reason')})")
    return driver, body["id"] if body["state"] == "open" else None


async def expect_unsecured(h: Harness, res: Result, home_id: uuid.UUID, where: str = "") -> None:
    """An open `unsecured` incident a person must close, and the household and the operator told."""
    said = f"{where}: " if where else ""
    unsecured = await incidents(h, home_id, "unsecured")
    res.expect(any(i.status == "open" for i in unsecured), f"{said}no open unsecured incident")
    res.expect(await told(h, home_id, "door.unsecured"), f"{said}household not told")
    res.expect(await told(h, home_id, "door.unsecured", "operator"), f"{said}operator not told")
