"""The broker-outage scenario: the MQTT broker goes away while a door is open, then comes back."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from threshold.devices.mqtt import MqttGateway
from threshold.homes.models import Device
from threshold.sim.driver import TERMINAL
from threshold.sim.harness import Harness
from threshold.sim.outcome import Result, common, enter, eventually, expect_unsecured


async def broker_outage(h: Harness) -> Result:
    """Broker lost mid-session: devices unavailable, no entry anywhere, the open door ends unsecured with
    the household told; when the broker returns, the door is relocked and confirmed."""
    res = Result("broker-outage")
    if h.broker is None or not isinstance(h.app.state.gateway, MqttGateway):
        res.expect(False, "needs devices on a broker the harness started (mqtt='embedded' or 'mosquitto')")
        return res
    hub, home, other = h.app.state.hub, h.world.homes[0], h.world.homes[2]
    async with h.app.state.sessions() as db:
        lock_id = (await db.execute(select(Device.id).where(Device.address == home.lock))).scalar_one()
    driver, session_id = await enter(h, res, home)
    if session_id is None:
        return res

    await h.broker.stop()
    res.expect(await eventually(lambda: hub.online.get(lock_id) is False, 10), "lock not marked unavailable")
    unlocks_before = h.commands_to(other.lock, "unlock")
    await driver.finish(session_id)
    ended = await driver.until(session_id, TERMINAL, timeout=30)
    res.facts.update(session=ended["state"], reason=ended.get("reason"))
    res.expect(ended["state"] == "unsecured", f"session ended {ended['state']}, not unsecured")

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
    relocked = await eventually(lambda: h.gateway.state(home.lock) == "locked", 30)
    res.expect(relocked, f"door not relocked after the broker returned: {h.gateway.state(home.lock)}")
    res.expect(await eventually(lambda: hub.online.get(lock_id) is True, 10), "lock not available again")
    # The incident stays open for a person to close, though the door is locked again.
    await expect_unsecured(h, res, home.id)
    await common(h, res)
    return res
