"""HTTP for operators: sign in."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from threshold.deliveries.router import SignIn, TokenOut
from threshold.deps import NowDep, SessionDep, SettingsDep
from threshold.errors import Unauthorized
from threshold.ops.models import Operator
from threshold.security import issue_token, verify_password

router = APIRouter(prefix="/v1/ops", tags=["ops"])


@router.post("/token", response_model=TokenOut, tags=["auth"])
async def operator_token(body: SignIn, db: SessionDep, settings: SettingsDep, now: NowDep) -> TokenOut:
    """Sign an operator in with email and password; returns a short-lived token."""
    op = (await db.execute(select(Operator).where(Operator.email == body.email.lower()))).scalar_one_or_none()
    if not verify_password(op.password_hash if op else None, body.password) or op is None or not op.active:
        raise Unauthorized("Wrong email or password.", code="bad_credentials")
    token = issue_token(settings.secret_key, str(op.id), "operator", settings.token_ttl_seconds, now)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_seconds, subject=op.id)
