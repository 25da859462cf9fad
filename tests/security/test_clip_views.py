"""Every view is a view: any read of a clip's bytes, whatever the range, by token or by signed link, is on the
home's record; a range the clip cannot answer is problem+json; another home's session is refused and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from flows import bearer, deliver, problem, sealed_clip

from servers import Server

HOME = 1


@pytest.fixture(scope="module")
def clip(server: Server) -> dict[str, Any]:
    """One delivery into seeded home 1, its clip sealed: the session id, the member's token, the clip's path."""
    session_id = deliver(server, HOME)
    token = server.member_token(HOME)
    sealed_clip(server, HOME, session_id, token)
    home_id = server.world["homes"][HOME]["id"]
    return {"session": session_id, "token": token, "path": f"/v1/homes/{home_id}/sessions/{session_id}/clip"}


def _views(server: Server, session_id: str, via: str | None = None) -> list[dict[str, Any]]:
    found = [r for r in server.audit("clip.viewed") if r["subject"] == f"session:{session_id}"]
    return [r for r in found if via is None or r["data"].get("via") == via]


def _fresh_views(server: Server, session_id: str) -> None:
    # The record is kept once per viewer and hour: moving earlier ones back an hour makes the next read count anew.
    server.sql("UPDATE audit_records SET at = at - INTERVAL '2 hours' WHERE action = 'clip.viewed'"
               if server.database_url.startswith("postgresql") else
               "UPDATE audit_records SET at = datetime(at, '-2 hours') WHERE action = 'clip.viewed'")


@pytest.mark.parametrize("header", ["bytes=1-", "bytes=1-2,0-", "bytes=-100", "bytes=100-200"])
def test_a_read_of_any_range_is_audited(server: Server, clip: dict[str, Any], header: str) -> None:
    _fresh_views(server, clip["session"])
    before = len(_views(server, clip["session"]))
    with server.client() as c:
        r = c.get(clip["path"], headers={**bearer(clip["token"]), "Range": header})
    assert r.status_code == 206, r.text[:200]
    assert len(_views(server, clip["session"])) == before + 1


def test_many_ranges_of_one_view_are_one_record_not_one_each(server: Server, clip: dict[str, Any]) -> None:
    _fresh_views(server, clip["session"])
    before = len(_views(server, clip["session"]))
    with server.client() as c:
        for start in (0, 100, 200, 300):
            assert c.get(clip["path"], headers={**bearer(clip["token"]),
                                                "Range": f"bytes={start}-{start + 99}"}).status_code == 206
    assert len(_views(server, clip["session"])) == before + 1


def test_a_signed_link_read_from_the_middle_is_audited(server: Server, clip: dict[str, Any]) -> None:
    home_id = server.world["homes"][HOME]["id"]
    with server.client() as c:
        link = c.post(f"/v1/homes/{home_id}/sessions/{clip['session']}/links", headers=bearer(clip["token"]),
                      json={"what": "clip", "minutes": 5})
        assert link.status_code == 201, link.text
        path = link.json()["url"].split("://", 1)[1].split("/", 1)[1]
        _fresh_views(server, clip["session"])
        before = len(_views(server, clip["session"], "link"))
        assert c.get("/" + path, headers={"Range": "bytes=10-"}).status_code == 206
    assert len(_views(server, clip["session"], "link")) == before + 1


@pytest.mark.parametrize("header,status,code", [
    ("bytes=abc", 400, "range_invalid"), ("items=0-1", 400, "range_invalid"), ("bytes=5-1", 400, "range_invalid"),
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(40)), 400, "range_invalid"),
    ("bytes=999999999-", 416, "range_not_satisfiable")])
def test_a_range_the_clip_cannot_answer_is_problem_json_and_not_a_view(server: Server, clip: dict[str, Any],
                                                                      header: str, status: int, code: str) -> None:
    _fresh_views(server, clip["session"])
    before = len(_views(server, clip["session"]))
    with server.client() as c:
        r = c.get(clip["path"], headers={**bearer(clip["token"]), "Range": header})
    problem(r, status, code)
    if status == 416:
        assert r.headers["content-range"].startswith("bytes */")
    assert len(_views(server, clip["session"])) == before


def test_another_homes_session_under_ones_own_home_is_refused_and_recorded(server: Server,
                                                                         clip: dict[str, Any]) -> None:
    own_home = server.world["homes"][2]["id"]
    intruder = server.member_token(2)
    with server.client() as c:
        for what in ("clip", "live"):
            problem(c.get(f"/v1/homes/{own_home}/sessions/{clip['session']}/{what}", headers=bearer(intruder)),
                    404, "not_found")
        problem(c.post(f"/v1/homes/{own_home}/sessions/{clip['session']}/links", headers=bearer(intruder),
                       json={"what": "clip"}), 404, "not_found")
    refused = [r for r in server.audit("access.refused", chain=server.world["homes"][HOME]["id"])
               if r["subject"] == f"session:{clip['session']}"]
    assert {r["data"]["what"] for r in refused} >= {"clip", "live"}
    assert all(r["data"]["reason"] == "not_yours" for r in refused)


def test_a_deactivated_members_signed_links_stop_with_the_account(server: Server, clip: dict[str, Any]) -> None:
    home_id = server.world["homes"][HOME]["id"]
    with server.client() as c:
        link = c.post(f"/v1/homes/{home_id}/sessions/{clip['session']}/links", headers=bearer(clip["token"]),
                      json={"what": "clip", "minutes": 60})
        path = "/" + link.json()["url"].split("://", 1)[1].split("/", 1)[1]
        assert c.get(path, headers={"Range": "bytes=0-9"}).status_code == 206
        email = server.world["homes"][HOME]["member_email"]
        server.sql("UPDATE members SET active = false WHERE email = :e", e=email)
        try:
            problem(c.get(path), 403, "bad_link")
        finally:
            server.sql("UPDATE members SET active = true WHERE email = :e", e=email)
    refused = [r for r in server.audit("clip.refused", chain=home_id) if r["subject"] == f"session:{clip['session']}"]
    assert refused and refused[-1]["data"]["code"] == "not_household"
