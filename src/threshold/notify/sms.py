"""SMS: the channel, a Twilio-compatible gateway, and the demo's gateway that mails each SMS to the catcher."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote

import httpx
import structlog

from threshold.notify.email import SmtpServer, header_value, message_id
from threshold.notify.ports import Note, PermanentFailure, SmsProvider
from threshold.notify.templates import render

log = structlog.get_logger("threshold.notify")

E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# The gateway's own trouble (rate limit, credentials, conflict): a later attempt may go through.
RETRYABLE_4XX = frozenset({401, 403, 408, 409, 425, 429})


class SmsGatewayError(Exception):
    """The gateway did not take the SMS this time (429, 5xx, credentials): retry later."""


def e164(number: str) -> str:
    """The number if it is E.164 (`+` and 8 to 15 digits), else PermanentFailure."""
    if not E164.fullmatch(number):
        raise PermanentFailure("not an E.164 phone number")
    return number


class SmsSender:
    """The SMS channel: renders a note's SMS text and sends it through a provider."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    async def send(self, note: Note) -> None:
        """Deliver one note by SMS to `note.recipient`."""
        provider_id = await self.provider.send_sms(e164(note.recipient), render(note).sms, note.key)
        log.info("sms.sent", key=note.key, moment=note.moment, provider_id=provider_id)


class TwilioSms:
    """A Twilio-compatible REST gateway (Twilio itself, or anything speaking its Messages API)."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str, from_number: str,
                 client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.from_number = from_number
        self.client = client
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"TwilioSms({self.url!r})"

    async def send_sms(self, to: str, body: str, key: str) -> str:
        """Send one SMS; returns Twilio's message sid."""
        form = {"To": e164(to), "From": self.from_number, "Body": body}
        if self.client is None:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, data=form, auth=self.auth)
        else:
            response = await self.client.post(self.url, data=form, auth=self.auth, timeout=self.timeout)
        return _sid(response)


def _sid(response: httpx.Response) -> str:
    status = response.status_code
    if 200 <= status < 300:
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        # Accepted is accepted: raising here would send the SMS again on retry.
        return sid if isinstance(sid, str) else ""
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        raise PermanentFailure(_twilio_error(response))
    raise SmsGatewayError(_twilio_error(response))


def _twilio_error(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        error = None
    if isinstance(error, dict) and ("code" in error or "message" in error):
        return f"Twilio error {error.get('code')}: {error.get('message')} (HTTP {response.status_code})"
    return f"SMS gateway answered HTTP {response.status_code}"


class MailSms:
    """The demo's SMS gateway: each SMS becomes a plain email to <digits>@domain, so the catcher shows it."""

    def __init__(self, host: str, port: int, domain: str = "sms.threshold.local") -> None:
        self.server = SmtpServer(host, port)
        self.domain = domain

    async def send_sms(self, to: str, body: str, key: str) -> str:
        """Mail one SMS; returns its Message-ID."""
        number = e164(to)
        recipient = f"{number[1:]}@{self.domain}"
        sender = f"sms@{self.domain}"
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient
        message["Subject"] = f"SMS to {number}"
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(key)
        message["X-Threshold-Key"] = header_value(key, "the key")
        message.set_content(body)
        await self.server.deliver(message, sender, recipient)
        return message_id(key)
