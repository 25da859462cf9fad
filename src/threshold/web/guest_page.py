"""A guest's personal link page: opens the door only inside the schedule."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
