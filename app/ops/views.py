"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import time

from flask import Blueprint, current_app
from sqlalchemy import text

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
