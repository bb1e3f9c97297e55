"""Structured logs: one JSON object per line (or a readable line on a terminal), via structlog."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(fmt: str = "auto", level: str = "info", file: TextIO | None = None) -> None:
    """`file`: where the lines go (default: standard error)."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer = structlog.dev.ConsoleRenderer(colors=False) if fmt == "console" else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=False,
    )


def _trace_ids(_logger: object, _method: str, event: dict) -> dict:
    """trace_id and span_id of the current span, when tracing is on: logs and traces correlate."""
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - the API is a dependency
        return event
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def get(name: str = "wmiput") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
