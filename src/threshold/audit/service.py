"""Appending to and reading from the audit log (never commits; the caller's transaction does)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.audit.chain import GENESIS, Finding, Link, link_hash, verify
from threshold.audit.models import AuditHead, AuditRecord


async def start_chain(db: AsyncSession, home_id: uuid.UUID) -> None:
    """Create the empty chain of a new home."""
    db.add(AuditHead(home_id=home_id, seq=0, hash=GENESIS))


async def append(
    db: AsyncSession, home_id: uuid.UUID, actor: str, action: str, subject: str, data: dict[str, Any],
    now: datetime,
) -> AuditRecord:
    """Append one record to a home's chain; the head row is locked so that appends never fork."""
    return (await append_many(db, home_id, [(actor, action, subject, data)], now))[0]


async def append_many(db: AsyncSession, home_id: uuid.UUID,
                      entries: list[tuple[str, str, str, dict[str, Any]]], now: datetime) -> list[AuditRecord]:
    """Append several records (actor, action, subject, data) to one chain under a single head lock."""
    if not entries:
        return []
    head = (
        await db.execute(select(AuditHead).where(AuditHead.home_id == home_id).with_for_update())
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(home_id=home_id, seq=0, hash=GENESIS)
        db.add(head)
    at = now.isoformat()
    seq, prev = head.seq, head.hash
    records = []
    for actor, action, subject, data in entries:
        seq += 1
        digest = link_hash(str(home_id), seq, at, actor, action, subject, data, prev)
        records.append(AuditRecord(home_id=home_id, seq=seq, at=now, actor=actor, action=action,
                                   subject=subject, data=data, prev_hash=prev, hash=digest))
        prev = digest
    db.add_all(records)
    head.seq, head.hash = seq, prev
    return records


def to_link(r: AuditRecord) -> Link:
    """The chain's view of a stored record."""
    return Link(str(r.home_id), r.seq, r.at.isoformat(), r.actor, r.action, r.subject, r.data, r.prev_hash, r.hash)


async def records(db: AsyncSession, home_id: uuid.UUID, limit: int | None = None,
                  after_seq: int = 0) -> list[AuditRecord]:
    """A home's records in chain order."""
    q = select(AuditRecord).where(AuditRecord.home_id == home_id, AuditRecord.seq > after_seq)
    q = q.order_by(AuditRecord.seq)
    if limit:
        q = q.limit(limit)
    return list((await db.execute(q)).scalars())


async def home_ids(db: AsyncSession) -> AsyncIterator[uuid.UUID]:
    """Every home that has a chain (records or a head)."""
    heads = set((await db.execute(select(AuditHead.home_id))).scalars())
    recs = set((await db.execute(select(AuditRecord.home_id).distinct())).scalars())
    for home_id in sorted(heads | recs, key=str):
        yield home_id


async def verify_home(db: AsyncSession, home_id: uuid.UUID) -> tuple[int, list[Finding]]:
    """Verify one home's chain against its head: (records checked, findings)."""
    # A share lock on the head holds appenders off until this transaction ends, so the records read next are
    # the ones the head describes (read committed would otherwise see a record committed after the head).
    head = (await db.execute(select(AuditHead).where(AuditHead.home_id == home_id)
                             .with_for_update(read=True))).scalar_one_or_none()
    recs = await records(db, home_id)
    findings = verify((to_link(r) for r in recs), (head.seq, head.hash) if head else None)
    if head is None and recs:
        findings.append(Finding(str(home_id), recs[-1].seq, "head_mismatch"))
    return len(recs), findings
