"""Gauges read when ``/metrics`` is scraped, from Redis and the database: only what an index or a key answers at
once (queue lengths, the outbox and webhook backlog), never a scan of a tenant's history.

They are registered on the scrape's own registry, never on the default one: in multiprocess mode each process
writes only its own values, and a gauge every process set would be summed once per process.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from tenants.queues import region_queue
from tenants.regions import QUEUE_KINDS, Region, all_regions


class QueueCollector(Collector):
    """``postroom_queue_jobs{region,queue,state}``: each region's RQ queues, one Redis round trip per region."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("postroom_queue_jobs", "RQ jobs per region queue: queued (waiting), started "
                                 "(running), scheduled (to run later), failed (kept by RQ).",
                                 labels=["region", "queue", "state"])
        up = GaugeMetricFamily("postroom_queue_redis_up", "1 if the region's Redis answered this scrape.",
                               labels=["region"])
        for region in all_regions().values():
            try:
                counts = _queue_counts(region)
            except RedisError as error:  # a region's Redis away must not take the whole scrape down
                current_app.logger.warning("metrics: queue depth unavailable",
                                           extra={"region": region.name, "error": str(error)})
                up.add_metric([region.name], 0)
                continue
            up.add_metric([region.name], 1)
            for (kind, state), count in counts.items():
                jobs.add_metric([region.name, kind, state], count)
        yield jobs
        yield up


def _queue_counts(region: Region) -> dict[tuple[str, str], int]:
    keys = []
    with region_queue(region, QUEUE_KINDS[0]).connection.pipeline(transaction=False) as pipe:
        for kind in QUEUE_KINDS:
            queue = region_queue(region, kind)
            pipe.llen(queue.key)
            keys.append((kind, "queued"))
            for state, registry in (("started", queue.started_job_registry), ("failed", queue.failed_job_registry),
                                    ("scheduled", queue.scheduled_job_registry)):
                pipe.zcard(registry.key)  # RQ's own count() would also clean up: a scrape only reads
                keys.append((kind, state))
        return dict(zip(keys, pipe.execute(), strict=True))


class BacklogCollector(Collector):
    """``postroom_outbox_mails{status}`` and ``postroom_webhook_backlog{status}``: work not done yet, over every
    region this database holds (an index on status answers each)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from app.extensions import db
        from app.outbound.models import OutgoingMail, OutgoingStatus
        from app.webhooks.models import DeliveryStatus, WebhookDelivery

        families = []
        try:
            for name, help_text, model, statuses in (
                    ("postroom_outbox_mails", "Outgoing mail not sent yet: queued (waiting for its attempt) or "
                     "sending (claimed by a worker).", OutgoingMail, (OutgoingStatus.QUEUED, OutgoingStatus.SENDING)),
                    ("postroom_webhook_backlog", "Webhook deliveries not done yet: pending or delivering.",
                     WebhookDelivery, (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING))):
                rows = dict(db.session.execute(select(model.status, func.count()).where(model.status.in_(statuses))
                                               .group_by(model.status)).all())
                family = GaugeMetricFamily(name, help_text, labels=["status"])
                for status in statuses:
                    family.add_metric([status.value], rows.get(status, 0))
                families.append(family)
        except SQLAlchemyError as error:  # the database away: the rest of the scrape still answers
            db.session.rollback()
            current_app.logger.warning("metrics: backlog unavailable", extra={"error": str(error)})
            return
        yield from families
