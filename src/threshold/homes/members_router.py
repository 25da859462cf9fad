"""HTTP for a household's people: members and their roles, invitations, accepting one, own notification choices."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from threshold import limits
from threshold.deps import AddressDep, MemberDep, NowDep, SessionDep, SettingsDep
from threshold.homes import members, service
from threshold.homes.models import Member
from threshold.homes.schemas import AcceptIn, InvitationIn, InvitationOut, MemberOut, OwnChoicesBody, RoleIn
from threshold.notify import choices

router = APIRouter(prefix="/v1", tags=["household"])


def member_out(m: Member) -> MemberOut:
    """The API view of a member."""
    return MemberOut(id=m.id, name=m.name, email=m.email, role=m.role, active=m.active)


@router.get("/household/members", response_model=list[MemberOut])
async def list_members(member: MemberDep, db: SessionDep) -> list[MemberOut]:
    """The household's members and their roles."""
    return [member_out(m) for m in await members.members(db, member.id)]


@router.put("/household/members/{member_id}/role", response_model=MemberOut)
async def change_role(member_id: uuid.UUID, body: RoleIn, member: MemberDep, db: SessionDep,
                      now: NowDep) -> MemberOut:
    """Make a member an owner, or an owner a member (owners only; the last owner stays one)."""
    return member_out(await members.set_role(db, member.id, member_id, body.role, now))


@router.delete("/household/members/{member_id}", response_model=MemberOut)
async def remove_member(member_id: uuid.UUID, member: MemberDep, db: SessionDep, now: NowDep) -> MemberOut:
    """Remove a member: signed out everywhere at once (owners only; the last owner stays)."""
    return member_out(await members.remove(db, member.id, member_id, now))


@router.get("/household/invitations", response_model=list[InvitationOut])
async def list_invitations(member: MemberDep, db: SessionDep, now: NowDep) -> list[InvitationOut]:
    """The household's invitations with their state (never their links)."""
    return [InvitationOut(**_fields(v)) for v in await members.invitations(db, member.id, now)]


def _fields(v: members.InvitationView) -> dict[str, object]:
    return {"id": v.id, "email": v.email, "name": v.name, "role": v.role, "state": v.state,
            "created_at": v.created_at, "expires_at": v.expires_at}


@router.post("/household/invitations", response_model=InvitationOut, status_code=201)
async def create_invitation(body: InvitationIn, member: MemberDep, db: SessionDep, settings: SettingsDep,
                            now: NowDep, address: AddressDep, request: Request) -> InvitationOut:
    """Invite a person by email (owners only): they get a link to accept, valid once, for 7 days."""
    inv, token = await members.invite(db, member.id, body.email, body.name, body.role, now,
                                      limits.Limits.of(settings), address)
    note = await members.invitation_note(db, inv, token, settings.public_url)
    out = _fields(members.view_of(inv, now))
    await db.commit()
    sent = await members.send_invitation(request.app.state.dispatcher.senders.get("email"), note)
    return InvitationOut(**out, email_sent=sent)


@router.delete("/household/invitations/{invitation_id}", response_model=InvitationOut)
async def revoke_invitation(invitation_id: uuid.UUID, member: MemberDep, db: SessionDep,
                            now: NowDep) -> InvitationOut:
    """Withdraw a pending invitation; its link stops working at once (owners only)."""
    return InvitationOut(**_fields(members.view_of(await members.revoke(db, member.id, invitation_id, now), now)))


@router.post("/invitations/accept", response_model=MemberOut, status_code=201, tags=["auth"])
async def accept_invitation(body: AcceptIn, db: SessionDep, settings: SettingsDep, now: NowDep,
                            address: AddressDep) -> MemberOut:
    """Accept an invitation with its link token: a new account in the household (rate limited, single use)."""
    return member_out(await members.accept(db, body.token, body.name, body.password, now,
                                           limits.Limits.of(settings), address))


@router.get("/household/members/me/notifications", response_model=OwnChoicesBody)
async def read_own_choices(member: MemberDep, db: SessionDep) -> OwnChoicesBody:
    """Every moment with the channels this member is told on (their choice, the household's, or the default)."""
    household = await service.household_of(db, member.id)
    return OwnChoicesBody(channels=await choices.member_preferences(db, member.id, household))


@router.put("/household/members/me/notifications", response_model=OwnChoicesBody)
async def write_own_choices(body: OwnChoicesBody, member: MemberDep, db: SessionDep, now: NowDep) -> OwnChoicesBody:
    """Choose this member's own channels for some moments (an empty list silences a moment for them)."""
    household = await service.household_of(db, member.id)
    home_ids = [h.id for h in await service.homes(db, member.id)]
    return OwnChoicesBody(channels=await choices.set_member_preferences(db, member.id, household, body.channels,
                                                                        home_ids, now))
