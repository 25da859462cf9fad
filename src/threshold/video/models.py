"""The clips table: one recording per entry session, from start to sealed (or partial) to purged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column, utcnow


class Clip(Base):
    """A session's recording.

    status: recording -> sealed (clean stop) | partial (stream lost, ffmpeg died, worker died) -> purged.
    """

    __tablename__ = "clips"
    id: Mapped[uuid.UUID] = id_column()
    # One clip per session: the unique key is also how two workers agree on who records.
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entry_sessions.id", ondelete="CASCADE"),
                                                  unique=True)
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    camera_device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="recording", index=True)
    failure: Mapped[str | None] = mapped_column(String(60), default=None)
    # The worker recording it, and when it last said so: a silent owner's clip is closed as partial.
    owner: Mapped[str | None] = mapped_column(String(64), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    codec: Mapped[str | None] = mapped_column(String(20), default=None)
    frames: Mapped[int | None] = mapped_column(Integer, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # Frame gaps: [{"start": s, "end": s | None, "by": "recorder" | "watch"}], seconds from the clip's start.
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # A clip under a claim is kept past retention until the hold is released.
    hold: Mapped[str | None] = mapped_column(String(200), default=None)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
