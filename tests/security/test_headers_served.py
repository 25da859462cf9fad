"""Pages, API answers and errors from a real server carry the security headers: no framing, no sniffing, no
referrer (clip links carry their signature in the URL), and a CSP without inline script."""

from __future__ import annotations

import pytest

from servers import Server


@pytest.mark.parametrize("path", ["/signin", "/driver/signin", "/ops/signin", "/v1/homes", "/healthz",
                                  "/g/not-a-token-at-all", "/v1/sessions/00000000-0000-0000-0000-000000000000/clip"])
def test_every_answer_carries_the_security_headers(server: Server, path: str) -> None:
    with server.client() as c:
        r = c.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in r.headers  # test mode: only production sends HSTS
