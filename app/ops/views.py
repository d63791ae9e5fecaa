"""Liveness and readiness for load balancers and orchestrators; metrics for Prometheus."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text

from app import metrics
from app.extensions import db, get_redis, limiter

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    return {"status": "ok"}


def _check(name: str, probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # readiness reports every failure instead of raising
        current_app.logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
        return {"name": name, "ok": False, "error": type(exc).__name__}
    return {"name": name, "ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@bp.route("/readyz")
@limiter.exempt
def readyz():
    checks = [_check("database", lambda: db.session.execute(text("SELECT 1"))),
              _check("redis", lambda: get_redis().ping())]
    ready = all(c["ok"] for c in checks)
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@bp.route("/metrics")
@limiter.exempt
def metrics_text():
    """Prometheus text format, summed over this host's processes (``docs/metrics.md``)."""
    if not metrics.authorized(request.headers.get("Authorization")):
        return Response("", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
