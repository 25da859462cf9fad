"""Tables for the append-only audit log: one hash chain per home, and its head."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from threshold.db import Base, UTCDateTime, id_column

# The chain of what concerns the platform rather than one home: accounts, partner keys, sign-in locks.
PLATFORM_CHAIN = uuid.UUID(int=0)


class AuditRecord(Base):
    """One audited fact, linked to the one before it in its home's chain."""

    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("home_id", "seq", name="uq_audit_records_home_seq"),)
    id: Mapped[uuid.UUID] = id_column()
    # The chain: a home's id, or PLATFORM_CHAIN for accounts, keys and sign-in locks (no foreign key for that).
    home_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last link of a home's chain; appends lock this row, so a chain never forks."""

    __tablename__ = "audit_heads"
    home_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
