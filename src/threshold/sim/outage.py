"""The broker-outage scenario: the MQTT broker goes away while a door is open, then comes back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from sqlalchemy import select

from threshold.access.models import Incident
from threshold.devices.mqtt import MqttGateway
from threshold.homes.models import Device
from threshold.sim import scenarios
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


async def broker_outage(h: Harness) -> scenarios.Result:
    """Broker lost mid-session: devices unavailable, no entry anywhere, the open door ends unsecured with
    the household told; when the broker returns, the door is relocked and confirmed."""
    res = scenarios.Result("broker-outage")
    if h.broker is None or not isinstance(h.app.state.gateway, MqttGateway):
        res.expect(False, "needs devices on a broker the harness started (mqtt='embedded' or 'mosquitto')")
        return res
    hub, home, other = h.app.state.hub, h.world.homes[0], h.world.homes[2]
    async with h.app.state.sessions() as db:
        lock_id = (await db.execute(select(Device.id).where(Device.address == home.lock))).scalar_one()
    driver = await h.driver()
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(home, h.world.drivers[0][0], barcode=barcode)
    res.expect(r.status_code == 201, f"delivery not created: {r.status_code}")
    r = await driver.ask(r.json()["id"], barcode, home.lat, home.lon)
    session_id = r.json().get("id", "")
    opened = await driver.until(session_id, {"open"} | TERMINAL)
    res.expect(opened["state"] == "open", f"door never opened: {opened['state']}")

    await h.broker.stop()
    res.expect(await _until(lambda: hub.online.get(lock_id) is False, 10), "lock not marked unavailable")
    unlocks_before = h.commands_to(other.lock, "unlock")
    await driver.finish(session_id)
    ended = await driver.until(session_id, TERMINAL, timeout=30)
    res.facts.update(session=ended["state"], reason=ended.get("reason"))
    res.expect(ended["state"] == "unsecured", f"session ended {ended['state']}, not unsecured")
    res.expect(await scenarios._told(h, home.id, "door.unsecured"), "household not told")
    res.expect(await scenarios._told(h, home.id, "door.unsecured", "operator"), "operator not told")

    # No entry anywhere while the devices cannot be confirmed.
    await hub.flush()
    barcode = f"PKG-{uuid.uuid4().hex[:10]}"
    r = await h.partner.create(other, h.world.drivers[1][0], barcode=barcode)
    if r.status_code == 201:
        r = await (await h.driver(1)).ask(r.json()["id"], barcode, other.lat, other.lon)
    res.facts["ask_during_outage"] = (r.status_code, r.json().get("code"))
    res.expect(r.status_code >= 400 and r.json().get("code") == "device_offline",
               f"entry during the outage answered {r.status_code} {r.json().get('code')}")
    res.expect(h.commands_to(other.lock, "unlock") == unlocks_before, "an unlock was sent during the outage")

    await h.broker.start()
    relocked = await _until(lambda: h.gateway.state(home.lock) == "locked", 30)
    res.expect(relocked, f"door not relocked after the broker returned: {h.gateway.state(home.lock)}")
    res.expect(await _until(lambda: hub.online.get(lock_id) is True, 10), "lock not available again")
    async with h.app.state.sessions() as db:
        incidents = (await db.execute(select(Incident).where(Incident.home_id == home.id))).scalars().all()
    res.expect(any(i.kind == "unsecured" and i.status == "open" for i in incidents),
               "no open unsecured incident for a person to close")
    await scenarios._common(h, res)
    return res
