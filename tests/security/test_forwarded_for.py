"""A client cannot choose its own address: with no trusted proxy configured (the default), X-Forwarded-For is
ignored, so a brute force that changes it on every try is still counted against its real address."""

from __future__ import annotations

import uuid

from flows import problem, web_sign_in

from servers import Server


def test_a_new_forwarded_for_on_every_try_does_not_escape_the_address_limit(server: Server) -> None:
    with server.client(follow_redirects=False) as c:
        for i in range(20):
            spoofed = {"X-Forwarded-For": f"10.{i}.{i}.{i}", "X-Real-IP": f"10.{i}.0.1", "Forwarded": f"for=10.{i}.0.2"}
            if i % 2:
                r = c.post("/v1/driver/token", json={"email": f"guess{i}@example.com", "password": "x" * 12},
                           headers=spoofed)
                problem(r, 401, "bad_credentials")
            else:
                _, r = web_sign_in(server, f"guess{i}@example.com", "/driver", client=c, headers=spoofed,
                                   password="x" * 12)
                assert r.status_code == 401
        fresh = {"X-Forwarded-For": "192.0.2.200"}
        good = {"email": server.world["drivers"][0][1], "password": server.password}
        problem(c.post("/v1/driver/token", json=good, headers=fresh), 429, "too_many_attempts")
        _, page = web_sign_in(server, server.world["homes"][0]["member_email"], client=c, headers=fresh)
        assert page.status_code == 429
    locked = server.audit("address.locked", chain=str(uuid.UUID(int=0)))
    assert [r["subject"] for r in locked] == ["address:127.0.0.1"]
