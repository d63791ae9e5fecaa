"""Every metric Postroom exports, defined once (``docs/metrics.md`` describes each).

Labels are bounded: regions (configured), outcomes and reasons (fixed sets in the code), blueprints and status
classes. Never a tenant, mailbox or user id: tenants sign themselves up, so their number has no bound, and each
label value is a series of its own in every process's file and in Prometheus. Every metric has labels, so no value
file is opened at import, before ``create_app`` has chosen the directory.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

messages_received = Counter(
    "postroom_messages_received", "Mail ingested as a new ticket message.", ["region"])
messages_duplicate = Counter(
    "postroom_messages_duplicate", "Mail that was already a message of its tenant (another mailbox, a re-fetch).",
    ["region"])
messages_quarantined = Counter(
    "postroom_messages_quarantined", "Mail set aside in the quarantine, by reason.", ["region", "reason"])
ingest_seconds = Histogram(
    "postroom_ingest_seconds", "Time to ingest one batch of receipts (parse, screen, lock, write).", ["region"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))

syncs = Counter("postroom_sync", "Mailbox syncs, by outcome (ok, failed, interrupted).", ["region", "outcome"])
sync_seconds = Histogram(
    "postroom_sync_seconds", "Time a mailbox sync took, whatever its outcome.", ["region"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))

outbound_mail = Counter(
    "postroom_outbound_mail", "Outgoing mail, by outcome (sent, deferred, failed, bounced).", ["region", "outcome"])
webhook_deliveries = Counter(
    "postroom_webhook_deliveries", "Webhook delivery attempts, by the delivery's state after it "
    "(delivered, pending: failed and retried later, dead: failed for good).", ["region", "outcome"])
hook_refusals = Counter("postroom_hook_refusals", "Refused calls to /hooks/… by reason.", ["reason"])

http_requests = Counter(
    "postroom_http_requests", "HTTP requests, by method, status class (2xx…) and blueprint.",
    ["method", "status_class", "endpoint_group"])
http_request_seconds = Histogram(
    "postroom_http_request_seconds", "Time from the start of a request to its response, by blueprint.",
    ["endpoint_group"])
