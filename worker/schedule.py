"""The periodic work, in one table. ``flask scheduler --region R`` enqueues each entry on R's queues."""

from __future__ import annotations

from dataclasses import dataclass

from rq.cron import CronScheduler

from tenants.queues import region_redis
from tenants.regions import Region


@dataclass(frozen=True)
class Periodic:
    job_name: str
    every_seconds: int
    queue_kind: str = "default"
    timeout: int = 300


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("worker.jobs.housekeeping.expire_invitations_in_region", every_seconds=3600),
    Periodic("worker.jobs.housekeeping.purge_old_logs_in_region", every_seconds=3600),
    Periodic("worker.jobs.oauth.refresh_due_grants", every_seconds=60),
    Periodic("worker.jobs.sync.poll_due_mailboxes", every_seconds=15, queue_kind="poll"),
    Periodic("worker.jobs.oauth.warn_expiring", every_seconds=6 * 3600),
    Periodic("worker.jobs.ingest.reconcile_receipts", every_seconds=60, queue_kind="ingest"),
    Periodic("worker.jobs.deliver.reconcile_outbox", every_seconds=60, queue_kind="deliver"),
    Periodic("worker.jobs.webhooks.reconcile_webhooks", every_seconds=60, queue_kind="webhooks"),
    Periodic("worker.jobs.alerts.evaluate_alerts", every_seconds=60),
    Periodic("worker.jobs.subscriptions.renew_push_subscriptions", every_seconds=600),
)


def _import(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


def build_scheduler(region: Region, schedule: tuple[Periodic, ...] = SCHEDULE) -> CronScheduler:
    scheduler = CronScheduler(connection=region_redis(region), name=f"postroom-scheduler:{region.name}")
    for entry in schedule:
        scheduler.register(_import(entry.job_name), queue_name=region.queue_name(entry.queue_kind),
                           args=(region.name,), interval=entry.every_seconds, job_timeout=entry.timeout)
    return scheduler
