"""Tables for signed-in browsers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, utcnow


class WebSession(Base):
    """A signed-in browser: a household member, a driver or an operator. The cookie holds a random token; only
    its hash is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_kind_principal", "kind", "principal_id"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # member, driver or operator: each surface has its own cookie and accepts only its own kind.
    kind: Mapped[str] = mapped_column(String(10))
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    # Every form and htmx request carries this; a page on another site cannot read it.
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def member_id(self) -> uuid.UUID:
        """The household member signed in (the portal accepts only member sessions)."""
        return self.principal_id
