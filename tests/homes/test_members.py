"""Household members: only owners invite and change people, a household keeps an owner, invitations are hashed,
single use, expiring and revocable, and each member's own notification choice wins in the fan-out."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from threshold import limits
from threshold.audit.models import AuditRecord
from threshold.errors import Conflict, NotFound, ThresholdError
from threshold.homes import members
from threshold.homes.models import Invitation, Member
from threshold.notify import choices, fanout
from threshold.notify.models import NotificationPreference, OutboxMessage
from threshold.sim.harness import Harness
from threshold.sim.outcome import eventually

ADDRESS = "198.51.100.7"
PASSWORD = "correct horse battery"


def _lim(h: Harness) -> limits.Limits:
    return limits.Limits.of(h.settings)


async def _owner(h: Harness) -> Member:
    async with h.app.state.sessions() as db:
        row: Member = (await db.execute(select(Member).where(Member.email == h.world.homes[0].member_email))
                       ).scalar_one()
        db.expunge(row)
        return row


async def _join(h: Harness, owner: Member, email: str, role: str = "member") -> Member:
    """An invited person who accepted."""
    async with h.app.state.sessions() as db:
        _, token = await members.invite(db, owner.id, email, "Bo Lin", role, h.clock(), _lim(h), ADDRESS)
        await db.commit()
    async with h.app.state.sessions() as db:
        joined = await members.accept(db, token, "Bo Lin", PASSWORD, h.clock(), _lim(h), ADDRESS)
        await db.commit()
        db.expunge(joined)
        return joined


async def _refusals(h: Harness, home_id: uuid.UUID, reason: str) -> int:
    async with h.app.state.sessions() as db:
        rows = (await db.execute(select(AuditRecord).where(AuditRecord.home_id == home_id,
                                                           AuditRecord.action == "access.refused"))).scalars()
        return sum(1 for r in rows if r.data.get("reason") == reason)


async def test_a_member_cannot_invite_change_roles_or_the_rules_and_each_refusal_is_audited(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    bo = await _join(h, owner, "bo@example.com")
    home_id = h.world.homes[0].id
    before = await _refusals(h, home_id, "owner_only")
    async with h.app.state.sessions() as db:
        with pytest.raises(members.OwnerOnly) as refused:
            await members.invite(db, bo.id, "cy@example.com", "Cy", "owner", h.clock(), _lim(h), ADDRESS)
        assert refused.value.code == "owner_only" and refused.value.status == 403 and refused.value.keep_changes
        await db.commit()
    async with h.app.state.sessions() as db:
        with pytest.raises(members.OwnerOnly):
            await members.set_role(db, bo.id, bo.id, "owner", h.clock())
        await db.commit()
    async with h.app.state.sessions() as db:
        with pytest.raises(members.OwnerOnly):
            await members.owner_home(db, bo.id, home_id, "change the rules", h.clock())
        await db.commit()
    assert await _refusals(h, home_id, "owner_only") == before + 3
    async with h.app.state.sessions() as db:
        assert (await db.get(Member, bo.id)).role == "member"
        assert (await db.execute(select(Invitation).where(Invitation.email == "cy@example.com"))).first() is None


async def test_the_last_owner_can_be_neither_demoted_nor_removed(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    bo = await _join(h, owner, "bo@example.com")
    async with h.app.state.sessions() as db:
        for change in (members.set_role(db, owner.id, owner.id, "member", h.clock()),
                       members.remove(db, owner.id, owner.id, h.clock())):
            with pytest.raises(Conflict) as refused:
                await change
            assert refused.value.code == "last_owner"
        await members.set_role(db, owner.id, bo.id, "owner", h.clock())
        # With a second owner, the first may step down.
        await members.set_role(db, owner.id, owner.id, "member", h.clock())
        await db.commit()
    async with h.app.state.sessions() as db:
        with pytest.raises(Conflict):
            await members.remove(db, bo.id, bo.id, h.clock())
        assert (await db.get(Member, bo.id)).active


async def test_a_removed_member_is_inactive_and_no_longer_heard_from(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    bo = await _join(h, owner, "bo@example.com")
    async with h.app.state.sessions() as db:
        await members.remove(db, owner.id, bo.id, h.clock())
        await db.commit()
    async with h.app.state.sessions() as db:
        row = await db.get(Member, bo.id)
        assert row is not None and not row.active
        with pytest.raises(Conflict) as refused:
            await members.set_role(db, owner.id, bo.id, "owner", h.clock())
        assert refused.value.code == "member_removed"


async def test_an_invitation_is_stored_hashed_used_once_and_refused_after(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    async with h.app.state.sessions() as db:
        inv, token = await members.invite(db, owner.id, " Bo@Example.com ", "Bo", "member", h.clock(), _lim(h),
                                          ADDRESS)
        await db.commit()
    async with h.app.state.sessions() as db:
        stored = await db.get(Invitation, inv.id)
        assert stored is not None and stored.email == "bo@example.com"
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
        joined = await members.accept(db, token, "Bo", PASSWORD, h.clock(), _lim(h), ADDRESS)
        await db.commit()
    assert joined.role == "member" and joined.household_id == owner.household_id
    async with h.app.state.sessions() as db:
        with pytest.raises(ThresholdError) as refused:
            await members.accept(db, token, "Bo again", PASSWORD, h.clock(), _lim(h), ADDRESS)
        assert refused.value.code == "invitation_accepted" and refused.value.status == 410
        views = await members.invitations(db, owner.id, h.clock())
        assert [v.state for v in views if v.id == inv.id] == ["accepted"]


async def test_an_invitation_expires_after_seven_days(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    async with h.app.state.sessions() as db:
        inv, token = await members.invite(db, owner.id, "bo@example.com", "Bo", "owner", h.clock(), _lim(h),
                                          ADDRESS)
        await db.commit()
    later = h.clock() + members.INVITATION_TTL + timedelta(seconds=1)
    async with h.app.state.sessions() as db:
        with pytest.raises(ThresholdError) as refused:
            await members.accept(db, token, "Bo", PASSWORD, later, _lim(h), ADDRESS)
        assert refused.value.code == "invitation_expired"
        assert [v.state for v in await members.invitations(db, owner.id, later) if v.id == inv.id] == ["expired"]
        assert (await db.execute(select(Member).where(Member.email == "bo@example.com"))).first() is None


async def test_a_revoked_invitation_no_longer_opens_and_a_wrong_token_counts_as_a_failed_credential(
        harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    async with h.app.state.sessions() as db:
        inv, token = await members.invite(db, owner.id, "bo@example.com", "Bo", "member", h.clock(), _lim(h),
                                          ADDRESS)
        await members.revoke(db, owner.id, inv.id, h.clock())
        await db.commit()
    async with h.app.state.sessions() as db:
        with pytest.raises(ThresholdError) as refused:
            await members.accept(db, token, "Bo", PASSWORD, h.clock(), _lim(h), ADDRESS)
        assert refused.value.code == "invitation_revoked"
        with pytest.raises(NotFound) as unknown:
            await members.usable(db, token[::-1], h.clock(), _lim(h), "203.0.113.9")
        assert unknown.value.code == "invitation_invalid" and unknown.value.keep_changes
        await db.commit()
    async with h.app.state.sessions() as db:
        failures = (await db.execute(select(limits.LoginFailure).where(
            limits.LoginFailure.ip == "203.0.113.9"))).scalars().all()
        assert len(failures) == 1


async def test_an_email_with_an_account_cannot_be_invited(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    other = h.world.homes[1].member_email
    async with h.app.state.sessions() as db:
        with pytest.raises(members.InvitationFormInvalid) as refused:
            await members.invite(db, owner.id, other, "Someone", "member", h.clock(), _lim(h), ADDRESS)
        assert "already has an account" in refused.value.errors["email"]
        assert refused.value.keep_changes  # counted like sign-up's answer, so accounts cannot be listed


async def test_each_member_hears_on_their_own_choice_then_the_households_then_the_default(
        harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    bo = await _join(h, owner, "bo@example.com")
    cy = await _join(h, owner, "cy@example.com")
    home_id = h.world.homes[0].id
    async with h.app.state.sessions() as db:
        for m in (owner.id, bo.id, cy.id):
            row = await db.get(Member, m)
            assert row is not None
            row.phone = f"+4470000000{str(m.int)[-2:]}"
        db.add(NotificationPreference(household_id=owner.household_id, moment="door_not_relocked",
                                      channels=["email"]))
        await choices.set_member_preferences(db, bo.id, owner.household_id, {"door_not_relocked": []}, [],
                                             h.clock())
        await choices.set_member_preferences(db, cy.id, owner.household_id,
                                             {"door_not_relocked": ["email", "sms"]}, [], h.clock())
        await db.commit()
    event = OutboxMessage(id=uuid.uuid4(), idempotency_key="t", audience="household", topic="door.unsecured",
                          home_id=home_id, payload={}, created_at=h.clock(), available_at=h.clock())
    policy = fanout.LinkPolicy("s" * 40, "http://threshold.test", timedelta(hours=1))
    async with h.app.state.sessions() as db:
        made = await fanout.expand(db, event, policy, h.clock())
        heard = sorted((n.channel, n.recipient) for n in made)
        mine = await choices.member_preferences(db, bo.id, owner.household_id)
        theirs = await choices.member_preferences(db, owner.id, owner.household_id)
    emails = {owner.id: owner.email, bo.id: "bo@example.com", cy.id: "cy@example.com"}
    assert ("email", emails[owner.id]) in heard and ("email", "cy@example.com") in heard
    assert not any(r == "bo@example.com" for _, r in heard)  # silenced by their own choice
    assert sum(1 for c, _ in heard if c == "sms") == 1  # only Cy chose SMS; the household chose email only
    assert mine["door_not_relocked"] == [] and theirs["door_not_relocked"] == ["email"]
    assert theirs["delivered"] == ["email"]  # never chosen by anyone: the moment's default


async def test_two_owners_stepping_down_at_once_leave_one_owner(harness: Harness) -> None:
    h = harness
    owner = await _owner(h)
    bo = await _join(h, owner, "bo@example.com", role="owner")
    async with h.app.state.sessions() as first:
        await members.set_role(first, owner.id, owner.id, "member", h.clock())
        # The second steps down while the first has not committed: it must wait, then see it is the last owner.
        second = asyncio.create_task(_step_down(h, bo.id))
        if first.get_bind().dialect.name == "postgresql":
            async def waiting() -> bool:
                async with h.app.state.sessions() as look:
                    found = await look.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                                    "datname = current_database() AND wait_event_type = 'Lock'"))
                    return int(found.scalar_one()) >= 1

            assert await eventually(waiting, timeout=10)
        await first.commit()
    assert await second == "last_owner"
    async with h.app.state.sessions() as db:
        owners = (await db.execute(select(Member.id).where(Member.household_id == owner.household_id,
                                                           Member.role == "owner"))).scalars().all()
        assert list(owners) == [bo.id]


async def _step_down(h: Harness, member_id: uuid.UUID) -> str:
    async with h.app.state.sessions() as db:
        try:
            await members.set_role(db, member_id, member_id, "member", h.clock())
        except Conflict as refused:
            return refused.code
        await db.commit()
        return "ok"
