"""Email through SmtpSender into a real SMTP server (the mail catcher) on loopback."""

from __future__ import annotations

import asyncio
import socket

import aiosmtplib
import pytest

from threshold.notify.email import SmtpSender, message_id
from threshold.notify.mailcatcher import MailCatcher
from threshold.notify.ports import Note, PermanentFailure

CLIP = "https://clips.example/c/7f3a?sig=abc&exp=1717430400"


def delivered(key: str = "evt-1:email:ana@example.test", to: str = "ana@example.test") -> Note:
    """A `delivered` note with a clip link."""
    return Note(key=key, channel="email", recipient=to, moment="delivered", topic="delivery.completed",
                data={"home_label": "Maple St 4", "clip_url": CLIP, "entry_point": "front door"})


def sender(catcher: MailCatcher) -> SmtpSender:
    """The email channel pointed at the catcher."""
    return SmtpSender("127.0.0.1", catcher.port, "Threshold <notify@threshold.example>")


async def test_delivered_email_arrives_with_subject_text_html_and_clip_link(mail_catcher: MailCatcher) -> None:
    await sender(mail_catcher).send(delivered())

    [mail] = mail_catcher.messages()
    assert mail.rcpt_tos == ("ana@example.test",)
    assert mail.envelope_from == "notify@threshold.example"
    assert mail.subject == "Your package was delivered inside — watch the clip"
    assert f"Watch the clip: {CLIP}" in mail.text
    assert mail.html is not None and 'href="https://clips.example/c/7f3a?sig=abc&amp;exp=1717430400"' in mail.html
    assert mail.moment == "delivered"
    assert mail.key == "evt-1:email:ana@example.test"


async def test_a_retry_carries_the_same_message_id_so_the_receiver_keeps_one(mail_catcher: MailCatcher) -> None:
    channel = sender(mail_catcher)
    await channel.send(delivered())
    await channel.send(delivered())

    assert mail_catcher.raw_count == 2
    [mail] = mail_catcher.messages()
    assert mail.message_id == message_id("evt-1:email:ana@example.test")


async def test_different_keys_get_different_message_ids(mail_catcher: MailCatcher) -> None:
    channel = sender(mail_catcher)
    await channel.send(delivered(key="evt-1:email:ana@example.test"))
    await channel.send(delivered(key="evt-2:email:ana@example.test"))

    assert len({mail.message_id for mail in mail_catcher.messages()}) == 2


async def test_refused_recipient_is_a_permanent_failure(mail_catcher: MailCatcher) -> None:
    with pytest.raises(PermanentFailure, match="550"):
        await sender(mail_catcher).send(delivered(to="nobody@refused.example"))
    assert mail_catcher.raw_count == 0


async def test_temporarily_refused_recipient_is_left_to_retry(mail_catcher: MailCatcher) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await sender(mail_catcher).send(delivered(to="busy@deferred.example"))
    assert not isinstance(caught.value, PermanentFailure)


async def test_unreachable_server_is_left_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    channel = SmtpSender("127.0.0.1", closed_port, "notify@threshold.example", timeout=2.0)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await channel.send(delivered())


@pytest.mark.parametrize("address", ["not-an-address", "ana@localhost", "ana@example.test\r\nBcc: x@y.z"])
async def test_malformed_address_is_a_permanent_failure(mail_catcher: MailCatcher, address: str) -> None:
    with pytest.raises(PermanentFailure):
        await sender(mail_catcher).send(delivered(to=address))
    assert mail_catcher.raw_count == 0


async def test_concurrent_sends_all_arrive_intact(mail_catcher: MailCatcher) -> None:
    channel = sender(mail_catcher)
    notes = [delivered(key=f"evt-{i}:email:p{i}@example.test", to=f"p{i}@example.test") for i in range(20)]
    await asyncio.gather(*(channel.send(n) for n in notes))

    caught = mail_catcher.by_key()
    assert set(caught) == {n.key for n in notes}
    assert all(caught[n.key].rcpt_tos == (n.recipient,) for n in notes)
