"""SMS through a Twilio-compatible gateway (a real HTTP server on loopback) and through the mail catcher."""

from __future__ import annotations

import socket

import httpx
import pytest
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

from threshold.notify.email import message_id
from threshold.notify.mailcatcher import MailCatcher
from threshold.notify.ports import Note, PermanentFailure
from threshold.notify.sms import MailSms, SmsGatewayError, SmsSender, TwilioSms
from threshold.notify.templates import render

FROM = "+15005550006"
CLIP = "https://clips.example/c/7f3a?sig=abc"


def twilio_sms(fake: FakeTwilio, token: str = AUTH_TOKEN) -> TwilioSms:
    """The Twilio provider pointed at the fake gateway."""
    return TwilioSms(fake.base_url, ACCOUNT_SID, token, FROM)


def delivered(to: str = "+4915112345678") -> Note:
    """A `delivered` SMS note with a clip link."""
    return Note(key=f"evt-1:sms:{to}", channel="sms", recipient=to, moment="delivered",
                topic="delivery.completed", data={"home_label": "Maple St 4", "clip_url": CLIP})


async def test_twilio_receives_to_from_and_body_and_returns_its_sid(twilio: FakeTwilio) -> None:
    sid = await twilio_sms(twilio).send_sms("+4915112345678", "Your package is inside.", "k1")

    [message] = twilio.messages
    assert (message["To"], message["From"], message["Body"]) == ("+4915112345678", FROM, "Your package is inside.")
    assert sid == message["sid"]


async def test_sms_channel_sends_the_rendered_sms_with_the_clip_link(twilio: FakeTwilio) -> None:
    note = delivered()
    await SmsSender(twilio_sms(twilio)).send(note)

    [message] = twilio.messages
    assert message["To"] == note.recipient
    assert message["Body"] == render(note).sms
    assert message["Body"].endswith(CLIP)


async def test_twilio_refusing_the_number_is_a_permanent_failure_with_its_error_code(twilio: FakeTwilio) -> None:
    twilio.fail_with = 400
    with pytest.raises(PermanentFailure, match="Twilio error 21211"):
        await SmsSender(twilio_sms(twilio)).send(delivered())


async def test_twilio_unavailable_is_left_to_retry(twilio: FakeTwilio) -> None:
    twilio.fail_with = 503
    with pytest.raises(SmsGatewayError, match="HTTP 503"):
        await SmsSender(twilio_sms(twilio)).send(delivered())


async def test_wrong_credentials_are_left_to_retry_not_dropped(twilio: FakeTwilio) -> None:
    with pytest.raises(SmsGatewayError, match="HTTP 401"):
        await twilio_sms(twilio, token="wrong").send_sms("+4915112345678", "hi", "k1")
    assert twilio.messages == []


async def test_unreachable_gateway_is_left_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    provider = TwilioSms(f"http://127.0.0.1:{closed_port}", ACCOUNT_SID, AUTH_TOKEN, FROM, timeout=2.0)
    with pytest.raises(httpx.ConnectError):
        await provider.send_sms("+4915112345678", "hi", "k1")


async def test_a_shared_client_is_used_when_given(twilio: FakeTwilio) -> None:
    async with httpx.AsyncClient() as client:
        provider = TwilioSms(twilio.base_url, ACCOUNT_SID, AUTH_TOKEN, FROM, client=client)
        await provider.send_sms("+4915112345678", "one", "k1")
        await provider.send_sms("+4915112345678", "two", "k2")
    assert [m["Body"] for m in twilio.messages] == ["one", "two"]


@pytest.mark.parametrize("number", ["015112345678", "+49 151 1234567", "+1234567", "+1234567890123456",
                                    "+04915112345678", "4915112345678", "+4915112345678\n"])
async def test_malformed_numbers_are_refused_before_anything_is_sent(twilio: FakeTwilio, number: str) -> None:
    with pytest.raises(PermanentFailure, match=r"E\.164"):
        await SmsSender(twilio_sms(twilio)).send(delivered(to=number))
    assert twilio.messages == []


async def test_mail_sms_shows_up_in_the_catcher_as_plain_mail(mail_catcher: MailCatcher) -> None:
    note = delivered()
    await SmsSender(MailSms("127.0.0.1", mail_catcher.port)).send(note)

    [mail] = mail_catcher.messages()
    assert mail.rcpt_tos == ("4915112345678@sms.threshold.local",)
    assert mail.subject == "SMS to +4915112345678"
    assert mail.text.strip() == render(note).sms
    assert mail.html is None
    assert mail.message_id == message_id(note.key)


async def test_mail_sms_repeat_keeps_one_message(mail_catcher: MailCatcher) -> None:
    provider = MailSms("127.0.0.1", mail_catcher.port)
    await provider.send_sms("+4915112345678", "hi", "k1")
    await provider.send_sms("+4915112345678", "hi", "k1")
    assert (len(mail_catcher.messages()), mail_catcher.raw_count) == (1, 2)


async def test_mail_sms_refuses_a_malformed_number(mail_catcher: MailCatcher) -> None:
    with pytest.raises(PermanentFailure):
        await MailSms("127.0.0.1", mail_catcher.port).send_sms("12345", "hi", "k1")
    assert mail_catcher.raw_count == 0
