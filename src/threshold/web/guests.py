"""Portal pages for guest access: schedules with a calendar picker, one-time access, revoke."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
