"""Email over SMTP: one multipart message (text and HTML) per note, identified by the note's key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib

from threshold.notify.ports import Note, PermanentFailure
from threshold.notify.templates import render

Tls = Literal["none", "starttls", "tls"]


def message_id(key: str) -> str:
    """The Message-ID for a note's key: the same on every retry, so receivers can drop the repeat."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@threshold>"


def header_value(value: str, what: str) -> str:
    """A value fit for a mail header; a line break would inject headers, and retrying cannot fix it."""
    if "\r" in value or "\n" in value or not value.isprintable():
        raise PermanentFailure(f"{what} cannot go into a mail header")
    return value


def mailbox(address: str) -> str:
    """A bare recipient address, or PermanentFailure when it cannot be one."""
    local, at, domain = header_value(address, "the address").rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>,;" for c in address):
        raise PermanentFailure("not an email address")
    return address


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail leaves: one connection per message, so concurrent sends never share a session."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: Tls = "none"
    timeout: float = 10.0

    async def deliver(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand one message to the server; a 5xx refusal of the recipient or the content is permanent."""
        try:
            await aiosmtplib.send(
                message, sender=sender, recipients=[recipient], hostname=self.host, port=self.port,
                username=self.username, password=self.password, use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls", timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure("; ".join(f"{r.code} {r.message}" for r in exc.recipients)) from exc
            raise
        except aiosmtplib.SMTPDataError as exc:
            # 5xx after DATA: the server will not take this message (size, content), however often we try.
            if exc.code >= 500:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise


class SmtpSender:
    """The email channel: renders a note and sends it as text + HTML over SMTP."""

    def __init__(self, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, tls: Tls = "none", timeout: float = 10.0) -> None:
        self.server = SmtpServer(host, port, username, password, tls, timeout)
        self.sender = sender

    async def send(self, note: Note) -> None:
        """Deliver one note by email; PermanentFailure when the address is refused for good."""
        recipient = mailbox(note.recipient)
        await self.server.deliver(self.compose(note, recipient), self.sender, recipient)

    def compose(self, note: Note, recipient: str) -> EmailMessage:
        """The multipart message for a note, with the headers that identify it on every attempt."""
        words = render(note)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = words.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(note.key)
        message["X-Threshold-Moment"] = header_value(note.moment, "the moment")
        message["X-Threshold-Key"] = header_value(note.key, "the key")
        message.set_content(words.text)
        message.add_alternative(words.html, subtype="html")
        return message
