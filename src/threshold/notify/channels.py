"""The log sender: where no SMTP server or SMS gateway is configured, a notification is written to the log."""

from __future__ import annotations

import structlog

from threshold.notify.ports import Note

log = structlog.get_logger("threshold.notify")


class LogSender:
    """Delivers by logging (the recipient and moment only: messages never carry secrets)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, note: Note) -> None:
        """Log the note."""
        log.info("notify", channel=self.channel, moment=note.moment, topic=note.topic, key=note.key)
