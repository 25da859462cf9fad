"""The outbox dispatcher on both databases: fan-out by preference, retries, dead letters, replay, leases,
and two dispatchers sharing one queue without sending anything twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from threshold.db import make_engine, make_sessionmaker
from threshold.notify.dispatch import Dispatcher, Policy, backoff
from threshold.notify.email import SmtpSender
from threshold.notify.fanout import LinkPolicy
from threshold.notify.mailcatcher import MailCatcher
from threshold.notify.models import Notification, NotificationPreference
from threshold.notify.outbox import enqueue
from threshold.notify.ports import Note, PermanentFailure, Sender
from threshold.notify.sms import MailSms, SmsSender
from threshold.sim import neighbourhood

LINKS = LinkPolicy("test-secret-" + "y" * 32, "http://threshold.test", timedelta(hours=1))


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Flaky:
    """Fails the first `failures` sends, then delivers; or refuses for good."""

    def __init__(self, failures: int = 0, permanent: bool = False) -> None:
        self.failures, self.permanent, self.sent = failures, permanent, []  # type: ignore[var-annotated]

    async def send(self, note: Note) -> None:
        if self.permanent:
            raise PermanentFailure("550 no such user")
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("smtp down")
        self.sent.append(note)


@pytest.fixture
async def world(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as db:
        w = await neighbourhood.build(db, homes=3, drivers=1)
        await db.commit()
    yield sessions, w
    await engine.dispose()


async def _event(sessions, home_id: uuid.UUID, topic: str = "delivery.completed", audience: str = "household",
                 now: datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        enqueue(db, audience, topic, home_id, {"home": str(home_id), "actor": "driver", "session": None,
                                               "delivery": None}, f"test:{uuid.uuid4()}",
                now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        await db.commit()


async def _rows(sessions) -> list[Notification]:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        return list((await db.execute(select(Notification))).scalars())


async def test_events_reach_each_member_on_the_channels_the_household_chose(world, mail_catcher: MailCatcher) \
        -> None:  # type: ignore[no-untyped-def]
    sessions, w = world
    home = w.homes[0]
    async with sessions() as db:
        from threshold.homes.models import Home

        household = (await db.get(Home, home.id)).household_id  # type: ignore[union-attr]
        db.add(NotificationPreference(household_id=household, moment="delivered", channels=["email", "sms"]))
        await db.commit()
    senders: dict[str, Sender] = {
        "email": SmtpSender("127.0.0.1", mail_catcher.port, "threshold <n@threshold.test>"),
        "sms": SmsSender(MailSms("127.0.0.1", mail_catcher.port))}
    d = Dispatcher(sessions, senders, LINKS, Clock())
    await _event(sessions, home.id)
    await _event(sessions, home.id, "door.unsecured", audience="operator")
    assert await d.run_once() == 3
    assert await d.run_once() == 0  # nothing twice
    got = mail_catcher.messages()
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(
        [home.member_email, w.operator_email, "15550000000@sms.threshold.local"])
    assert {m.moment for m in got if "@sms." not in m.rcpt_tos[0]} == {"delivered", "door_not_relocked"}
    assert all(r.status == "sent" and r.attempts == 1 for r in await _rows(sessions))


async def test_a_failing_channel_is_retried_with_backoff_then_dead_lettered_and_replayed(world) -> None:  # type: ignore[no-untyped-def]
    sessions, w = world
    clock = Clock()
    flaky = Flaky(failures=10)
    d = Dispatcher(sessions, {"email": flaky}, LINKS, clock, Policy(max_attempts=3))
    await _event(sessions, w.homes[0].id)
    assert await d.run_once() == 0
    [row] = await _rows(sessions)
    assert row.status == "pending" and row.attempts == 1 and "smtp down" in (row.last_error or "")
    assert row.available_at > clock.now  # not before its backoff
    assert await d.run_once() == 0 and (await _rows(sessions))[0].attempts == 1
    for _ in range(2):
        clock.now += timedelta(minutes=11)
        await d.run_once()
    [row] = await _rows(sessions)
    assert row.status == "dead" and row.attempts == 3 and flaky.sent == []

    from threshold.notify import service

    async with sessions() as db:
        assert [n.id for n in await service.dead_letters(db)] == [row.id]
        await service.replay(db, row.id, "operator:test", clock.now)
        await db.commit()
    flaky.failures = 0
    assert await d.run_once() == 1
    [row] = await _rows(sessions)
    assert row.status == "sent" and len(flaky.sent) == 1


async def test_a_permanent_refusal_is_dead_lettered_at_once(world) -> None:  # type: ignore[no-untyped-def]
    sessions, w = world
    d = Dispatcher(sessions, {"email": Flaky(permanent=True)}, LINKS, Clock())
    await _event(sessions, w.homes[0].id)
    await d.run_once()
    [row] = await _rows(sessions)
    assert row.status == "dead" and row.attempts == 1 and "550" in (row.last_error or "")


async def test_a_row_held_by_a_dead_worker_is_sent_once_its_lease_runs_out(world) -> None:  # type: ignore[no-untyped-def]
    sessions, w = world
    clock = Clock()
    sender = Flaky()
    d = Dispatcher(sessions, {"email": sender}, LINKS, clock, Policy(lease=timedelta(seconds=30)))
    await _event(sessions, w.homes[0].id)
    await d.expand_once()
    async with sessions() as db, db.begin():
        # A worker claims the row and dies before sending it.
        taken = await d._claim(db, clock.now, clock.now + timedelta(seconds=30))
    assert len(taken) == 1
    assert await d.deliver_once() == 0  # still leased
    clock.now += timedelta(seconds=31)
    assert await d.deliver_once() == 1
    assert [n.key for n in sender.sent] == [taken[0].key]


async def test_two_dispatchers_share_the_queue_and_send_each_notification_once(world, database_url: str) -> None:  # type: ignore[no-untyped-def]
    sessions, w = world
    for home in w.homes:
        for _ in range(20):
            await _event(sessions, home.id)

    class Slow(Flaky):
        async def send(self, note: Note) -> None:
            await asyncio.sleep(0.002)
            await super().send(note)

    a, b = Slow(), Slow()
    clock = Clock()
    one = Dispatcher(sessions, {"email": a}, LINKS, clock, Policy(batch=7))
    two = Dispatcher(sessions, {"email": b}, LINKS, clock, Policy(batch=7))
    for _ in range(40):
        await asyncio.gather(one.run_once(), two.run_once())
    keys = Counter(n.key for n in a.sent + b.sent)
    assert len(keys) == 60 and max(keys.values()) == 1
    if database_url.startswith("postgresql"):
        # SKIP LOCKED hands each its own rows; SQLite serialises writers, so one may win every claim there.
        assert a.sent and b.sent
    assert {r.status for r in await _rows(sessions)} == {"sent"}


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(1, jitter=0).total_seconds() == 2
    assert backoff(5, jitter=0).total_seconds() == 32
    assert backoff(30, jitter=0).total_seconds() == 600
    assert backoff(5, jitter=1).total_seconds() == 24
