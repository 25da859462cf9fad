"""The soak: deliveries with mishaps pass every check; the checks themselves catch what they are for; simulated
drivers outlive their tokens."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from threshold.access.models import Incident
from threshold.sim import soak
from threshold.sim.driver import DriverApp, deliver
from threshold.sim.harness import running


async def test_a_soak_of_deliveries_with_mishaps_passes_every_check(database_url: str) -> None:
    # Bounded by deliveries, not time; tokens live 20 s, so a run that takes longer renews them on the way.
    summary = await soak.soak(budget=24, seed=3, database_url=database_url, show=False, token_ttl_seconds=20)
    assert summary["deliveries"] == 24, summary
    assert summary["checks"] == {"invariants_broken": [], "token_expired": [], "false_alarms": [],
                                 "missing_all_clears": [], "server_errors": []}, summary["checks"]
    assert summary["ok"] is True
    assert summary["outcomes"].get("completed", 0) > 0, summary
    assert "error" not in summary["outcomes"], summary
    # Every door left unsecured raised an alarm that the devices' log justified, then cleared.
    assert summary["alarms"] >= summary["incidents"].get("unsecured", 0), summary


def _log(*entries: tuple[float, str]) -> list[tuple[float, str, str]]:
    return [(t, "front-lock", what) for t, what in entries]


def _alarm(at: datetime) -> soak.Alarm:
    return soak.Alarm("door.unsecured", at, (("front-lock", "lock"),))


def _clocks(wall: datetime) -> soak.Clocks:
    return soak.Clocks([(wall, 100.0)])  # wall time `wall` is 100.0 on the log's clock


def test_an_alarm_with_no_unlocked_door_in_the_devices_log_is_a_false_alarm() -> None:
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    # The door was unlocked for a delivery and locked again well before the message.
    log = _log((90.0, "unlock"), (90.1, "=unlocked"), (95.0, "lock"), (95.0, "=locking"), (95.2, "=locked"))
    found = soak.false_alarms([_alarm(wall)], log, _clocks(wall), deadline=1.0)
    assert len(found) == 1 and "front-lock" in found[0]
    # A door that never moved at all.
    assert soak.false_alarms([_alarm(wall)], [], _clocks(wall), deadline=1.0)


def test_an_alarm_while_the_door_is_being_relocked_in_time_is_a_false_alarm() -> None:
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    # The background check saw it unlocked 200 ms before the entry's own relock completed.
    log = _log((90.0, "unlock"), (90.1, "=unlocked"), (99.9, "lock"), (99.9, "=locking"), (100.2, "=locked"))
    assert soak.false_alarms([_alarm(wall)], log, _clocks(wall), deadline=1.0)


def test_alarms_for_doors_truly_left_open_are_not_false() -> None:
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    jammed = _log((90.0, "unlock"), (90.1, "=unlocked"), (98.0, "lock"), (98.0, "=locking"), (98.1, "=jammed"),
                  (100.5, "=locked"))  # someone at the house freed it after the message
    never_answered = _log((90.0, "unlock"), (90.1, "=unlocked"), (98.5, "lock"))
    opened_by_hand = _log((99.0, "=unlocked"))
    for log in (jammed, never_answered, opened_by_hand):
        assert soak.false_alarms([_alarm(wall)], log, _clocks(wall), deadline=1.0) == [], log
    # The alarm's wall time is placed on the log's clock through the nearest pair of readings.
    later = soak.Clocks([(wall, 100.0), (wall + timedelta(hours=1), 3700.5)])
    assert later.loop_time(wall + timedelta(hours=1, seconds=2)) == 3702.5


async def test_an_incident_without_its_all_clear_is_reported() -> None:
    async with running(homes=2, drivers=1) as h:
        since = datetime.now(UTC) - timedelta(seconds=1)
        async with h.app.state.sessions() as db:
            db.add(Incident(id=uuid.uuid4(), home_id=h.world.homes[0].id, kind="unsecured", status="open",
                            opened_at=datetime.now(UTC), detail={}))
            await db.commit()
            missing = await soak.missing_all_clears(db, since)
            kinds = list((await db.execute(select(Incident.kind))).scalars())
        assert kinds == ["unsecured"]
        assert len(missing) == 1 and "unsecured" in missing[0]


async def test_a_simulated_driver_renews_an_expiring_token_and_signs_in_again_after_a_refusal() -> None:
    async with running(homes=2, drivers=1, token_ttl_seconds=2) as h:
        driver_id, email = h.world.drivers[0]
        app = DriverApp(h.client, email, h.world.password)
        await app.sign_in()
        assert app.sign_ins == 1
        loop = asyncio.get_running_loop()
        # Renewed before use once its renewal time has come, never refused on the way.
        await asyncio.sleep(max(0.0, app.renew_at - loop.time()))  # until the renewal time the app noted
        run = await deliver(h.partner, app, driver_id, h.world.homes[1])
        assert run.outcome == "completed", run
        assert app.sign_ins >= 2
        # A token the server already finds expired (the app did not see it coming): signed in again, sent again.
        app.renew_at = float("inf")
        stale = app.headers
        deadline = loop.time() + 30
        while (await h.client.get("/v1/driver/stops", headers=stale)).status_code != 401:
            assert loop.time() < deadline, "the token never expired"
            await asyncio.sleep(0.1)
        before = app.sign_ins
        assert run.session_id is not None
        seen = await app.state(run.session_id)
        assert seen["state"] == "done"
        assert app.sign_ins == before + 1
