"""The driver app: sign in, today's stops, scan, ask for entry, watch the steps, finish."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
