"""Clips end to end: a delivery is recorded by ffmpeg, sealed into the audit chain, linked in the household's
email, viewable only by that household, and purged after retention unless held."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from threshold.audit.models import AuditRecord
from threshold.devices.simulated import Behaviour
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually
from threshold.video.models import Clip
from threshold.video.probe import probe


async def _clip(h: Harness, session_id: str, status: tuple[str, ...] = ("sealed", "partial")) -> Clip:
    found: list[Clip] = []

    async def reached() -> bool:
        async with h.app.state.sessions() as db:
            q = select(Clip).where(Clip.session_id == uuid.UUID(session_id))
            clip = (await db.execute(q)).scalar_one_or_none()
        if clip is not None and clip.status in status:
            found.append(clip)
        return bool(found)

    assert await eventually(reached, timeout=30), f"no clip in {status} for session {session_id}"
    return found[0]


async def _audit(h: Harness, home_id: uuid.UUID, action: str) -> list[AuditRecord]:
    async with h.app.state.sessions() as db:
        q = select(AuditRecord).where(AuditRecord.home_id == home_id, AuditRecord.action == action)
        return list((await db.execute(q)).scalars())


async def _delivered(h: Harness, home_index: int = 0, dwell: float = 1.5) -> str:
    home = h.world.homes[home_index]
    run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=dwell)
    assert run.outcome == "completed", run
    assert run.session_id is not None
    return run.session_id


async def test_a_delivery_is_recorded_sealed_and_linked_in_the_household_email() -> None:
    async with running(video=True, homes=2) as h:
        home = h.world.homes[0]
        session_id = await _delivered(h)
        clip = await _clip(h, session_id)
        assert clip.status == "sealed", clip.failure
        info = await probe(Path(clip.path))
        assert info.codec == "h264"
        assert info.duration >= 1.5
        digest = hashlib.sha256(Path(clip.path).read_bytes()).hexdigest()
        assert clip.sha256 == digest
        sealed = await _audit(h, home.id, "clip.sealed")
        assert [r.data["sha256"] for r in sealed] == [digest]

        mail = await h.mail.wait_for(lambda m: m.moment == "delivered" and home.member_email in m.rcpt_tos,
                                     timeout=15)
        link = next(w for w in (mail.text or "").split() if "/clip?" in w)
        parts = urlsplit(link)
        r = await h.client.get(f"{parts.path}?{parts.query}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "video/mp4"
        assert hashlib.sha256(r.content).hexdigest() == digest
        viewed = await _audit(h, home.id, "clip.viewed")
        assert len(viewed) == 1 and viewed[0].data["via"] == "link"

        # A byte range continues the same view: no second audit record.
        r = await h.client.get(f"{parts.path}?{parts.query}", headers={"range": "bytes=100-199"})
        assert r.status_code == 206 and len(r.content) == 100
        assert len(await _audit(h, home.id, "clip.viewed")) == 1


async def test_another_household_cannot_see_a_clip_by_id_guess_or_tampered_link() -> None:
    async with running(video=True, homes=2) as h:
        home, other = h.world.homes[0], h.world.homes[1]
        session_id = await _delivered(h)
        await _clip(h, session_id)
        mine, theirs = await h.member_headers(0), await h.member_headers(1)

        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{session_id}/clip", headers=mine)
        assert r.status_code == 200
        # Another household: its own home id with this session, or this home's id: both not found.
        r = await h.client.get(f"/v1/homes/{other.id}/sessions/{session_id}/clip", headers=theirs)
        assert r.status_code == 404
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{session_id}/clip", headers=theirs)
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{session_id}/live", headers=theirs)
        assert r.status_code == 404
        refused = await _audit(h, home.id, "clip.refused")
        assert refused and refused[0].data["code"] == "not_household"

        # A guessed session id.
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{uuid.uuid4()}/clip", headers=mine)
        assert r.status_code == 404
        # A link made for one member, with the member id changed to another household's member.
        r = await h.client.post(f"/v1/homes/{home.id}/sessions/{session_id}/links", headers=mine,
                                json={"what": "clip", "minutes": 5})
        assert r.status_code == 201
        parts = urlsplit(r.json()["url"])
        q = dict(p.split("=", 1) for p in parts.query.split("&"))
        them = (await h.client.post("/v1/household/token", json={
            "email": other.member_email, "password": h.world.password})).json()["subject"]
        r = await h.client.get(parts.path, params={**q, "m": them})
        assert r.status_code == 403 and r.json()["code"] == "bad_link"
        r = await h.client.get(parts.path, params={**q, "s": q["s"][:-2] + "AA"})
        assert r.status_code == 403 and r.json()["code"] == "bad_link"
        r = await h.client.get(parts.path.replace(session_id, str(uuid.uuid4())), params=q)
        # The same answer as for a changed link: a link says nothing about which sessions exist.
        assert r.status_code == 403 and r.json()["code"] == "bad_link"
        # The link itself works, until it expires.
        assert (await h.client.get(parts.path, params=q)).status_code == 200
        h.clock.offset += timedelta(minutes=6)
        r = await h.client.get(parts.path, params=q)
        assert r.status_code == 403 and r.json()["code"] == "link_expired"
        codes = [rec.data["code"] for rec in await _audit(h, home.id, "clip.refused")]
        assert codes.count("bad_link") == 2 and "link_expired" in codes


async def test_a_lost_camera_stream_ends_the_session_safely_and_keeps_the_partial_clip() -> None:
    async with running(video=True, homes=1) as h:
        home = h.world.homes[0]
        assert h.streams is not None
        driver = await h.driver(0)
        r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-CUT-1")
        delivery = r.json()["id"]
        r = await driver.ask(delivery, "PKG-CUT-1", home.lat, home.lon)
        assert r.status_code == 200 and r.json()["state"] == "open", r.text
        session_id = r.json()["id"]
        await _clip(h, session_id, ("recording",))
        await asyncio.sleep(1.5)
        h.streams.cut(home.camera)
        final = await driver.until(session_id, {"done", "aborted", "unsecured", "interrupted"})
        assert final["state"] == "aborted" and final["reason"] == "camera_stalled"
        assert h.gateway.devices[home.lock].state == "locked"
        clip = await _clip(h, session_id)
        assert clip.status == "partial" and clip.failure == "stream_lost"
        info = await probe(Path(clip.path))
        assert info.duration > 0.5 and info.codec == "h264"
        assert await _audit(h, home.id, "recording.failed")
        mail = await h.mail.wait_for(lambda m: m.moment == "camera_offline" and home.member_email in m.rcpt_tos,
                                     timeout=15)
        assert "/clip?" in (mail.text or "")


async def test_live_view_relays_frames_to_the_household_only_while_recording() -> None:
    async with running(video=True, homes=1) as h:
        home = h.world.homes[0]
        driver = await h.driver(0)
        r = await h.partner.create(home, h.world.drivers[0][0], barcode="PKG-LIVE-1")
        r = await driver.ask(r.json()["id"], "PKG-LIVE-1", home.lat, home.lon)
        session_id = r.json()["id"]
        await _clip(h, session_id, ("recording",))
        headers = await h.member_headers(0)
        got = b""
        async with h.client.stream("GET", f"/v1/homes/{home.id}/sessions/{session_id}/live",
                                   headers=headers) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("multipart/x-mixed-replace")
            async for chunk in resp.aiter_bytes():
                got += chunk
                if got.count(b"\xff\xd8") >= 2:
                    break
        assert b"Content-Type: image/jpeg" in got
        assert len(await _audit(h, home.id, "live.viewed")) == 1
        await driver.finish(session_id)
        await driver.until(session_id, {"done"})
        await _clip(h, session_id)
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{session_id}/live", headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "not_live"


async def test_retention_purges_old_clips_but_keeps_one_held_for_a_claim() -> None:
    async with running(video=True, homes=1) as h:
        home = h.world.homes[0]
        headers = await h.member_headers(0)
        first = await _delivered(h, dwell=0.3)
        second = await _delivered(h, dwell=0.3)
        a, b = await _clip(h, first), await _clip(h, second)
        r = await h.client.put("/v1/household/video", headers=headers, json={"retention_days": 0})
        assert r.status_code == 422
        r = await h.client.put("/v1/household/video", headers=headers, json={"retention_days": 2})
        assert r.status_code == 200
        r = await h.client.put(f"/v1/homes/{home.id}/sessions/{second}/clip/hold", headers=headers,
                               json={"reason": "claim: parcel damaged"})
        assert r.status_code == 200 and r.json()["hold"] == "claim: parcel damaged"
        keeper = h.app.state.keeper
        assert await keeper.purge() == 0
        h.clock.offset += timedelta(days=3)
        assert await keeper.purge() == 1
        assert not Path(a.path).exists() and Path(b.path).exists()
        purged = await _audit(h, home.id, "clip.purged")
        assert [rec.data["sha256"] for rec in purged] == [a.sha256]
        headers = await h.member_headers(0)  # three days on, the old token has expired
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{first}/clip", headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "clip_purged"
        listed = (await h.client.get(f"/v1/homes/{home.id}/clips", headers=headers)).json()
        assert {c["status"] for c in listed} == {"purged", "sealed"}
        assert "path" not in json.dumps(listed)


async def test_a_frame_stall_found_by_the_safety_watch_is_written_into_the_clip() -> None:
    async with running(video=True, homes=1) as h:
        home = h.world.homes[0]
        # The camera stops reporting frames: the safety watch finds the stall, whatever the video stream does.
        h.gateway.devices[home.camera].behaviour = Behaviour(freeze_after=1.0)
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=4.0)
        assert (run.outcome, run.reason) == ("aborted", "camera_stalled"), run
        assert run.session_id is not None
        clip = await _clip(h, run.session_id)
        watch = [g for g in clip.gaps if g["by"] == "watch"]
        assert len(watch) == 1 and watch[0]["start"] > 0.5, clip.gaps
        gaps = await _audit(h, home.id, "clip.gap")
        assert [g.data["by"] for g in gaps] == ["watch"]
        assert clip.status == "sealed" and clip.sha256
