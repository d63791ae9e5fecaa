"""What instrumented code calls (one line at each place where mail flows), the HTTP hooks, and the scrape."""

from __future__ import annotations

import hmac
import time
from collections import Counter
from collections.abc import Iterable

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.metrics import registry as m
from app.metrics.collectors import BacklogCollector, QueueCollector
from app.metrics.multiprocess import use_dir
from app.quarantine.reasons import REASONS as QUARANTINE_REASONS

# The classic text format (what generate_latest writes), whatever newer default prometheus_client announces.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "postroom.metrics.started"
_PENDING = "metrics_pending"


def observe_ingest(region: str, outcomes: Iterable[str], quarantined: Iterable[str], seconds: float) -> None:
    """One committed ingest batch: its receipts' outcomes, the reasons of those it quarantined, its time."""
    counts = Counter(outcomes)
    m.messages_received.labels(region).inc(counts["ingested"])
    m.messages_duplicate.labels(region).inc(counts["duplicate"])
    for reason in quarantined:
        count_quarantined(region, reason)
    m.ingest_seconds.labels(region).observe(seconds)


def count_quarantined(region: str, reason: str) -> None:
    # Only the codes the quarantine page knows: a new code is "other" here until it is described there.
    m.messages_quarantined.labels(region, reason if reason in QUARANTINE_REASONS else "other").inc()


def count_duplicate(region: str) -> None:
    m.messages_duplicate.labels(region).inc()


def observe_sync(region: str, outcome: str, seconds: float) -> None:
    m.syncs.labels(region, outcome).inc()
    m.sync_seconds.labels(region).observe(seconds)


def count_outbound(region: str, outcome: str, count: int = 1) -> None:
    """Counted when the caller's transaction commits (a rolled-back batch that runs again counts once)."""
    _after_commit(m.outbound_mail.labels(region, outcome).inc, count)


def count_webhook(region: str, outcome: str) -> None:
    """Counted when the caller's transaction commits."""
    _after_commit(m.webhook_deliveries.labels(region, outcome).inc, 1)


def _after_commit(increment, amount: float) -> None:
    db.session.info.setdefault(_PENDING, []).append((increment, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for increment, amount in session.info.pop(_PENDING, []):
        increment(amount)


@event.listens_for(Session, "after_rollback")
def _drop_uncommitted(session: Session) -> None:
    session.info.pop(_PENDING, None)


def count_hook_refusal(reason: str) -> None:
    m.hook_refusals.labels(reason).inc()  # reasons are literals in app.hooks: a fixed set


def init_metrics(app: Flask) -> None:
    """This process writes under the app's ``METRICS_DIR``; every request is counted and timed."""
    use_dir(app.config["METRICS_DIR"])
    if values.ValueClass is values.MutexValue:  # something imported prometheus_client before app.metrics did
        app.logger.warning("metrics: prometheus_client is not in multiprocess mode; /metrics shows only what the "
                           "scraped process counted")
    # Registered before the other hooks: runs first before a request and last after it (so it sees the final status).
    app.before_request(_start_timer)
    app.after_request(_count_request)


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _count_request(response: Response) -> Response:
    group = request.blueprint or ("static" if request.endpoint == "static" else "none")  # "none": no route matched
    method = request.method if request.method in _METHODS else "other"
    m.http_requests.labels(method, f"{response.status_code // 100}xx", group).inc()
    started = request.environ.get(_STARTED)
    if started is not None:
        m.http_request_seconds.labels(group).observe(time.perf_counter() - started)
    return response


def authorized(header: str | None) -> bool:
    """Without ``METRICS_TOKEN`` the scrape is open (like /healthz: meant for an internal network); with it, only
    ``Authorization: Bearer <token>``."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return True
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def render() -> bytes:
    """Every process's values summed (the files in ``METRICS_DIR``), then the gauges read now."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=current_app.config["METRICS_DIR"])
    registry.register(QueueCollector())
    registry.register(BacklogCollector())
    return generate_latest(registry)
