"""The operator console: live sessions, unsecured doors and incidents, device health, dead letters."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
