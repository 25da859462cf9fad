"""HTTP for operators: sign in, then the console's data across every home (operator bearer token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from threshold import signin
from threshold.deliveries.router import SignIn, TokenOut
from threshold.deps import AddressDep, NowDep, OperatorDep, SessionDep, SettingsDep
from threshold.ops import service
from threshold.ops.schemas import (
    CountsOut,
    LiveSessionOut,
    OpsCloseIn,
    OpsDeviceOut,
    OpsIncidentOut,
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
