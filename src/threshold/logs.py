"""Structured logging: JSON in production, readable in the demo; secrets are never bound."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from threshold.config import Settings

_REDACT = {"password", "token", "pin", "code", "secret", "authorization", "api_key"}


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _REDACT:
            event[key] = "[redacted]"
    return event


def configure_logging(settings: Settings) -> None:
    """Configure structlog once for the process."""
    level = logging.INFO if settings.mode == "production" else logging.WARNING
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if settings.mode == "production"
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback))
    # The console renderer formats exceptions itself; JSON needs them turned into a field first.
    exc: list[structlog.typing.Processor] = (
        [structlog.processors.format_exc_info] if settings.mode == "production" else [])
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"), _redact, *exc, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Logs go to stderr: stdout carries what a command answers (the headless demo's JSON, an export).
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
