"""The audit hash chain: an intact chain verifies, and every kind of tampering is found."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from threshold.audit.chain import GENESIS, Finding, Link, canonical, link_hash, verify

HOME = "home-42"


def append(chain: list[Link], action: str, data: dict[str, Any] | None = None, *, home: str = HOME) -> list[Link]:
    """The chain with one more record, linked the way the audit service links it."""
    seq = len(chain) + 1
    prev = chain[-1].hash if chain else GENESIS
    at = f"2025-06-02T10:{seq:02d}:00+00:00"
    body = (home, seq, at, "driver:7", action, "session:abc", data or {}, prev)
    return [*chain, Link(*body, hash=link_hash(*body))]


def build(n: int, home: str = HOME) -> list[Link]:
    chain: list[Link] = []
    for i in range(n):
        chain = append(chain, f"step.{i + 1}", {"i": i, "note": "ünïcode ok"}, home=home)
    return chain


def head_of(chain: list[Link]) -> tuple[int, str]:
    return chain[-1].seq, chain[-1].hash


def forged(seq: int, prev_hash: str, action: str = "entry.granted") -> Link:
    """A record made by someone who knows the hash function but not what the chain should say."""
    body = (HOME, seq, "2025-06-02T11:00:00+00:00", "operator:x", action, "session:abc", {"forged": True}, prev_hash)
    return Link(*body, hash=link_hash(*body))


def rehashed(link: Link, prev_hash: str | None = None) -> Link:
    prev = link.prev_hash if prev_hash is None else prev_hash
    body = (link.home_id, link.seq, link.at, link.actor, link.action, link.subject, link.data, prev)
    return Link(*body, hash=link_hash(*body))


def test_intact_chain_verifies_with_its_head() -> None:
    chain = build(5)
    assert verify(chain, head_of(chain)) == []
    assert verify(chain, None) == []


def test_empty_chain_with_no_head_verifies() -> None:
    assert verify([], None) == []


def test_hash_covers_every_field_and_the_previous_hash() -> None:
    base = Link(
        HOME, 3, "2025-06-02T10:00:00+00:00", "driver:7", "lock.locked", "session:abc", {"a": 1}, GENESIS, hash=""
    )
    h = rehashed(base).hash
    variants = {
        "home_id": replace(base, home_id=HOME + "x"),
        "seq": replace(base, seq=4),
        "at": replace(base, at="2025-06-02T10:00:01+00:00"),
        "actor": replace(base, actor="driver:8"),
        "action": replace(base, action="lock.unlocked"),
        "subject": replace(base, subject="session:abd"),
        "data": replace(base, data={"a": 2}),
        "prev_hash": replace(base, prev_hash="f" * 64),
    }
    for name, changed in variants.items():
        assert rehashed(changed).hash != h, f"{name} is not covered by the hash"


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    a = canonical(HOME, 1, "t", "a", "x", "s", {"b": 1, "a": [1, 2]}, GENESIS)
    b = canonical(HOME, 1, "t", "a", "x", "s", {"a": [1, 2], "b": 1}, GENESIS)
    assert a == b


def test_record_changed_in_place_is_found_as_changed() -> None:
    chain = build(5)
    chain[2] = replace(chain[2], data={"i": 2, "note": "nothing happened here"})
    assert verify(chain, head_of(chain)) == [Finding(HOME, 3, "changed")]


def test_record_changed_and_rehashed_breaks_the_link_to_the_next_record() -> None:
    chain = build(5)
    chain[2] = rehashed(replace(chain[2], action="entry.refused"))
    findings = verify(chain, head_of(chain))
    assert findings, "a rewritten record went unnoticed"
    assert findings[0].seq == 4


def test_last_record_changed_and_rehashed_no_longer_matches_the_head() -> None:
    chain = build(5)
    head = head_of(chain)
    chain[4] = rehashed(replace(chain[4], actor="operator:x"))
    assert verify(chain, head) == [Finding(HOME, 5, "head_mismatch")]


def test_first_record_changed_and_rehashed_is_found() -> None:
    chain = build(3)
    chain[0] = rehashed(replace(chain[0], data={"i": 0, "note": "edited"}))
    assert verify(chain, head_of(chain)) != []


def test_record_inserted_between_two_records_is_found_as_inserted() -> None:
    chain = build(5)
    head = head_of(chain)
    tampered = [*chain[:2], forged(3, chain[1].hash), *chain[2:]]
    findings = verify(tampered, head)
    assert Finding(HOME, 3, "inserted") in findings
    assert {f.problem for f in findings} <= {"inserted", "head_mismatch"}


def test_record_inserted_and_later_records_renumbered_is_found() -> None:
    chain = build(5)
    head = head_of(chain)
    tampered = [*chain[:2], forged(3, chain[1].hash)]
    for link in chain[2:]:
        tampered.append(rehashed(replace(link, seq=link.seq + 1), prev_hash=tampered[-1].hash))
    assert verify(tampered, head) == [Finding(HOME, 5, "head_mismatch")]


def test_record_appended_after_the_head_is_found() -> None:
    chain = build(4)
    head = head_of(chain)
    tampered = [*chain, forged(5, chain[-1].hash)]
    assert verify(tampered, head) == [Finding(HOME, 4, "head_mismatch")]


def test_record_whose_previous_hash_was_replaced_is_found() -> None:
    chain = build(4)
    chain[2] = rehashed(chain[2], prev_hash="f" * 64)
    assert Finding(HOME, 3, "inserted") in verify(chain, head_of(chain))


def test_deleted_middle_record_is_found_as_deleted() -> None:
    chain = build(5)
    head = head_of(chain)
    tampered = chain[:2] + chain[3:]
    assert verify(tampered, head) == [Finding(HOME, 3, "deleted")]


def test_deleted_first_record_is_found_as_deleted() -> None:
    chain = build(3)
    assert verify(chain[1:], head_of(chain)) == [Finding(HOME, 1, "deleted")]


def test_deleted_last_record_is_found_through_the_head() -> None:
    chain = build(5)
    head = head_of(chain)
    assert verify(chain[:-1], head) == [Finding(HOME, 5, "deleted")]


def test_several_deleted_last_records_are_found_through_the_head() -> None:
    chain = build(6)
    head = head_of(chain)
    assert verify(chain[:3], head) == [Finding(HOME, 4, "deleted")]


def test_chain_emptied_entirely_is_found_through_the_head() -> None:
    chain = build(3)
    findings = verify([], head_of(chain))
    assert [(f.seq, f.problem) for f in findings] == [(1, "deleted")]


def test_head_that_was_rewritten_is_found() -> None:
    chain = build(3)
    assert verify(chain, (3, "0" * 63 + "1")) == [Finding(HOME, 3, "head_mismatch")]


def test_findings_name_the_home_they_belong_to() -> None:
    chain = build(3, home="home-7")
    chain[1] = replace(chain[1], at="2025-06-02T09:00:00+00:00")
    assert verify(chain, head_of(chain)) == [Finding("home-7", 2, "changed")]


@st.composite
def tampered_chains(draw: st.DrawFn) -> tuple[list[Link], tuple[int, str], str]:
    """An intact chain with its head, after one act of tampering."""
    chain = build(draw(st.integers(min_value=1, max_value=8)))
    head = head_of(chain)
    i = draw(st.integers(min_value=0, max_value=len(chain) - 1))
    how = draw(st.sampled_from(["edit", "edit_and_rehash", "delete", "insert"]))
    match how:
        case "edit":
            chain[i] = replace(chain[i], data={**chain[i].data, "extra": draw(st.integers())})
        case "edit_and_rehash":
            subject = draw(st.text(min_size=1).filter(lambda s: s != chain[i].subject))
            chain[i] = rehashed(replace(chain[i], subject=subject))
        case "delete":
            del chain[i]
        case "insert":
            prev = chain[i - 1].hash if i else GENESIS
            chain.insert(i, forged(i + 1, prev))
    return chain, head, how


@settings(max_examples=300, deadline=None)
@given(tampered_chains())
def test_any_single_act_of_tampering_is_found(case: tuple[list[Link], tuple[int, str], str]) -> None:
    chain, head, how = case
    assert verify(chain, head) != [], f"{how} went unnoticed"
