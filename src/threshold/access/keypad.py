"""Keypad PIN codes for guests: the household's use cases (never commit) and the sync that pushes codes to locks.

A code belongs to a guest grant and to the lock at the grant's entry point, in a user slot of that lock. The
household creates, lists and removes codes; `KeypadSync` (a worker loop, and the hub's keypad reports) works
out what each lock should hold now (`keypad_rules.wanted`), takes the next step toward it (`keypad_rules.step`)
in one transaction with its audit records, and sends the commands only after the commit. A PIN never appears in
an audit record or a log line.

PINs are stored sealed (`access.pins`), bound to their row. The plain PIN exists only on its way to the lock (the
sync opens it for a `set` command), once on its way to the household who made it (`create` returns it), and in
memory while a new PIN is checked against the other guests' PINs on the same lock.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from threshold.access import keypad_rules as rules
from threshold.access.models import Grant, KeypadCode
from threshold.access.pins import PinBox, PinError, Row
from threshold.audit import service as audit
from threshold.devices.ports import KeypadSink
from threshold.errors import NotFound
from threshold.homes import entry_devices
from threshold.homes.models import Device, EntryPoint, HomeRules

log = structlog.get_logger("threshold.keypad")

# User slots threshold hands out. zigbee2mqtt's common locks take users 0..29; slot 0 is the master code on many
# of them, and the household's own codes usually sit in the first slots, so guests get the upper ones first.
SLOTS = tuple(range(29, 0, -1))
# Seconds between sync turns; a lock's keypad report also starts a turn for that lock at once.
INTERVAL = 2.0
# Where a code may be on its lock, so the sync must keep looking at it whatever its grant says.
_IN_FLUX = ("setting", "on_lock", "clearing", "failed")


class CodeErrors(Exception):
    """Field -> message; nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Created:
    """A new code and its PIN: the only time the PIN leaves threshold for a person."""

    code: KeypadCode
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CodeOut:
    """One code as the household sees it: never its PIN, which was shown once, when the code was made."""

    id: uuid.UUID
    grant_id: uuid.UUID
    guest: str
    lock: str
    slot: int
    desired: str
    sync_state: str
    detail: str | None
    synced_at: datetime | None
    ended: bool  # removed by the household, or its grant revoked or over: it never goes back on the lock


async def active_guest_grants(db: AsyncSession, home_id: uuid.UUID, now: datetime) -> list[Grant]:
    """The home's guest grants that are neither revoked nor over, soonest first."""
    q = select(Grant).where(Grant.home_id == home_id, Grant.kind == "guest", Grant.revoked_at.is_(None),
                            Grant.ends_at > now).order_by(Grant.starts_at, Grant.guest_name)
    return list((await db.execute(q)).scalars())


async def lock_at(db: AsyncSession, entry_point_id: uuid.UUID) -> Device | None:
    """The lock of an entry point (a garage door has none: no keypad)."""
    q = select(Device).where(Device.entry_point_id == entry_point_id)
    rows = {d.id: d for d in (await db.execute(q)).scalars()}
    found = entry_devices.lock_at(entry_point_id, [entry_devices.placed(d) for d in rows.values()])
    return rows[found] if found is not None else None


async def create(db: AsyncSession, box: PinBox, home_id: uuid.UUID, actor: str, grant_id: str,
                 typed_pin: str | None, now: datetime) -> Created:
    """A code for one of the home's active guest grants, on the lock at its entry point, in a free slot; the PIN
    is the household's (checked) or a random one, stored sealed. Every field is checked before anything is
    written."""
    errors: dict[str, str] = {}
    grant = await _grant(db, home_id, grant_id, now)
    device: Device | None = None
    if grant is None:
        errors["grant"] = "Choose one of this home's current guests."
    else:
        device = await lock_at(db, grant.entry_point_id)
        if device is None:
            errors["grant"] = "The guest's door has no lock with a keypad."
    taken = await _codes_on(db, device.id, now) if device is not None else _Taken()
    if grant is not None and any(c.grant_id == grant.id and c.desired != "removed" for c in taken.codes):
        errors["grant"] = "This guest already has a code on this lock; remove it first."
    live_pins = _readable(box, [c for c in taken.codes if c.id not in taken.over])
    if typed_pin is not None:
        problem = rules.pin_problem(typed_pin)
        if problem is None and typed_pin in live_pins:
            problem = "Another guest has this PIN on this lock; choose another."
        if problem:
            errors["pin"] = problem
    slot, reclaim = _free_slot(taken) if device is not None and "grant" not in errors else (None, None)
    if device is not None and "grant" not in errors and slot is None:
        errors["grant"] = "Every keypad slot on this lock is in use; remove a code first."
    if errors or grant is None or device is None or slot is None:
        raise CodeErrors(errors or {"grant": "Choose one of this home's current guests."})
    if reclaim is not None:
        # The slot's last code is over and off the lock; its history stays in the audit chain.
        await db.delete(reclaim)
        await db.flush()
    pin = typed_pin if typed_pin is not None else _random_pin(live_pins)
    home_rules = await db.get(HomeRules, home_id)
    desired = rules.wanted(_window(grant, list(home_rules.allowed_entry_points) if home_rules else []), now)
    code_id = uuid.uuid4()
    sealed = box.seal(pin, Row(code_id, grant.id, device.id, slot))
    code = KeypadCode(id=code_id, home_id=home_id, grant_id=grant.id, device_id=device.id, slot=slot,
                      pin_sealed=sealed, desired=desired, sync_state="pending", attempts=0, created_at=now,
                      updated_at=now)
    db.add(code)
    await db.flush()
    await audit.append(db, home_id, actor, "keypad.created", f"keypad:{code.id}",
                       {"grant": str(grant.id), "device": str(device.id), "slot": slot,
                        "chosen_by": "household" if typed_pin is not None else "threshold"}, now)
    return Created(code, pin)


async def remove(db: AsyncSession, home_id: uuid.UUID, code_id: uuid.UUID, actor: str, now: datetime) -> KeypadCode:
    """Take a code away for good: the sync clears it from the lock (audited)."""
    code = await _own_code(db, home_id, code_id)
    if code.desired != "removed":
        code.desired, code.updated_at = "removed", now
        await audit.append(db, home_id, actor, "keypad.removed", f"keypad:{code.id}",
                           {"device": str(code.device_id), "slot": code.slot}, now)
    return code


async def codes_of_home(db: AsyncSession, home_id: uuid.UUID, now: datetime) -> list[CodeOut]:
    """The home's codes with their guest, lock and sync state, newest first."""
    q = (select(KeypadCode, Grant, EntryPoint.label)
         .join(Grant, Grant.id == KeypadCode.grant_id)
         .join(Device, Device.id == KeypadCode.device_id)
         .outerjoin(EntryPoint, EntryPoint.id == Device.entry_point_id)
         .where(KeypadCode.home_id == home_id).order_by(KeypadCode.created_at.desc(), KeypadCode.slot))
    return [CodeOut(c.id, g.id, g.guest_name or "Guest", f"{door or 'Door'} lock", c.slot, c.desired, c.sync_state,
                    c.detail, c.synced_at, c.desired == "removed" or g.revoked_at is not None or g.ends_at < now)
            for c, g, door in (await db.execute(q)).all()]


async def _grant(db: AsyncSession, home_id: uuid.UUID, grant_id: str, now: datetime) -> Grant | None:
    try:
        wanted = uuid.UUID(grant_id)
    except ValueError:
        return None
    grant = await db.get(Grant, wanted)
    if grant is None or grant.home_id != home_id or grant.kind != "guest" or grant.revoked_at is not None \
            or grant.ends_at <= now:
        return None
    return grant


async def _own_code(db: AsyncSession, home_id: uuid.UUID, code_id: uuid.UUID) -> KeypadCode:
    code = await db.get(KeypadCode, code_id, with_for_update=True)
    if code is None or code.home_id != home_id:
        raise NotFound("No such code.")
    return code


@dataclass(frozen=True, slots=True)
class _Taken:
    """A lock's codes, and the ids of those that are over: removed, or their grant revoked or ended, and
    confirmed off the lock (or never on it). An over code's slot and PIN are free again."""

    codes: list[KeypadCode] = field(default_factory=list)
    over: set[uuid.UUID] = field(default_factory=set)


async def _codes_on(db: AsyncSession, device_id: uuid.UUID, now: datetime) -> _Taken:
    rows = (await db.execute(select(KeypadCode, Grant).join(Grant, Grant.id == KeypadCode.grant_id)
                             .where(KeypadCode.device_id == device_id))).all()
    return _Taken([code for code, _ in rows], {
        code.id for code, grant in rows
        if (code.desired == "removed" or grant.revoked_at is not None or grant.ends_at < now)
        and code.sync_state in ("cleared", "pending", "unsupported")})


def _free_slot(taken: _Taken) -> tuple[int | None, KeypadCode | None]:
    """A slot no code holds; else the slot of the oldest code that is over, with that code's row to delete."""
    used = {c.slot for c in taken.codes}
    free = next((s for s in SLOTS if s not in used), None)
    if free is not None:
        return free, None
    done = sorted((c for c in taken.codes if c.id in taken.over), key=lambda c: c.updated_at)
    return (done[0].slot, done[0]) if done else (None, None)


def row_of(code: KeypadCode) -> Row:
    """What a code's sealed PIN is bound to."""
    return Row(code.id, code.grant_id, code.device_id, code.slot)


def _readable(box: PinBox, codes: list[KeypadCode]) -> set[str]:
    """The PINs of these codes; one that does not open is left out (the sync marks its code failed)."""
    pins: set[str] = set()
    for code in codes:
        try:
            pins.add(box.open(code.pin_sealed, row_of(code)))
        except PinError:
            continue
    return pins


def _random_pin(avoid: set[str]) -> str:
    while True:
        pin = f"{secrets.randbelow(10 ** rules.GENERATED_LENGTH):0{rules.GENERATED_LENGTH}d}"
        if not rules.guessable(pin) and pin not in avoid:
            return pin


def _window(grant: Grant, allowed: list[str]) -> rules.GrantWindow:
    return rules.GrantWindow(grant.starts_at, grant.ends_at, grant.revoked_at is not None, grant.rrule,
                             grant.duration_minutes, grant.timezone,
                             not allowed or str(grant.entry_point_id) in allowed)


Send = tuple[uuid.UUID, int, str | None]


# What the household reads when a stored PIN does not open (the log line says why, for the operator).
UNREADABLE = "The stored PIN cannot be read with this installation's keypad key; remove the code and add a new one."


async def sync(db: AsyncSession, sink: KeypadSink, box: PinBox, now: datetime,
               device_id: uuid.UUID | None = None) -> list[Send]:
    """One sync turn over every code that may need work (or one lock's): state, desired and audit records are
    written here; the commands to send after the commit are returned, a `set` with the PIN opened for it."""
    q = (select(KeypadCode, Grant).join(Grant, Grant.id == KeypadCode.grant_id)
         .where(or_(KeypadCode.sync_state.in_(_IN_FLUX), KeypadCode.desired == "present",
                    and_(KeypadCode.desired != "removed", Grant.revoked_at.is_(None), Grant.ends_at >= now)))
         .order_by(KeypadCode.id).with_for_update(skip_locked=True, of=KeypadCode))
    if device_id is not None:
        q = q.where(KeypadCode.device_id == device_id)
    allowed: dict[uuid.UUID, list[str]] = {}
    sends: list[Send] = []
    for code, grant in (await db.execute(q)).all():
        lock = sink.keypad(code.device_id)
        if lock is None:
            continue  # another worker's lock
        if code.home_id not in allowed:
            home_rules = await db.get(HomeRules, code.home_id)
            allowed[code.home_id] = list(home_rules.allowed_entry_points) if home_rules else []
        want = "removed" if code.desired == "removed" else rules.wanted(_window(grant, allowed[code.home_id]), now)
        view = rules.LockView(lock.capable, lock.online, lock.slots.get(code.slot))
        done = rules.step(rules.CodeView(want, code.sync_state, code.attempts, code.updated_at), view, now)
        if want != code.desired:
            code.desired = want
        if done.send == "set":
            try:
                sends.append((code.device_id, code.slot, box.open(code.pin_sealed, row_of(code))))
            except PinError as exc:
                log.error("keypad.unreadable", keypad=str(code.id), error=str(exc))
                done = rules.Step("failed", code.attempts, audit="keypad.failed", detail=UNREADABLE, touched=True)
        elif done.send:
            sends.append((code.device_id, code.slot, None))
        if done.sync_state == code.sync_state and done.attempts == code.attempts and not done.touched:
            continue
        code.sync_state, code.attempts = done.sync_state, done.attempts
        if done.touched:
            code.updated_at = now
        if done.synced:
            code.synced_at = now
        code.detail = done.detail if done.sync_state in ("failed", "unsupported") else None
        if done.audit:
            await audit.append(db, code.home_id, "keypad", done.audit, f"keypad:{code.id}",
                               {"device": str(code.device_id), "slot": code.slot, "grant": str(code.grant_id),
                                "attempts": done.attempts, **({"detail": done.detail} if done.detail else {})}, now)
        log.info("keypad.step", keypad=str(code.id), state=done.sync_state, attempts=done.attempts, send=done.send)
    return sends


class KeypadSync:
    """Runs sync turns: every `interval` seconds from the worker, and for one lock when its keypad reports."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], sink: KeypadSink,
                 clock: Callable[[], datetime], box: PinBox, interval: float = INTERVAL) -> None:
        self.sessions = sessions
        self.sink = sink
        self.box = box
        self.clock = clock
        self.interval = interval
        self.turns = 0
        # One turn at a time in this process: a periodic turn and a report's turn must not both send a command.
        self._one = asyncio.Lock()

    async def turn(self) -> int:
        """A sync turn over every code; returns how many commands left."""
        return await self._turn(None)

    async def on_codes(self, device_id: uuid.UUID) -> None:
        """A lock reported its keypad slots: confirm (or retry) its codes now rather than at the next turn."""
        await self._turn(device_id)

    async def _turn(self, device_id: uuid.UUID | None) -> int:
        async with self._one:
            async with self.sessions() as db:
                sends = await sync(db, self.sink, self.box, self.clock(), device_id)
                await db.commit()
            sent = 0
            for device, slot, pin in sends:
                sent += await self.sink.send_code(device, slot, pin)
            self.turns += 1
            return sent
