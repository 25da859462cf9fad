"""Keypad PIN codes (pure): when a guest's code belongs on the lock, what the next sync step is, which PINs are
too easy to guess.

A code is on the lock only while its guest grant lets the guest in: inside an occurrence of a recurring schedule,
or inside a one-time window, and never after the grant is revoked or has expired. It goes on a short lead time
before a visit starts (`LEAD`): a battery lock polls its radio only every few seconds, a Zigbee mesh or a broker
has bad minutes, and a guest who arrives a little early must not stand at a keypad that refuses them; fifteen
minutes covers that and is short enough that the code is no use to anyone long before the visit.

Sync is level-based: each turn compares what the lock should hold with what it last reported for the slot, so a
lost command or a lost confirmation only costs a retry. Commands wait for the lock's own report; nothing is
counted as done because a command was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from threshold.access.schedule import next_occurrences, within_schedule

LEAD = timedelta(minutes=15)
# Tries per change before a person must look: 10 s, 20 s, 40 s, 80 s apart, about two and a half minutes.
MAX_ATTEMPTS = 5
BACKOFF = timedelta(seconds=10)
BACKOFF_CAP = timedelta(minutes=5)
PIN_MIN, PIN_MAX, GENERATED_LENGTH = 4, 8, 6
# `removed`: the household took the code away; it never goes back on the lock (absent for good).
ABSENT = ("absent", "removed")
# The most common PINs people choose (the DataGenetics study of leaked PINs), beyond the patterns below.
COMMON = frozenset({"1004", "2000", "6969", "2001", "1122", "1313", "4321", "1010", "2580", "0852", "1357",
                    "2468", "1379", "159753", "753951", "112233", "123321", "654321", "147258", "123654"})


@dataclass(frozen=True, slots=True)
class GrantWindow:
    """What the rule needs of a guest grant."""

    starts_at: datetime
    ends_at: datetime
    revoked: bool
    rrule: str | None = None
    duration_minutes: int | None = None
    timezone: str = "UTC"
    entry_allowed: bool = True  # the household's rules still allow the grant's entry point


@dataclass(frozen=True, slots=True)
class CodeView:
    """What the sync step needs of a stored code."""

    desired: str
    sync_state: str
    attempts: int
    since: datetime  # when the state last changed or a command last left


@dataclass(frozen=True, slots=True)
class LockView:
    """What the sync step needs of the lock: as `devices.ports.KeypadLock`, for this code's slot."""

    capable: bool
    online: bool
    slot: str | None  # enabled, available, disabled, or None when the lock has not said since our last command


@dataclass(frozen=True, slots=True)
class Step:
    """One sync decision: the code's next state, the command to send (set/clear) and the fact to audit."""

    sync_state: str
    attempts: int
    send: str | None = None
    audit: str | None = None
    detail: str | None = None
    synced: bool = False
    touched: bool = False  # `since` moves to now (a command left, or the state changed)


def wanted(grant: GrantWindow, now: datetime, lead: timedelta = LEAD) -> str:
    """`present` while the grant lets the guest in (from `lead` before a visit), else `absent`."""
    if grant.revoked or not grant.entry_allowed or now > grant.ends_at or now < grant.starts_at - lead:
        return "absent"
    if grant.rrule is None:
        return "present"
    duration = grant.duration_minutes or 0
    if within_schedule(grant.rrule, grant.starts_at, duration, grant.timezone, now, grant.ends_at):
        return "present"
    # The next visit's start, on the household's wall clock (DST moves it in UTC, not at home).
    upcoming = next_occurrences(grant.rrule, grant.starts_at, grant.timezone, now, 1, grant.ends_at)
    return "present" if upcoming and upcoming[0] - now <= lead and upcoming[0] <= grant.ends_at else "absent"


def backoff(attempts: int) -> timedelta:
    """How long to wait for the lock's confirmation of try number `attempts` before trying again."""
    doubled: timedelta = BACKOFF * (1 << min(max(attempts - 1, 0), 10))
    return min(doubled, BACKOFF_CAP)


def step(code: CodeView, lock: LockView, now: datetime) -> Step:
    """The next sync step of one code, from what it should be, what it is, and what the lock last said."""
    state, tries = code.sync_state, code.attempts
    if not lock.capable:
        if state == "unsupported":
            return Step(state, tries)
        return Step("unsupported", 0, audit="keypad.unsupported", touched=True,
                    detail="This lock cannot hold keypad codes through its adapter.")
    present = code.desired == "present"
    target, going, command = ("on_lock", "setting", "set") if present else ("cleared", "clearing", "clear")
    confirmed = lock.slot == ("enabled" if present else "available")
    if not present and state in ("pending", "unsupported", "cleared"):
        return Step(state, tries)  # never sent, or confirmed gone: nothing of it can be on the lock
    if confirmed and state in (going, "failed"):
        # Only after our own command: the hub forgets a slot's status when a command for it leaves.
        return Step(target, 0, audit=f"keypad.{target}", synced=True, touched=True)
    if state == target:
        # The lock says the slot changed behind our back (at the keypad, or a reset): put it right again.
        lost = lock.slot is not None and not confirmed
        return _send(going, 1, command) if lost and lock.online else Step(state, tries)
    if not lock.online:
        return Step(state, tries)  # an offline lock cannot hear; no try is spent on it
    if state == "failed":
        if present:
            return Step(state, tries)  # a person looks first; the clear at the end of the visit starts afresh
        # A code that may still be on the lock keeps being cleared: slowly, and without a new failure each round.
        return _send(state, tries + 1, command) if now - code.since >= BACKOFF_CAP else Step(state, tries)
    if state != going:
        return _send(going, 1, command)
    if now - code.since < backoff(tries):
        return Step(state, tries)
    if tries >= MAX_ATTEMPTS:
        what = "set" if present else "clear"
        return Step("failed", tries, audit="keypad.failed", touched=True,
                    detail=f"The lock did not confirm the code; tried to {what} it {tries} times.")
    return _send(going, tries + 1, command)


def _send(state: str, tries: int, command: str) -> Step:
    return Step(state, tries, send=command, touched=True)


def pin_problem(pin: str) -> str | None:
    """Why a PIN a household typed cannot be used, or None."""
    if not pin.isascii() or not pin.isdigit():
        return "Use digits only."
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        return f"Use {PIN_MIN} to {PIN_MAX} digits."
    if guessable(pin):
        return "This PIN is too easy to guess (repeated digits, a run like 1234, or a very common PIN)."
    return None


def guessable(pin: str) -> bool:
    """True for PINs a stranger tries first: one digit repeated, a run up or down, a short pattern repeated."""
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if len(steps) == 1 and steps <= {0, 1, 9}:
        return True
    for period in range(1, len(pin) // 2 + 1):
        if len(pin) % period == 0 and pin == pin[:period] * (len(pin) // period):
            return True
    # Two digits mirrored (1221, 2112) are as easy to guess as a repeat.
    return pin in COMMON or (pin == pin[::-1] and len(set(pin)) <= 2)
