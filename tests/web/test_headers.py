"""Every response carries the security headers: pages, redirects, static files, API answers, clips, errors and
the last-resort 500; a strict Content-Security-Policy everywhere but FastAPI's own docs and a page that sets its
own; HSTS and Secure cookies only in production."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx
from pages import client, hidden
from sqlalchemy import select

from threshold.notify.mailcatcher import PAGE_POLICY, mail_router
from threshold.sim.driver import deliver
from threshold.sim.harness import Harness, running
from threshold.sim.outcome import eventually
from threshold.video.models import Clip

STRICT = {"default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self'",
          "connect-src": "'self'", "object-src": "'none'", "base-uri": "'none'", "form-action": "'self'",
          "frame-ancestors": "'none'"}
FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
         "cross-origin-opener-policy": "same-origin"}
HSTS = "max-age=63072000; includeSubDomains"


def policy(r: httpx.Response) -> dict[str, str]:
    """The response's Content-Security-Policy as directive -> sources."""
    directives = (d.strip().split(None, 1) for d in r.headers["content-security-policy"].split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def assert_secured(r: httpx.Response, production: bool = False) -> None:
    """The strict policy and the fixed headers are on the response; HSTS exactly when in production."""
    what = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    assert {k: r.headers.get(k) for k in FIXED} == FIXED, what
    found = policy(r)
    assert {k: found.get(k) for k in STRICT} == STRICT, what
    assert "unsafe" not in r.headers["content-security-policy"], what  # no inline script or style, no eval
    assert r.headers.get("strict-transport-security") == (HSTS if production else None), what


async def signed_in(h: Harness, b: httpx.AsyncClient) -> None:
    """Sign the first home's member in on this client."""
    page = await b.get("/signin")
    r = await b.post("/signin", data={"email": h.world.homes[0].member_email, "password": h.world.password,
                                      "pre": hidden(page.text, "pre"), "next": "/portal"})
    assert r.status_code == 303, r.text


async def test_pages_api_answers_and_errors_carry_the_headers_and_no_hsts_outside_production() -> None:
    async with running(homes=1) as h:
        home = h.world.homes[0]

        async def boom() -> None:
            raise RuntimeError("a bug")

        h.app.add_api_route("/boom-for-test", boom)
        unraised = httpx.ASGITransport(app=h.app, raise_app_exceptions=False)
        async with client(h) as b, httpx.AsyncClient(transport=unraised, base_url="http://threshold.test") as raw:
            answers = [await b.get("/signin"), await b.get("/portal"), await b.get("/static/app.css"),
                       await b.get("/static/js/ask-entry.js"), await b.get("/static/js/nothing.js"),
                       await b.get("/healthz"), await b.get("/openapi.json"), await b.get("/v1/homes"),
                       await b.post("/v1/household/token", json={"email": 3}), await b.get("/no/such/page"),
                       await b.post("/healthz"), await raw.get("/boom-for-test")]
            await signed_in(h, b)
            answers += [await b.get(f"/portal/homes/{home.id}"), await b.get(f"/portal/homes/{home.id}/keypad"),
                        await b.post(f"/portal/homes/{home.id}/keypad", data={"csrf": "forged"})]
        assert [r.status_code for r in answers] == [200, 303, 200, 200, 404, 200, 200, 401, 422, 404, 405, 500,
                                                    200, 200, 403]
        assert answers[11].headers["content-type"] == "application/problem+json"
        for r in answers:
            assert_secured(r)


async def test_production_adds_hsts_and_every_cookie_is_secure() -> None:
    async with running(homes=1, mode="production") as h, client(h) as b:
        page = await b.get("/signin")
        assert_secured(page, production=True)
        assert "secure" in page.headers["set-cookie"].lower().split("; ")
        assert_secured(await b.get("/healthz"), production=True)
    async with running(homes=1) as h, client(h) as b:
        # Plain HTTP outside production (the tests, the demo on loopback): a Secure cookie would never come back.
        assert "secure" not in (await b.get("/signin")).headers["set-cookie"].lower().split("; ")


async def test_only_fastapis_docs_may_load_swagger_ui_from_its_cdn() -> None:
    async with running(homes=1) as h, client(h) as b:
        docs = await b.get("/docs")
        assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.text
        found = policy(docs)
        assert "https://cdn.jsdelivr.net" in found["script-src"].split()
        assert (found["frame-ancestors"], found["object-src"], found["base-uri"]) == ("'none'", "'none'", "'none'")
        assert {k: docs.headers.get(k) for k in FIXED} == FIXED
        for path in ("/docs/", "/docsx", "/openapi.json", "/signin?next=/docs"):
            assert_secured(await b.get(path))


async def test_a_page_with_a_policy_of_its_own_keeps_it_and_gets_every_other_header() -> None:
    async with running(homes=1) as h, client(h) as b:
        h.app.include_router(mail_router(h.mail))  # as `threshold demo` serves its mail catcher
        r = await b.get("/mail")
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == PAGE_POLICY
        assert {k: r.headers.get(k) for k in FIXED} == FIXED


async def test_a_clip_and_a_refused_clip_link_carry_the_headers() -> None:
    async with running(video=True, homes=1) as h:
        home = h.world.homes[0]
        run = await deliver(h.partner, await h.driver(0), h.world.drivers[0][0], home, dwell=1.0)
        assert run.outcome == "completed" and run.session_id is not None, run

        async def sealed() -> bool:
            async with h.app.state.sessions() as db:
                clip = (await db.execute(select(Clip).where(Clip.session_id == uuid.UUID(run.session_id)))).scalar()
            return clip is not None and clip.status in ("sealed", "partial")

        assert await eventually(sealed, timeout=30)
        headers = await h.member_headers()
        r = await h.client.get(f"/v1/homes/{home.id}/sessions/{run.session_id}/clip", headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert_secured(r)
        r = await h.client.post(f"/v1/homes/{home.id}/sessions/{run.session_id}/links", headers=headers,
                                json={"what": "clip", "minutes": 10})
        assert r.status_code == 201, r.text
        link = urlsplit(r.json()["url"])
        played = await h.client.get(f"{link.path}?{link.query}", headers={"range": "bytes=0-99"})
        assert played.status_code == 206
        assert_secured(played)  # the signature in this address never leaves as a referrer
        tampered = await h.client.get(f"{link.path}?{link.query[:-2]}xx")
        assert tampered.status_code in (403, 404)
        assert_secured(tampered)
