"""HTTP for households: sign in, homes, rules, deliveries, sessions, audit, guest grants, incidents."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Query
from sqlalchemy import select

from threshold import signin
from threshold.access import guests, machine
from threshold.access import service as access
from threshold.access.router import session_out
from threshold.access.schemas import CloseIncidentIn, GuestGrantIn, GuestGrantOut, IncidentOut, SessionOut
from threshold.audit import service as audit
from threshold.deliveries import service as deliveries_service
from threshold.deliveries.router import SignIn, TokenOut
from threshold.deliveries.schemas import DeliveryOut
from threshold.deps import AddressDep, MemberDep, NowDep, RunnerDep, SessionDep, SettingsDep
from threshold.homes import members, partners, service
from threshold.homes.schemas import AuditOut, HomeOut, PartnerChoiceOut, RulesBody
from threshold.inputs import INT32_MAX

router = APIRouter(prefix="/v1", tags=["household"])


@router.post("/household/token", response_model=TokenOut, tags=["auth"])
async def member_token(body: SignIn, db: SessionDep, settings: SettingsDep, now: NowDep,
                       address: AddressDep) -> TokenOut:
    """Sign a household member in with email and password; returns a short-lived token (rate limited)."""
    subject, token = await signin.token(db, settings, "member", body.email, body.password, address, now)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_seconds, subject=subject)


@router.get("/homes", response_model=list[HomeOut])
async def list_homes(member: MemberDep, db: SessionDep) -> list[HomeOut]:
    """The household's homes."""
    return [await service.home_out(db, h) for h in await service.homes(db, member.id)]


@router.get("/homes/{home_id}", response_model=HomeOut)
async def read_home(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> HomeOut:
    """One home with its entry points, devices and rules."""
    return await service.home_out(db, await service.own_home(db, member.id, home_id))


@router.get("/homes/{home_id}/rules", response_model=RulesBody)
async def read_rules(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> RulesBody:
    """The home's rules."""
    home = await service.own_home(db, member.id, home_id)
    return (await service.home_out(db, home)).rules


@router.put("/homes/{home_id}/rules", response_model=RulesBody)
async def write_rules(home_id: uuid.UUID, body: RulesBody, member: MemberDep, db: SessionDep,
                      now: NowDep) -> RulesBody:
    """Replace the home's rules (owners only)."""
    home = await members.owner_home(db, member.id, home_id, "change the rules", now)
    return await service.set_rules(db, home, body, f"member:{member.id}", now)


@router.get("/homes/{home_id}/deliveries", response_model=list[DeliveryOut])
async def home_deliveries(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[DeliveryOut]:
    """The home's deliveries."""
    home = await service.own_home(db, member.id, home_id)
    return [await deliveries_service.to_out(db, d) for d in await service.deliveries(db, home)]


@router.post("/homes/{home_id}/deliveries/{delivery_id}/approve", response_model=DeliveryOut)
async def approve_delivery(home_id: uuid.UUID, delivery_id: uuid.UUID, member: MemberDep, db: SessionDep,
                           now: NowDep) -> DeliveryOut:
    """Approve a delivery ahead of time, so the driver need not wait at the door."""
    home = await service.own_home(db, member.id, home_id)
    d = await service.approve_delivery(db, home, delivery_id, f"member:{member.id}", now)
    return await deliveries_service.to_out(db, d)


@router.get("/homes/{home_id}/sessions", response_model=list[SessionOut])
async def home_sessions(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[SessionOut]:
    """The home's entry sessions."""
    home = await service.own_home(db, member.id, home_id)
    return [session_out(s) for s in await service.sessions(db, home)]


async def _decide(home_id: uuid.UUID, session_id: uuid.UUID, member: MemberDep, db: SessionDep,
                  runner: RunnerDep, event: machine.Event, now: datetime) -> SessionOut:
    home = await service.own_home(db, member.id, home_id)
    await service.waiting_session(db, home, session_id, f"member:{member.id}", now)
    await db.commit()
    await runner.feed(session_id, event, f"member:{member.id}")
    db.expire_all()
    return session_out(await access.get_session(db, session_id))


@router.post("/homes/{home_id}/sessions/{session_id}/approve", response_model=SessionOut)
async def approve_session(home_id: uuid.UUID, session_id: uuid.UUID, member: MemberDep, db: SessionDep,
                          runner: RunnerDep, now: NowDep) -> SessionOut:
    """Let in the driver waiting at the door ("ask me first")."""
    return await _decide(home_id, session_id, member, db, runner, machine.Approved(), now)


@router.post("/homes/{home_id}/sessions/{session_id}/decline", response_model=SessionOut)
async def decline_session(home_id: uuid.UUID, session_id: uuid.UUID, member: MemberDep, db: SessionDep,
                          runner: RunnerDep, now: NowDep) -> SessionOut:
    """Refuse the driver waiting at the door."""
    return await _decide(home_id, session_id, member, db, runner, machine.Declined(), now)


@router.get("/homes/{home_id}/audit", response_model=list[AuditOut])
async def home_audit(home_id: uuid.UUID, member: MemberDep, db: SessionDep, after: int = Query(0, ge=0, le=INT32_MAX),
                     limit: int = Query(200, ge=1, le=1000)) -> list[AuditOut]:
    """The home's audit chain, in order."""
    await service.own_home(db, member.id, home_id)
    rows = await audit.records(db, home_id, limit=limit, after_seq=after)
    return [AuditOut(seq=r.seq, at=r.at, actor=r.actor, action=r.action, subject=r.subject, data=r.data,
                     prev_hash=r.prev_hash, hash=r.hash) for r in rows]


@router.get("/homes/{home_id}/guest-grants", response_model=list[GuestGrantOut])
async def list_guest_grants(home_id: uuid.UUID, member: MemberDep, db: SessionDep,
                            now: NowDep) -> list[GuestGrantOut]:
    """The home's guest grants."""
    await service.own_home(db, member.id, home_id)
    return [guests.to_out(g, now) for g in await guests.list_for_home(db, home_id)]


@router.post("/homes/{home_id}/guest-grants", response_model=GuestGrantOut, status_code=201)
async def create_guest_grant(home_id: uuid.UUID, body: GuestGrantIn, member: MemberDep, db: SessionDep,
                             now: NowDep) -> GuestGrantOut:
    """Give a guest access once or on a schedule; the link token is returned only now (owners only)."""
    await members.owner_home(db, member.id, home_id, "give guests access", now)
    grant, token = await guests.create(db, home_id, f"member:{member.id}", body, now)
    return guests.to_out(grant, now, token)


@router.delete("/homes/{home_id}/guest-grants/{grant_id}", response_model=GuestGrantOut)
async def revoke_guest_grant(home_id: uuid.UUID, grant_id: uuid.UUID, member: MemberDep, db: SessionDep,
                             now: NowDep, runner: RunnerDep) -> GuestGrantOut:
    """Revoke a guest grant; a guest inside is let out and the door locked (owners only)."""
    await members.owner_home(db, member.id, home_id, "revoke guests' access", now)
    grant = await guests.revoke(db, home_id, grant_id, f"member:{member.id}", now)
    out = guests.to_out(grant, now)
    live = await _live_for_grant(db, grant.id)
    await db.commit()
    for sid in live:
        await runner.feed(sid, machine.Abort("grant_revoked"), f"member:{member.id}")
    return out


async def _live_for_grant(db: SessionDep, grant_id: uuid.UUID) -> list[uuid.UUID]:
    from threshold.access.models import EntrySession

    q = select(EntrySession.id).where(EntrySession.grant_id == grant_id, EntrySession.live.is_(True))
    return list((await db.execute(q)).scalars())


@router.get("/homes/{home_id}/partners", response_model=list[PartnerChoiceOut])
async def list_partners(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[PartnerChoiceOut]:
    """Every partner, and whether each may deliver inside this home (the others deliver to the door only)."""
    home = await service.own_home(db, member.id, home_id)
    return [PartnerChoiceOut(**asdict(c)) for c in await partners.choices(db, home)]


@router.put("/homes/{home_id}/partners/{partner_id}", response_model=PartnerChoiceOut)
async def authorize_partner(home_id: uuid.UUID, partner_id: uuid.UUID, member: MemberDep, db: SessionDep,
                            now: NowDep) -> PartnerChoiceOut:
    """Let this partner deliver inside this home (owners only; audited)."""
    home = await members.owner_home(db, member.id, home_id, "choose partners", now)
    return PartnerChoiceOut(**asdict(await partners.authorize(db, home, partner_id, f"member:{member.id}", now)))


@router.delete("/homes/{home_id}/partners/{partner_id}", response_model=PartnerChoiceOut)
async def revoke_partner(home_id: uuid.UUID, partner_id: uuid.UUID, member: MemberDep, db: SessionDep,
                         now: NowDep) -> PartnerChoiceOut:
    """This partner delivers to the door only from now on, including deliveries already booked (owners only)."""
    home = await members.owner_home(db, member.id, home_id, "choose partners", now)
    return PartnerChoiceOut(**asdict(await partners.revoke(db, home, partner_id, f"member:{member.id}", now)))


@router.get("/homes/{home_id}/incidents", response_model=list[IncidentOut])
async def list_incidents(home_id: uuid.UUID, member: MemberDep, db: SessionDep) -> list[IncidentOut]:
    """The home's incidents."""
    home = await service.own_home(db, member.id, home_id)
    return [service.incident_out(i) for i in await service.incidents(db, home)]


@router.post("/homes/{home_id}/incidents/{incident_id}/close", response_model=IncidentOut)
async def close_incident(home_id: uuid.UUID, incident_id: uuid.UUID, body: CloseIncidentIn, member: MemberDep,
                         db: SessionDep, now: NowDep) -> IncidentOut:
    """Close an incident once a person has dealt with it (owners only; an unsecured or reopened door must be
    secured first)."""
    home = await members.owner_home(db, member.id, home_id, "close incidents", now)
    return service.incident_out(await service.close_incident(db, home, incident_id, f"member:{member.id}",
                                                             body.note, now))
