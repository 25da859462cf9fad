"""The audit hash chain (pure): how a record is hashed and how a chain is verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Link:
    """One record as the chain sees it."""

    home_id: str
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


def canonical(home_id: str, seq: int, at: str, actor: str, action: str, subject: str,
              data: dict[str, Any], prev_hash: str) -> bytes:
    """The exact bytes that are hashed: sorted-key compact JSON, so any reader can recompute them."""
    body = {"home": home_id, "seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
            "data": data, "prev": prev_hash}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link_hash(home_id: str, seq: int, at: str, actor: str, action: str, subject: str,
              data: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 of a record's canonical bytes, including the previous record's hash."""
    return hashlib.sha256(canonical(home_id, seq, at, actor, action, subject, data, prev_hash)).hexdigest()


@dataclass(frozen=True, slots=True)
class Finding:
    """A break in a chain: what is wrong and where."""

    home_id: str
    seq: int
    problem: str  # changed | inserted | deleted | forked | head_mismatch


def verify(links: Iterable[Link], head: tuple[int, str] | None) -> list[Finding]:
    """Every break in one home's chain, given its records in seq order and its stored head."""
    findings: list[Finding] = []
    expected_seq, prev = 1, GENESIS
    home = ""
    for rec in links:
        home = rec.home_id
        recomputed = link_hash(rec.home_id, rec.seq, rec.at, rec.actor, rec.action, rec.subject, rec.data,
                               rec.prev_hash)
        if recomputed != rec.hash:
            findings.append(Finding(home, rec.seq, "changed"))
        if rec.seq < expected_seq:
            findings.append(Finding(home, rec.seq, "inserted"))
        elif rec.seq > expected_seq:
            findings.append(Finding(home, expected_seq, "deleted"))
        elif rec.prev_hash != prev:
            findings.append(Finding(home, rec.seq, "inserted" if rec.seq > 1 else "changed"))
        expected_seq, prev = rec.seq + 1, rec.hash
    if head is not None:
        head_seq, head_hash = head
        if head_seq >= expected_seq:
            findings.append(Finding(home, expected_seq, "deleted"))
        elif head_seq != expected_seq - 1 or head_hash != prev:
            findings.append(Finding(home, head_seq, "head_mismatch"))
    return findings
