"""Portal pages for keypad PIN codes and their sync state with the lock."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
