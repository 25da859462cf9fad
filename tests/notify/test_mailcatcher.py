"""The mail catcher: keeps what arrives over SMTP, and shows it on escaped pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest
from fastapi import FastAPI

from threshold.errors import install_handlers
from threshold.notify.email import SmtpSender
from threshold.notify.mailcatcher import MailCatcher, mail_router
from threshold.notify.ports import Note

HOSTILE = '<script>alert("owned")</script>'


@pytest.fixture
async def pages(mail_catcher: MailCatcher) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for an app that mounts the catcher's pages."""
    app = FastAPI()
    install_handlers(app)
    app.include_router(mail_router(mail_catcher))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://catcher") as client:
        yield client


async def send_note(catcher: MailCatcher, key: str = "evt-1:email:ana@example.test",
                    to: str = "ana@example.test") -> None:
    """Send a `delivered` note through the real email channel."""
    note = Note(key=key, channel="email", recipient=to, moment="delivered", topic="delivery.completed",
                data={"home_label": "Maple St 4", "clip_url": "https://clips.example/c/1"})
    await SmtpSender("127.0.0.1", catcher.port, "notify@threshold.example").send(note)


async def send_raw(catcher: MailCatcher, subject: str, html: str, message_id: str = "<hostile@example>") -> None:
    """Send a hand-made message, as anything that can reach the catcher's port could."""
    message = EmailMessage()
    message["From"] = "mallory@example.test"
    message["To"] = "ana@example.test"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("plain part")
    message.add_alternative(html, subtype="html")
    await aiosmtplib.send(message, hostname="127.0.0.1", port=catcher.port, start_tls=False)


async def test_mail_page_lists_a_sent_message_with_a_link_to_it(mail_catcher: MailCatcher,
                                                                 pages: httpx.AsyncClient) -> None:
    await send_note(mail_catcher)
    [mail] = mail_catcher.messages()

    page = await pages.get("/mail")
    assert page.status_code == 200
    assert "ana@example.test" in page.text
    assert "Your package was delivered inside — watch the clip" in page.text
    assert "delivered" in page.text
    assert f'href="/mail/{mail.index}"' in page.text

    one = await pages.get(f"/mail/{mail.index}")
    assert "Watch the clip: https://clips.example/c/1" in one.text


async def test_mail_page_lists_newest_first(mail_catcher: MailCatcher, pages: httpx.AsyncClient) -> None:
    await send_note(mail_catcher, key="first", to="first@example.test")
    await send_note(mail_catcher, key="second", to="second@example.test")

    page = (await pages.get("/mail")).text
    assert page.index("second@example.test") < page.index("first@example.test")


async def test_hostile_subject_and_html_are_escaped_never_rendered(mail_catcher: MailCatcher,
                                                                   pages: httpx.AsyncClient) -> None:
    await send_raw(mail_catcher, subject=HOSTILE, html=f"<p>hi</p>{HOSTILE}")
    [mail] = mail_catcher.messages()

    listing = await pages.get("/mail")
    one = await pages.get(f"/mail/{mail.index}")
    for page in (listing, one):
        assert "<script>" not in page.text
        assert "&lt;script&gt;" in page.text
        assert "script-src 'none'" in page.headers["content-security-policy"]
    assert '<iframe sandbox srcdoc="&lt;p&gt;hi&lt;/p&gt;&lt;script&gt;' in one.text


async def test_mail_json_lists_the_messages_with_their_fields(mail_catcher: MailCatcher,
                                                              pages: httpx.AsyncClient) -> None:
    await send_note(mail_catcher)

    [item] = (await pages.get("/mail.json")).json()
    assert item["rcpt_tos"] == ["ana@example.test"]
    assert item["envelope_from"] == "notify@threshold.example"
    assert item["moment"] == "delivered"
    assert item["key"] == "evt-1:email:ana@example.test"
    assert item["message_id"].endswith("@threshold>")
    assert "https://clips.example/c/1" in item["text"] and "https://clips.example/c/1" in item["html"]


async def test_unknown_message_is_not_found(pages: httpx.AsyncClient) -> None:
    response = await pages.get("/mail/999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_catcher_keeps_only_the_newest_messages_up_to_its_limit() -> None:
    catcher = MailCatcher(limit=3)
    await catcher.start()
    try:
        for i in range(5):
            await send_note(catcher, key=f"evt-{i}", to=f"p{i}@example.test")
    finally:
        await catcher.stop()
    assert [m.key for m in catcher.messages()] == ["evt-2", "evt-3", "evt-4"]
    assert catcher.raw_count == 5


async def test_wait_for_returns_a_message_that_arrives_later(mail_catcher: MailCatcher) -> None:
    waiting = asyncio.create_task(mail_catcher.wait_for(lambda m: m.key == "late", timeout=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await send_note(mail_catcher, key="late")
    assert (await waiting).key == "late"


async def test_wait_for_gives_up_after_its_timeout(mail_catcher: MailCatcher) -> None:
    await send_note(mail_catcher, key="other")
    with pytest.raises(TimeoutError):
        await mail_catcher.wait_for(lambda m: m.key == "never", timeout=0.2)


async def test_stopped_catcher_no_longer_accepts_mail() -> None:
    catcher = MailCatcher()
    await catcher.start()
    port = catcher.port
    await catcher.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send("Subject: x\r\n\r\nx", sender="a@example.test", recipients=["b@example.test"],
                              hostname="127.0.0.1", port=port, timeout=2)


async def test_stop_drops_connections_that_are_still_open() -> None:
    catcher = MailCatcher()
    await catcher.start()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=catcher.port, start_tls=False, timeout=2)
    await client.connect()
    await asyncio.wait_for(catcher.stop(), timeout=2)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.noop()
