"""RQ as the operator sees it, per region: each queue's depth, the age of its oldest job, what is running, failed,
scheduled and recently finished; the workers with their heartbeats and current jobs; whether the scheduler and the
IDLE supervisor are alive. Read straight from the region's Redis, so it is what RQ itself sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Queue, Worker, cron_scheduler_registry
from rq.defaults import DEFAULT_CRON_SCHEDULER_TTL
from rq.worker_registration import clean_worker_registry

from app.inbound.services import IDLE_HEARTBEAT_KEY
from tenants.queues import region_redis
from tenants.regions import QUEUE_KINDS, Region


@dataclass(frozen=True)
class QueueStats:
    kind: str
    name: str
    depth: int
    oldest_age_seconds: float | None
    started: int
    failed: int
    scheduled: int
    finished: int  # finished jobs RQ still keeps (their result TTL): the recent throughput


@dataclass(frozen=True)
class WorkerStats:
    name: str
    state: str
    queues: list[str]
    last_heartbeat: datetime | None
    current_job: str | None
    successful: int
    failed: int


@dataclass(frozen=True)
class RegionStats:
    region: str
    queues: list[QueueStats]
    workers: list[WorkerStats]
    scheduler_heartbeat: datetime | None
    scheduler_alive: bool
    idle_alive: bool


def region_stats(region: Region) -> RegionStats:
    redis = region_redis(region)
    queues = [Queue(region.queue_name(kind), connection=redis) for kind in QUEUE_KINDS]
    for queue in queues:
        clean_worker_registry(queue)  # workers whose key expired (killed, no heartbeat) leave the list now
    heartbeat = _scheduler_heartbeat(redis, f"postroom-scheduler:{region.name}")
    now = datetime.now(UTC)
    return RegionStats(
        region=region.name, queues=[_queue_stats(kind, queue, now) for kind, queue in zip(QUEUE_KINDS, queues,
                                                                                           strict=True)],
        workers=sorted((_worker_stats(w) for w in Worker.all(connection=redis)), key=lambda w: w.name),
        scheduler_heartbeat=heartbeat,
        scheduler_alive=heartbeat is not None and (now - heartbeat).total_seconds() < DEFAULT_CRON_SCHEDULER_TTL,
        idle_alive=bool(redis.exists(IDLE_HEARTBEAT_KEY.format(region=region.name))))


def _queue_stats(kind: str, queue: Queue, now: datetime) -> QueueStats:
    oldest = None
    first = queue.get_job_ids(0, 0)
    if first:
        job = queue.fetch_job(first[0])
        if job is not None and job.enqueued_at is not None:
            enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
            oldest = max(0.0, (now - enqueued).total_seconds())
    return QueueStats(kind=kind, name=queue.name, depth=queue.count, oldest_age_seconds=oldest,
                      started=queue.started_job_registry.count, failed=queue.failed_job_registry.count,
                      scheduled=queue.scheduled_job_registry.count, finished=queue.finished_job_registry.count)


def _worker_stats(worker: Worker) -> WorkerStats:
    heartbeat = worker.last_heartbeat
    if heartbeat is not None and heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    return WorkerStats(name=worker.name, state=str(worker.get_state()), queues=worker.queue_names(),
                       last_heartbeat=heartbeat, current_job=worker.get_current_job_id(),
                       successful=worker.successful_job_count, failed=worker.failed_job_count)


def _scheduler_heartbeat(redis, name: str) -> datetime | None:
    score = redis.zscore(cron_scheduler_registry.get_registry_key(), name)
    return datetime.fromtimestamp(score, UTC) if score is not None else None
