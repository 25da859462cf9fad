"""Notifications through the running app: preferences, a partner's signed webhooks, the driver on the way,
the morning message, the guest moments, and the operator's dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fake_twilio import serve
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threshold.deliveries import reminders
from threshold.notify.models import Notification
from threshold.notify.webhooks import WebhookVerificationError, verify
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually


async def _sent(h: Harness, moment: str) -> list[Notification]:
    async with h.app.state.sessions() as db:
        q = select(Notification).where(Notification.moment == moment, Notification.status == "sent")
        return list((await db.execute(q)).scalars())


async def test_household_chooses_channels_per_moment_and_bad_choices_change_nothing() -> None:
    async with running(homes=1) as h:
        headers = await h.member_headers(0)
        r = await h.client.get("/v1/household/notifications", headers=headers)
        assert r.status_code == 200 and r.json()["channels"]["door_not_relocked"] == ["email", "sms"]
        r = await h.client.put("/v1/household/notifications", headers=headers,
                               json={"channels": {"delivered": ["sms"], "nonsense": ["email"]}})
        assert r.status_code == 422 and r.json()["code"] == "bad_preference"
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await h.client.put("/v1/household/notifications", headers=headers,
                               json={"channels": {"delivered": ["email", "carrier-pigeon"]}})
        assert r.status_code == 422 and r.json()["invalid"] == ["delivered:carrier-pigeon"]
        assert (await h.client.get("/v1/household/notifications", headers=headers)).json()["channels"][
            "delivered"] == ["email"]
        r = await h.client.put("/v1/household/notifications", headers=headers,
                               json={"channels": {"delivered": ["sms"]}})
        assert r.status_code == 200 and r.json()["channels"]["delivered"] == ["sms"]

        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
        assert run.outcome == "completed"
        sms = await h.mail.wait_for(lambda m: m.rcpt_tos[0].endswith("@sms.threshold.local"), timeout=10)
        assert "/clip?" in (sms.text or "")
        assert not [m for m in h.mail.messages() if m.moment == "delivered"]  # no email: the household said so


async def test_partner_webhooks_are_signed_and_verify_at_the_receiver() -> None:
    received: list[dict[str, Any]] = []
    secret: dict[str, str] = {}

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            verify(secret["value"], request.headers, body, now=int(datetime.now(UTC).timestamp()))
        except WebhookVerificationError:
            return Response(status_code=401)
        received.append({"id": request.headers["webhook-id"], **json.loads(body)})
        return Response(status_code=204)

    # The receiver is on loopback: the operator's allow-list lets webhooks reach it, as it would an own network.
    async with serve(Starlette(routes=[Route("/hooks", hook, methods=["POST"])])) as url, \
            running(homes=1, webhook_allow_networks=["127.0.0.0/8"]) as h:
        key = {"X-API-Key": h.world.api_key}
        r = await h.client.post("/v1/webhooks", headers=key, json={"url": "ftp://nowhere", "moments": []})
        assert r.status_code == 422
        r = await h.client.post("/v1/webhooks", headers=key, json={"url": f"{url}/hooks", "moments": ["tea"]})
        assert r.status_code == 422 and r.json()["code"] == "bad_preference"
        r = await h.client.post("/v1/webhooks", headers=key, json={"url": f"{url}/hooks"})
        assert r.status_code == 201
        secret["value"] = r.json()["secret"]
        assert secret["value"].startswith("whsec_")
        listed = (await h.client.get("/v1/webhooks", headers=key)).json()
        assert len(listed) == 1 and listed[0]["secret"] is None

        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
        assert await eventually(lambda: any(e["type"] == "delivery.completed" for e in received), timeout=10)
        event = next(e for e in received if e["type"] == "delivery.completed")
        assert event["moment"] == "delivered" and event["data"]["delivery"] == run.delivery_id
        assert "clip_url" not in event["data"]  # clip links are for the household only
        r = await h.client.delete(f"/v1/webhooks/{listed[0]['id']}", headers=key)
        assert r.status_code == 204


async def test_driver_on_the_way_and_the_morning_window_are_told_once() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        # Later today in the home's zone (Berlin): two hours ahead, or a few minutes ahead late in the evening, so
        # the morning's look below finds it on its own local day whatever the hour this test runs at.
        start = datetime.now(UTC) + timedelta(hours=2)
        if start.astimezone(ZoneInfo("Europe/Berlin")).date() != datetime.now(ZoneInfo("Europe/Berlin")).date():
            start = datetime.now(UTC) + timedelta(minutes=3)
        r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-WAY-1")
        delivery = r.json()["id"]
        async with h.app.state.sessions() as db:
            from threshold.deliveries.models import Delivery

            await db.execute(update(Delivery).values(window_start=start, window_end=start + timedelta(hours=2)))
            await db.commit()
        driver = await h.driver(0)
        for _ in range(2):
            r = await h.client.post(f"/v1/driver/deliveries/{delivery}/on-the-way", headers=driver.headers,
                                    json={"eta_minutes": 12})
            assert r.status_code == 200
        r = await h.client.post(f"/v1/driver/deliveries/{delivery}/on-the-way", headers=driver.headers,
                                json={"eta_minutes": -3})
        assert r.status_code == 422
        other = await h.driver(1)
        r = await h.client.post(f"/v1/driver/deliveries/{delivery}/on-the-way", headers=other.headers,
                                json={"eta_minutes": 5})
        assert r.status_code == 404
        await h.mail.wait_for(lambda m: m.moment == "driver_on_way", timeout=10)

        now = datetime.now(UTC)
        async with h.app.state.sessions() as db, db.begin():
            first = await reminders.window_today(db, now, morning_hour=0)
        async with h.app.state.sessions() as db, db.begin():
            again = await reminders.window_today(db, now, morning_hour=0)
        assert (first, again) == (1, 0)
        await h.mail.wait_for(lambda m: m.moment == "window_today", timeout=10)
        assert len(await _sent(h, "driver_on_way")) == 1


def test_the_morning_message_waits_for_the_local_morning_of_the_window_day() -> None:
    start = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 15:00 in Berlin
    assert reminders.due(start, datetime(2026, 11, 23, 6, 30, tzinfo=UTC), "Europe/Berlin", 7)  # 07:30 local
    assert not reminders.due(start, datetime(2026, 11, 23, 5, 30, tzinfo=UTC), "Europe/Berlin", 7)  # 06:30
    assert not reminders.due(start, datetime(2026, 11, 22, 20, 0, tzinfo=UTC), "Europe/Berlin", 7)  # day before
    assert not reminders.due(start, datetime(2026, 11, 23, 14, 1, tzinfo=UTC), "Europe/Berlin", 7)  # too late


async def test_operator_sees_and_replays_dead_letters_and_others_cannot() -> None:
    async with running(homes=1) as h:
        r = await h.client.post("/v1/ops/token", json={"email": h.world.operator_email, "password": "wrong"})
        assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
        r = await h.client.post("/v1/ops/token", json={"email": h.world.operator_email,
                                                         "password": h.world.password})
        ops = {"Authorization": f"Bearer {r.json()['access_token']}"}
        member = await h.member_headers(0)
        assert (await h.client.get("/v1/ops/notifications/dead", headers=member)).status_code == 401

        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=0.1)
        assert run.outcome == "completed"
        await h.mail.wait_for(lambda m: m.moment == "delivered", timeout=10)

        async def recorded() -> bool:
            return bool(await _sent(h, "delivered"))

        assert await eventually(recorded, timeout=10)
        async with h.app.state.sessions() as db:
            await db.execute(update(Notification).values(status="dead", dead_at=datetime.now(UTC),
                                                         last_error="refused: 550"))
            await db.commit()
        dead = (await h.client.get("/v1/ops/notifications/dead", headers=ops)).json()
        assert dead and dead[0]["last_error"] == "refused: 550"
        before = h.mail.raw_count  # the replay carries the same Message-ID, so the catcher keeps one
        r = await h.client.post(f"/v1/ops/notifications/{dead[0]['id']}/replay", headers=ops)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert await eventually(lambda: h.mail.raw_count > before, timeout=10)
        r = await h.client.post(f"/v1/ops/notifications/{dead[0]['id']}/replay", headers=ops)
        assert r.status_code == 404 and r.json()["code"] == "dead_letter_not_found"
        counts = (await h.client.get("/v1/ops/notifications/counts", headers=ops)).json()
        assert counts["dead"] == len(dead) - 1


async def test_a_guest_entering_and_leaving_is_told_with_the_guest_named() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]
        now = h.clock()
        body = {"guest_name": "Pet sitter", "entry_point_id": str(home.front_door),
                "starts_at": (now - timedelta(minutes=5)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(), "timezone": "Europe/Berlin"}
        r = await h.client.post(f"/v1/homes/{home.id}/guest-grants", headers=await h.member_headers(0), json=body)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        r = await h.client.post("/v1/guest/entries", json={"token": token})
        assert r.status_code == 200 and r.json()["state"] == "open", r.text
        entered = await h.mail.wait_for(lambda m: m.moment == "guest_entered", timeout=10)
        assert "Pet sitter" in (entered.text or "")
        r = await h.client.post(f"/v1/guest/entries/{r.json()['id']}/finish", json={"token": token})
        assert r.status_code == 200
        left = await h.mail.wait_for(lambda m: m.moment == "guest_left", timeout=10)
        assert "Pet sitter" in (left.text or "") and "/clip?" in (left.text or "")
        assert not [m for m in h.mail.messages() if m.moment == "delivered"]
