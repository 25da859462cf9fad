"""SIGKILL a real `threshold worker` in the middle of a burst of events: after a restart every household member
hears of every event, each under one Message-ID, and only mail in flight at the kill can arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from threshold.db import make_engine, make_sessionmaker, utcnow
from threshold.notify.email import message_id
from threshold.notify.mailcatcher import MailCatcher
from threshold.notify.models import Notification, OutboxMessage
from threshold.notify.outbox import enqueue
from threshold.sim import neighbourhood

HOMES = 6
EVENTS = 300  # "delivery.completed" by a driver: email only, one per household member
TRANSACTIONS = 3
CONCURRENCY = 16  # the dispatcher's, set below: at most this many mails can be in flight at the kill
KILL_AFTER = 40  # mails received before the kill: some, never all


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "threshold", "worker"], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def _tail(log: Path) -> str:
    return "\n" + log.read_text()[-3000:] if log.exists() else ""


async def _until(done: Callable[[], Awaitable[bool]], proc: subprocess.Popen[bytes], log: Path, timeout: float,
                 what: str) -> None:
    """Poll `done()` until true; fail with the worker's log if the worker dies or time runs out."""
    end = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < end:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode} while waiting for {what}" + _tail(log))
        if await done():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + _tail(log))


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_sigkilled_worker_loses_no_mail_and_repeats_only_what_was_in_flight(
        database_url: str, mail_catcher: MailCatcher, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as db:
        world = await neighbourhood.build(db, homes=HOMES, drivers=1)
        await db.commit()
    member = {h.id: h.member_email for h in world.homes}
    env = {**os.environ, "THRESHOLD_DATABASE_URL": database_url, "THRESHOLD_MODE": "test",
           "THRESHOLD_SECRET_KEY": "outbox-crash-" + uuid.uuid4().hex * 2, "THRESHOLD_VIDEO": "false",
           "THRESHOLD_SMTP_HOST": "127.0.0.1", "THRESHOLD_SMTP_PORT": str(mail_catcher.port),
           "THRESHOLD_OUTBOX_LEASE": "3", "THRESHOLD_OUTBOX_CONCURRENCY": str(CONCURRENCY),
           "THRESHOLD_OUTBOX_INTERVAL": "0.05"}
    log = tmp_path / "worker.log"
    proc = _worker(env, log)
    try:
        events: dict[str, uuid.UUID] = {}  # event id -> home
        per_tx = EVENTS // TRANSACTIONS
        for t in range(TRANSACTIONS):
            async with sessions() as db, db.begin():
                now = utcnow()
                for i in range(t * per_tx, (t + 1) * per_tx):
                    home = world.homes[i % HOMES]
                    msg = enqueue(db, "household", "delivery.completed", home.id,
                                  {"session": None, "home": str(home.id), "delivery": None, "actor": "driver"},
                                  f"crash-burst:{i}:{uuid.uuid4().hex[:8]}", now)
                    await db.flush()
                    events[str(msg.id)] = home.id
        async def some_arrived() -> bool:
            return mail_catcher.raw_count >= KILL_AFTER

        await _until(some_arrived, proc, log, 120, f"{KILL_AFTER} mails")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        at_kill = mail_catcher.raw_count
        async with sessions() as db:
            recorded = (await db.execute(select(func.count()).select_from(Notification)
                                         .where(Notification.status == "sent"))).scalar_one()
        assert at_kill < EVENTS, f"all {at_kill} mails arrived before the kill: the crash tested nothing"

        async def all_sent() -> bool:
            async with sessions() as db:
                rows = (await db.execute(select(Notification.status, func.count()).group_by(Notification.status)))
                counts = dict(rows.tuples().all())
            return counts.get("sent", 0) == EVENTS and sum(counts.values()) == EVENTS

        proc = _worker(env, log)
        await _until(all_sent, proc, log, 120, "every notification to be sent after the restart")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    async with sessions() as db:
        notes = (await db.execute(select(Notification))).scalars().all()
        unsent = (await db.execute(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.sent_at.is_(None)))).scalar_one()
    await engine.dispose()
    expected = {(event, member[home]) for event, home in events.items()}
    assert unsent == 0
    assert len(notes) == len(expected)
    assert {(str(n.outbox_id), n.recipient) for n in notes} == expected
    assert all(n.channel == "email" for n in notes)
    assert [n for n in notes if n.status != "sent" or n.attempts != 1 or n.last_error] == []

    identities: dict[tuple[str, str], set[str]] = defaultdict(set)
    for mail in mail_catcher.messages():  # one per Message-ID
        assert mail.key is not None and mail.message_id == message_id(mail.key), mail
        for rcpt in mail.rcpt_tos:
            identities[(mail.key.split(":", 1)[0], rcpt)].add(mail.message_id)
    lost = expected - identities.keys()
    assert not lost, f"{len(lost)} of {len(expected)} (event, recipient) pairs never arrived"
    assert identities.keys() == expected, "mail arrived for an event or recipient nobody expected"
    renamed = {pair: ids for pair, ids in identities.items() if len(ids) > 1}
    assert not renamed, f"{len(renamed)} events reached a recipient under two Message-IDs"
    repeats = mail_catcher.raw_count - len(mail_catcher.messages())
    assert repeats <= CONCURRENCY, (
        f"{repeats} raw SMTP repeats (same Message-ID twice) for {EVENTS} notifications; at the kill {at_kill} "
        f"were received and {recorded} recorded as sent; only the {CONCURRENCY} in flight may repeat")
    print(f"raw SMTP repeats after SIGKILL: {repeats} (bound {CONCURRENCY}); at the kill {at_kill} received, "
          f"{recorded} recorded as sent")
