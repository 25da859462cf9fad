"""HTTP for operators: sign in, then the console's data across every home (operator bearer token)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from threshold import signin
from threshold.access import machine
from threshold.access import service as access
from threshold.audit import service as audit
from threshold.audit.models import PLATFORM_CHAIN
from threshold.deliveries.router import SignIn, TokenOut
from threshold.deps import AddressDep, NowDep, OperatorDep, RunnerDep, SessionDep, SettingsDep, forget_keys
from threshold.inputs import INT32_MAX
from threshold.ops import people, service
from threshold.ops.schemas import (
    AccountOut,
    CountsOut,
    DriverIn,
    DriverOut,
    KeyOut,
    LiveSessionOut,
    OpsCloseIn,
    OpsDeviceOut,
    OpsIncidentOut,
    PartnerIn,
    PartnerOut,
    PlatformRecordOut,
    RotateIn,
    counts_out,
    device_out,
    incident_out,
    live_out,
)

router = APIRouter(prefix="/v1/ops", tags=["ops"])


@router.post("/token", response_model=TokenOut, tags=["auth"])
async def operator_token(body: SignIn, db: SessionDep, settings: SettingsDep, now: NowDep,
                         address: AddressDep) -> TokenOut:
    """Sign an operator in with email and password; returns a short-lived token (rate limited)."""
    subject, token = await signin.token(db, settings, "operator", body.email, body.password, address, now)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_seconds, subject=subject)


Status = Annotated[str, Query(pattern="^(open|closed|all)$")]
KeyPrefix = Annotated[str, Path(pattern=r"^thr_[0-9a-f]{12}$")]
AfterSeq = Annotated[int, Query(ge=0, le=INT32_MAX)]
Problem = Annotated[str | None, Query(pattern="^(offline|low_battery|stale)$")]


@router.get("/overview", response_model=CountsOut)
async def overview(operator: OperatorDep, db: SessionDep) -> CountsOut:
    """Live sessions, open and unacknowledged incidents, devices offline, dead letters."""
    return counts_out(await service.counts(db))


@router.get("/sessions/live", response_model=list[LiveSessionOut])
async def live_sessions(operator: OperatorDep, db: SessionDep) -> list[LiveSessionOut]:
    """Entry sessions in progress across every home, oldest first."""
    return [live_out(r) for r in await service.live_sessions(db)]


@router.get("/incidents", response_model=list[OpsIncidentOut])
async def list_incidents(operator: OperatorDep, db: SessionDep, status: Status = "open") -> \
        list[OpsIncidentOut]:
    """Incidents across every home; open ones first, those nobody acknowledged before the others."""
    return [incident_out(r) for r in await service.incidents(db, status)]


@router.get("/incidents/{incident_id}", response_model=OpsIncidentOut)
async def read_incident(incident_id: uuid.UUID, operator: OperatorDep, db: SessionDep) -> OpsIncidentOut:
    """One incident."""
    return incident_out(await service.incident(db, incident_id))


@router.post("/incidents/{incident_id}/acknowledge", response_model=OpsIncidentOut)
async def acknowledge(incident_id: uuid.UUID, operator: OperatorDep, db: SessionDep,
                      now: NowDep) -> OpsIncidentOut:
    """Say an operator is on it (audited; a second acknowledgement keeps the first)."""
    return incident_out(await service.acknowledge(db, incident_id, f"operator:{operator.id}", now))


@router.post("/incidents/{incident_id}/close", response_model=OpsIncidentOut)
async def close(incident_id: uuid.UUID, body: OpsCloseIn, operator: OperatorDep, db: SessionDep,
                now: NowDep) -> OpsIncidentOut:
    """Close an incident with a note (audited); an unsecured door must be confirmed locked first."""
    return incident_out(await service.close(db, incident_id, f"operator:{operator.id}", body.note, now))


@router.get("/devices", response_model=list[OpsDeviceOut])
async def devices(operator: OperatorDep, db: SessionDep, now: NowDep, problem: Problem = None,
                  home_id: uuid.UUID | None = None) -> list[OpsDeviceOut]:
    """Device health across homes: offline first, then low battery, then not seen for a while."""
    return [device_out(r) for r in await service.devices(db, now, problem, home_id)]


@router.get("/drivers", response_model=list[DriverOut], tags=["people"])
async def list_drivers(operator: OperatorDep, db: SessionDep) -> list[DriverOut]:
    """Every driver, active or not."""
    return [DriverOut(**asdict(v)) for v in await people.drivers(db)]


@router.post("/drivers", response_model=DriverOut, status_code=201, tags=["people"])
async def add_driver(body: DriverIn, operator: OperatorDep, db: SessionDep, now: NowDep) -> DriverOut:
    """Add a driver (audited)."""
    return DriverOut(**asdict(await people.add_driver(db, body.email, body.name, body.carrier, body.password,
                                                      f"operator:{operator.id}", now, body.partner_id)))


@router.post("/drivers/{driver_id}/deactivate", response_model=DriverOut, tags=["people"])
async def deactivate_driver(driver_id: uuid.UUID, operator: OperatorDep, db: SessionDep, now: NowDep,
                            runner: RunnerDep) -> DriverOut:
    """Take a driver off at once: their tokens and web sessions are refused from the next request, and an entry
    of theirs under way is ended with the door locked (audited)."""
    actor = f"operator:{operator.id}"
    out = DriverOut(**asdict(await people.set_driver_active(db, str(driver_id), False, actor, now)))
    live = await access.live_sessions_of(db, "driver", str(driver_id))
    await db.commit()
    for session_id in live:
        await runner.feed(session_id, machine.Abort("driver_deactivated"), actor)
    return out


@router.post("/drivers/{driver_id}/reactivate", response_model=DriverOut, tags=["people"])
async def reactivate_driver(driver_id: uuid.UUID, operator: OperatorDep, db: SessionDep, now: NowDep) -> DriverOut:
    """Let a driver sign in again (audited)."""
    return DriverOut(**asdict(await people.set_driver_active(db, str(driver_id), True, f"operator:{operator.id}",
                                                             now)))


@router.post("/members/{member_id}/deactivate", response_model=AccountOut, tags=["people"])
async def deactivate_member(member_id: uuid.UUID, operator: OperatorDep, db: SessionDep, now: NowDep) -> AccountOut:
    """Stop a household member's access at once, such as a lost phone's account (audited)."""
    return AccountOut(id=member_id, active=await people.set_member_active(db, member_id, False,
                                                                          f"operator:{operator.id}", now))


@router.post("/members/{member_id}/reactivate", response_model=AccountOut, tags=["people"])
async def reactivate_member(member_id: uuid.UUID, operator: OperatorDep, db: SessionDep, now: NowDep) -> AccountOut:
    """Restore a member's access (audited)."""
    return AccountOut(id=member_id, active=await people.set_member_active(db, member_id, True,
                                                                          f"operator:{operator.id}", now))


def _partner_out(v: people.PartnerView) -> PartnerOut:
    return PartnerOut(id=v.id, name=v.name, keys=[KeyOut(**asdict(k)) for k in v.keys])


@router.get("/partners", response_model=list[PartnerOut], tags=["people"])
async def list_partners(operator: OperatorDep, db: SessionDep) -> list[PartnerOut]:
    """Every partner with its keys (prefixes only)."""
    return [_partner_out(v) for v in await people.partners(db)]


@router.post("/partners", response_model=PartnerOut, status_code=201, tags=["people"])
async def add_partner(body: PartnerIn, operator: OperatorDep, db: SessionDep, now: NowDep) -> PartnerOut:
    """Add a partner; the answer holds its first API key, shown this once (audited)."""
    view, _ = await people.add_partner(db, body.name, f"operator:{operator.id}", now)
    return _partner_out(view)


@router.post("/partners/{partner_id}/keys", response_model=KeyOut, status_code=201, tags=["people"])
async def rotate_key(partner_id: uuid.UUID, body: RotateIn, operator: OperatorDep, db: SessionDep,
                     now: NowDep) -> KeyOut:
    """Issue a new key; the partner's older keys stop now or after the grace period (audited)."""
    key = await people.rotate_key(db, partner_id, timedelta(minutes=body.grace_minutes), f"operator:{operator.id}",
                                  now)
    forget_keys()
    return KeyOut(**asdict(key))


@router.post("/keys/{prefix}/revoke", response_model=KeyOut, tags=["people"])
async def revoke_key(prefix: KeyPrefix, operator: OperatorDep, db: SessionDep, now: NowDep) -> KeyOut:
    """Revoke one key at once here, and within 10 seconds in every other API process (audited)."""
    key = await people.revoke_key(db, prefix, f"operator:{operator.id}", now)
    forget_keys()
    return KeyOut(**asdict(key))


@router.get("/audit", response_model=list[PlatformRecordOut], tags=["people"])
async def platform_audit(operator: OperatorDep, db: SessionDep, after: AfterSeq = 0,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[PlatformRecordOut]:
    """The platform's audit chain: accounts added and deactivated, keys issued and revoked, sign-in locks."""
    rows = await audit.records(db, PLATFORM_CHAIN, limit=limit, after_seq=after)
    return [PlatformRecordOut(seq=r.seq, at=r.at, actor=r.actor, action=r.action, subject=r.subject, data=r.data)
            for r in rows]
