"""The demo's mail catcher: a real SMTP server that keeps what it receives, and pages that show it."""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from threshold.errors import NotFound

_pages = Environment(loader=FileSystemLoader(Path(__file__).parent / "jinja" / "catcher"),
                     autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
# Nothing on these pages runs script, even a message whose HTML tried; the iframe's sandbox says so too.
PAGE_POLICY = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True, slots=True)
class CaughtMail:
    """One message as the catcher received it."""

    index: int
    envelope_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    message_id: str | None
    moment: str | None
    key: str | None
    text: str
    html: str | None
    received_at: datetime

    @property
    def is_sms(self) -> bool:
        """True for an SMS the demo's gateway delivered as mail (notify.sms.MailSms)."""
        return self.envelope_from.startswith("sms@")

    @property
    def to(self) -> str:
        """Who it went to as a person reads it: the phone number of an SMS, else the mail addresses."""
        if self.is_sms:
            return ", ".join("+" + rcpt.partition("@")[0] for rcpt in self.rcpt_tos)
        return ", ".join(self.rcpt_tos)


class MailCatcher:
    """An SMTP server on the running loop that keeps the last `limit` distinct messages in memory.

    Like the big mail providers, it keeps one copy per Message-ID: `messages()` is what a person would see,
    `raw_count` counts every delivery including repeats. Recipients at a `refuse_domains` domain get a 550,
    at a `defer_domains` domain a 451, so senders can be tested against both.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, limit: int = 5000,
                 refuse_domains: Iterable[str] = (), defer_domains: Iterable[str] = ()) -> None:
        self.host = host
        self._port = port
        self.limit = limit
        self.refuse_domains = frozenset(d.lower() for d in refuse_domains)
        self.defer_domains = frozenset(d.lower() for d in defer_domains)
        self.raw_count = 0
        self._kept: OrderedDict[str, CaughtMail] = OrderedDict()
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS picked when asked for 0)."""
        return self._port

    async def start(self) -> None:
        """Listen for SMTP on the running loop."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connect, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await self._server.wait_closed()
        self._server = None

    def _connect(self) -> SMTP:
        # A fixed hostname: the default would look up this machine's FQDN on every connection.
        connection = SMTP(_Handler(self), hostname="threshold-mailcatcher", enable_SMTPUTF8=True,
                          data_size_limit=10_000_000)
        self._connections.add(connection)
        return connection

    def messages(self) -> list[CaughtMail]:
        """The distinct messages kept, oldest first."""
        return list(self._kept.values())

    def by_key(self) -> dict[str, CaughtMail]:
        """The kept messages by their X-Threshold-Key header."""
        return {mail.key: mail for mail in self._kept.values() if mail.key is not None}

    def get(self, index: int) -> CaughtMail | None:
        """One kept message by its index."""
        return next((mail for mail in self._kept.values() if mail.index == index), None)

    def clear(self) -> None:
        """Forget everything received."""
        self._kept.clear()
        self.raw_count = 0

    async def wait_for(self, predicate: Callable[[CaughtMail], bool], timeout: float = 5.0) -> CaughtMail:
        """The first kept message matching `predicate`, waiting for it up to `timeout` (then TimeoutError)."""
        hit: CaughtMail | None = None

        def match() -> bool:
            nonlocal hit
            hit = next((mail for mail in self._kept.values() if predicate(mail)), None)
            return hit is not None

        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(match)
        assert hit is not None  # wait_for returned, so match() found one
        return hit

    async def receive(self, envelope: Envelope) -> None:
        """Keep one delivered message, unless its Message-ID was already seen."""
        self.raw_count += 1
        mail = _parse(envelope, self.raw_count)
        identity = mail.message_id or f"no-id-{mail.index}"
        if identity not in self._kept:
            self._kept[identity] = mail
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)
        async with self._arrived:
            self._arrived.notify_all()


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain in self.catcher.refuse_domains:
            return "550 5.1.1 Recipient address rejected"
        if domain in self.catcher.defer_domains:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.catcher.receive(envelope)
        return "250 Message accepted for delivery"


def _parse(envelope: Envelope, index: int) -> CaughtMail:
    raw = envelope.original_content or b""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)  # policy.default always builds EmailMessage
    return CaughtMail(
        index=index,
        envelope_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        subject=str(message.get("Subject", "")),
        message_id=_header(message, "Message-ID"),
        moment=_header(message, "X-Threshold-Moment"),
        key=_header(message, "X-Threshold-Key"),
        text=_part(message, "plain") or "",
        html=_part(message, "html"),
        received_at=datetime.now(UTC),
    )


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return str(value).strip() if value is not None else None


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _as_json(mail: CaughtMail) -> dict[str, Any]:
    data = asdict(mail)
    data["rcpt_tos"] = list(mail.rcpt_tos)
    data["received_at"] = mail.received_at.isoformat()
    data["kind"] = "sms" if mail.is_sms else "email"
    return data


def mail_router(catcher: MailCatcher) -> APIRouter:
    """The pages that show what the catcher received: /mail, /mail/{index} and /mail.json."""
    router = APIRouter(tags=["mail catcher"])
    headers = {"Content-Security-Policy": PAGE_POLICY}

    @router.get("/mail", response_class=HTMLResponse)
    async def mail_list() -> HTMLResponse:
        """Every kept message, newest first."""
        page = _pages.get_template("list.html").render(
            mails=list(reversed(catcher.messages())), raw_count=catcher.raw_count)
        return HTMLResponse(page, headers=headers)

    @router.get("/mail.json")
    async def mail_json() -> list[dict[str, Any]]:
        """Every kept message as JSON, newest first."""
        return [_as_json(mail) for mail in reversed(catcher.messages())]

    @router.get("/mail/{index}", response_class=HTMLResponse)
    async def mail_one(index: int) -> HTMLResponse:
        """One message: its headers, its text, and its HTML in a sandboxed frame."""
        mail = catcher.get(index)
        if mail is None:
            raise NotFound("no such message in the mail catcher")
        return HTMLResponse(_pages.get_template("message.html").render(mail=mail), headers=headers)

    return router
