"""The log sender: where no SMTP server or SMS gateway is configured, a notification is written to the log."""

from __future__ import annotations

from collections import deque

import structlog

from threshold.notify.ports import Note

log = structlog.get_logger("threshold.notify")


class LogSender:
    """Delivers by logging (the recipient and moment only: messages never carry secrets)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        # The last few, for the demo and tests; a long-running server must not grow without bound.
        self.delivered: deque[Note] = deque(maxlen=1000)

    async def send(self, note: Note) -> None:
        """Log the note."""
        self.delivered.append(note)
        log.info("notify", channel=self.channel, moment=note.moment, topic=note.topic, key=note.key)
