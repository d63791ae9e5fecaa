"""The one way the web tier enqueues work: by dotted job name, on the tenant's region's queues."""

from __future__ import annotations

from functools import cache

from redis import Redis
from rq import Queue
from rq.job import Job

from tenants.models import Tenant
from tenants.regions import Region, get_region


@cache
def _redis(url: str) -> Redis:
    return Redis.from_url(url)


def region_redis(region: Region) -> Redis:
    return _redis(region.redis_url)


def region_queue(region: Region, kind: str) -> Queue:
    return Queue(region.queue_name(kind), connection=region_redis(region))


def enqueue(tenant: Tenant, job_name: str, *args, kind: str = "default", **options) -> Job:
    """Enqueue ``job_name`` (e.g. ``"worker.jobs.sync.sync_mailbox"``) for ``tenant`` on its region's queue.

    ``tenant_id`` goes into ``job.meta`` so workers, logs and monitoring know whose job it is.
    """
    meta = {**options.pop("meta", {}), "tenant_id": tenant.id}
    queue = region_queue(get_region(tenant.region), kind)
    return queue.enqueue(job_name, *args, meta=meta, **options)
