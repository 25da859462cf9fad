"""What a notification channel is: one rendered message to one recipient, sent at least once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Note:
    """One notification for one recipient on one channel.

    `key` is unique per (event, channel, recipient) and travels with every attempt (the email's Message-ID,
    the webhook's `webhook-id`), so a receiver can drop a repeat after a crash between send and record.
    """

    key: str
    channel: str  # email | sms | webhook
    recipient: str  # an email address, an E.164 phone number, or a webhook endpoint URL
    moment: str  # delivered, camera_offline, ... (notify.moments)
    topic: str  # the event's topic, such as delivery.completed
    data: dict[str, Any] = field(default_factory=dict)
    # The endpoint's signing secret for webhooks (whsec_...); never logged.
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A note turned into words: a subject, plain text (also the SMS body) and HTML."""

    subject: str
    text: str
    html: str
    sms: str


class PermanentFailure(Exception):
    """The receiver refused the message for good (bad address, 4xx): retrying cannot help."""


class Sender(Protocol):
    """Delivers notes on one channel; raises PermanentFailure for a refusal, anything else to retry."""

    async def send(self, note: Note) -> None:
        """Deliver one note."""


class SmsProvider(Protocol):
    """An SMS gateway (a Twilio-compatible API, or the demo's mail catcher)."""

    async def send_sms(self, to: str, body: str, key: str) -> str:
        """Send one SMS; returns the provider's message id."""
