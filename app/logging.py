"""Structured logs: one JSON object per line, carrying the request id, job id and tenant when known."""

from __future__ import annotations

import logging
import sys
import uuid
from typing import IO

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID_HEADER = "X-Request-ID"


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``job_id`` and ``tenant`` to every record (``None`` outside their context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        record.job_id = _current_job_id()
        record.tenant = _current_tenant_slug()
        return True


def _current_job_id() -> str | None:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job else None


def _current_tenant_slug() -> str | None:
    from tenants.context import get_current_tenant

    try:
        tenant = get_current_tenant()
    except RuntimeError:
        return None
    return tenant.slug if tenant is not None else None


def make_handler(log_format: str, stream: IO[str] = sys.stderr) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s tenant=%(tenant)s] %(message)s"))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(app: Flask) -> None:
    handler = make_handler(app.config["LOG_FORMAT"])
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_postroom", False)]
    handler._postroom = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    app.logger.handlers.clear()
    app.logger.propagate = True

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get(_REQUEST_ID_HEADER, "")
        g.request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        if g.get("request_id"):
            response.headers[_REQUEST_ID_HEADER] = g.request_id
        return response
