"""Evidence bundles: one home's audit chain, its sessions and incidents, and how to verify them, in a zip."""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threshold.access.models import EntrySession, Incident
from threshold.audit import service
from threshold.audit.models import AuditHead
from threshold.errors import NotFound
from threshold.homes.models import Home

HOW_TO_VERIFY = """How to verify this bundle
=========================
records.jsonl holds one audit record per line, in chain order. For each record, the SHA-256 of
  json.dumps({"home","seq","at","actor","action","subject","data","prev"}, sort_keys=True,
             separators=(",", ":"), ensure_ascii=False)
equals its "hash"; its "prev" equals the previous record's hash (the first record's prev is 64 zeros);
seq runs 1, 2, 3 ... without gaps. manifest.json gives the head (last seq and hash) as stored when the bundle was
written, and the SHA-256 of every file in the bundle. `threshold audit verify` does the same on a live database.
"""


def _row(r: Any) -> dict[str, Any]:
    return {"home": str(r.home_id), "seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
            "subject": r.subject, "data": r.data, "prev": r.prev_hash, "hash": r.hash}


async def bundle(db: AsyncSession, home_id: uuid.UUID, out: Path, now: datetime) -> dict[str, Any]:
    """Write the evidence bundle for one home; returns its manifest."""
    home = await db.get(Home, home_id)
    if home is None:
        raise NotFound("No such home.")
    records = await service.records(db, home_id)
    count, findings = await service.verify_home(db, home_id)
    head = await db.get(AuditHead, home_id)
    sessions = (await db.execute(select(EntrySession).where(EntrySession.home_id == home_id)
                                 .order_by(EntrySession.requested_at))).scalars()
    incidents = (await db.execute(select(Incident).where(Incident.home_id == home_id))).scalars()
    files: dict[str, bytes] = {
        "records.jsonl": "".join(json.dumps(_row(r), sort_keys=True) + "\n" for r in records).encode(),
        "sessions.json": json.dumps([
            {"id": str(s.id), "state": s.state, "reason": s.reason, "actor": f"{s.actor_kind}:{s.actor_id}",
             "delivery": str(s.delivery_id) if s.delivery_id else None, "requested_at": s.requested_at.isoformat(),
             "ended_at": s.ended_at.isoformat() if s.ended_at else None, "camera_gap": s.camera_gap}
            for s in sessions], indent=2).encode(),
        "incidents.json": json.dumps([
            {"id": str(i.id), "kind": i.kind, "status": i.status, "session": str(i.session_id),
             "opened_at": i.opened_at.isoformat(), "closed_at": i.closed_at.isoformat() if i.closed_at else None,
             "closed_by": i.closed_by, "note": i.close_note} for i in incidents], indent=2).encode(),
        "HOW-TO-VERIFY.txt": HOW_TO_VERIFY.encode(),
    }
    manifest = {
        "home": str(home_id), "address": home.address, "generated_at": now.isoformat(), "records": count,
        "head": {"seq": head.seq, "hash": head.hash} if head else None,
        "verified": not findings, "findings": [f"{f.problem}@{f.seq}" for f in findings],
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest
