"""Prometheus metrics: defined once (``registry``), counted where mail flows (``services``), summed over every
process of a host (``multiprocess``) and read at ``/metrics`` (``app.ops.views``). See ``docs/metrics.md``."""

from app.metrics.multiprocess import process_ended, process_lifetime  # first: sets PROMETHEUS_MULTIPROC_DIR
from app.metrics.registry import (
    hook_refusals,
    http_request_seconds,
    http_requests,
    ingest_seconds,
    messages_duplicate,
    messages_quarantined,
    messages_received,
    outbound_mail,
    sync_seconds,
    syncs,
    webhook_deliveries,
)
from app.metrics.services import (
    CONTENT_TYPE,
    authorized,
    count_duplicate,
    count_hook_refusal,
    count_outbound,
    count_quarantined,
    count_webhook,
    init_metrics,
    observe_ingest,
    observe_sync,
    render,
)

__all__ = ["CONTENT_TYPE", "authorized", "count_duplicate", "count_hook_refusal", "count_outbound",
           "count_quarantined", "count_webhook", "hook_refusals", "http_request_seconds", "http_requests",
           "ingest_seconds", "init_metrics", "messages_duplicate", "messages_quarantined", "messages_received",
           "observe_ingest", "observe_sync", "outbound_mail", "process_ended", "process_lifetime", "render",
           "sync_seconds", "syncs", "webhook_deliveries"]
