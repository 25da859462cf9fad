"""The demo over HTTP: the visitor's own driver with stops and barcodes on the front page, every sign-in listed,
the demo location only in the demo, the site's icon, and the mail catcher showing SMS as SMS."""

from __future__ import annotations

from datetime import UTC, datetime

from pages import client, hidden

from threshold.notify.mailcatcher import mail_router
from threshold.notify.sms import MailSms
from threshold.sim.harness import Harness, running
from threshold.sim.portal_seed import demo_stops, keep_demo_stops, seed_demo_driver


async def as_demo(h: Harness) -> None:
    """Make the harness's app the demo: the visitor's driver, their stops, and the world on the app."""
    async with h.app.state.sessions() as db:
        await seed_demo_driver(db, h.world)
        await db.commit()
    h.app.state.demo_world = h.world
    assert await keep_demo_stops(h.app.state.sessions, h.partner, h.world) == len(h.world.human_homes)


async def test_the_front_page_shows_the_visitors_stops_with_barcodes_and_every_sign_in() -> None:
    async with running(homes=4, drivers=2) as h, client(h) as b:
        await as_demo(h)
        assert h.world.demo_driver is not None
        async with h.app.state.sessions() as db:
            stops = await demo_stops(db, h.world, datetime.now(UTC))
        assert {s.delivery.home_id for s in stops} == {h.world.homes[i].id for i in h.world.human_homes}
        assert all(s.delivery.mode == "in_home" for s in stops)
        # Kept, not piled up: a second round finds every home covered.
        assert await keep_demo_stops(h.app.state.sessions, h.partner, h.world) == 0
        page = (await b.get("/demo")).text
        for s in stops:
            assert s.address in page and s.delivery.packages[0].barcode in page
        for _, email in h.world.sign_ins():
            assert email in page
        assert h.world.operator_email in page and h.world.demo_driver[1] in page
        assert f"Watch deliveries into {h.world.homes[0].address} happen live" in page
        # One click as the driver is the visitor's own account, whose stops these are.
        r = await b.post("/demo/as/driver", data={"pre": hidden(page, "pre")})
        assert r.headers["location"] == "/driver"
        listed = (await b.get("/driver")).text
        assert all(s.address in listed for s in stops)


async def test_the_demo_location_is_offered_only_in_the_demo() -> None:
    async with running(homes=2, drivers=1) as h, client(h) as b:
        home = h.world.homes[1]
        r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-DEMO-LOC-1")
        delivery_id = r.json()["id"]
        signin = await b.get("/driver/signin")
        r = await b.post("/driver/signin", data={"email": h.world.drivers[0][1], "password": h.world.password,
                                                 "pre": hidden(signin.text, "pre"), "next": "/driver"})
        assert r.status_code == 303, r.text
        stop = (await b.get(f"/driver/stops/{delivery_id}")).text
        assert "Ask for entry" in stop and "Use the demo location" not in stop
        h.app.state.demo_world = h.world
        stop = (await b.get(f"/driver/stops/{delivery_id}")).text
        assert "Use the demo location" in stop
        assert f'data-lat="{home.lat}"' in stop and f'data-lon="{home.lon}"' in stop


async def test_the_site_has_an_icon() -> None:
    async with running(homes=1, drivers=1) as h, client(h) as b:
        r = await b.get("/favicon.ico")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.startswith("<svg")


async def test_the_mail_page_lists_newest_first_and_shows_an_sms_as_an_sms() -> None:
    async with running(homes=1, drivers=1) as h, client(h) as b:
        h.app.include_router(mail_router(h.mail))
        await MailSms("127.0.0.1", h.mail.port).send_sms("+15550001111", "Your door is locked again.", "k-sms-1")
        await h.mail.wait_for(lambda m: m.key == "k-sms-1", timeout=10)
        page = (await b.get("/mail")).text
        assert "SMS" in page and "+15550001111" in page and "Your door is locked again." in page
        one = h.mail.by_key()["k-sms-1"]
        detail = (await b.get(f"/mail/{one.index}")).text
        assert "SMS to +15550001111" in detail and "Your door is locked again." in detail
        listed = (await b.get("/mail.json")).json()
        assert listed[0]["kind"] == "sms"
