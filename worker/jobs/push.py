"""Syncs triggered by IMAP IDLE pushes, without losing a notification that arrives while a sync runs.

Each push increments a per-mailbox counter in the region's Redis (``idle:dirty:<mailbox id>``) and makes sure one
``push-<mailbox id>`` job is pending. The job reads the counter, syncs, and clears the counter only if it has not
moved meanwhile; if it moved, mail may have arrived after the sync's SEARCH, so it syncs again. A counter the job
could not clear (another sync held the mailbox lock, the server failed) stays set, and the IDLE supervisor's sweep
enqueues the job again: the counter is the truth, the job only a trigger.
"""

from __future__ import annotations

import threading

from redis import Redis
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.extensions import db
from app.inbound.services import LOCK_TIMEOUT, SyncSkipped, sync_mailbox
from app.mail.sessions import MailError
from app.mailboxes.models import Mailbox
from tenants.models import Tenant
from tenants.queues import region_queue, region_redis
from tenants.regions import Region, get_region
from worker.jobs import job

PUSH_JOB = "worker.jobs.push.push_sync_job"
DIRTY_TTL = 24 * 3600  # a deleted mailbox's counter goes away by itself
MAX_ROUNDS = 3  # then leave the rest to the next push or the sweep, so one busy mailbox cannot hog a worker
PENDING = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)

# Deletes the counter only if it still holds the value the sync started from.
_CLEAR_IF_UNCHANGED = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_enqueue_lock = threading.Lock()  # the sweep and a watcher may ask for the same mailbox at once


def dirty_key(mailbox_id: int) -> str:
    return f"idle:dirty:{mailbox_id}"


def push_job_id(mailbox_id: int) -> str:
    return f"push-{mailbox_id}"


def mark_dirty(region: Region, mailbox_id: int) -> None:
    """Record that ``mailbox_id`` has (or may have) new mail."""
    with region_redis(region).pipeline() as pipe:
        pipe.incr(dirty_key(mailbox_id)).expire(dirty_key(mailbox_id), DIRTY_TTL).execute()


def ensure_push_job(region: Region, tenant_id: int, mailbox_id: int) -> bool:
    """Enqueue ``push-<id>`` on the region's poll queue unless it is already pending; ``True`` if enqueued.

    A started job needs no second one: it re-reads the counter after its sync.
    """
    connection = region_redis(region)
    with _enqueue_lock:
        if _pending(connection, push_job_id(mailbox_id)):
            return False
        region_queue(region, "poll").enqueue(
            PUSH_JOB, mailbox_id, job_id=push_job_id(mailbox_id), job_timeout=LOCK_TIMEOUT,
            meta={"tenant_id": tenant_id, "kind": "sync", "mailbox_id": mailbox_id})
    return True


def _pending(connection: Redis, job_id: str) -> bool:
    try:
        return Job.fetch(job_id, connection=connection).get_status() in PENDING
    except NoSuchJobError:
        return False


def dirty_mailboxes(region: Region, mailbox_ids: list[int]) -> list[int]:
    """Which of ``mailbox_ids`` still have a push nobody has synced yet."""
    if not mailbox_ids:
        return []
    values = region_redis(region).mget([dirty_key(i) for i in mailbox_ids])
    return [i for i, value in zip(mailbox_ids, values, strict=True) if value is not None]


@job
def push_sync_job(mailbox_id: int) -> dict:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return {"skipped": "mailbox deleted"}
    connection = region_redis(get_region(db.session.get(Tenant, mailbox.tenant_id).region))
    clear = connection.register_script(_CLEAR_IF_UNCHANGED)
    current = get_current_job()
    result: dict = {}
    for _round in range(MAX_ROUNDS):
        seen = connection.get(dirty_key(mailbox_id))
        if seen is None:
            break
        try:
            folders = sync_mailbox(mailbox, job_id=current.id if current else None)
        except SyncSkipped as skipped:  # the counter stays set: the sweep tries again
            return {"skipped": str(skipped)}
        except MailError as error:  # in the communication log already; the counter stays, so the sweep retries
            return {"failed": error.category}
        _add(result, folders)
        if clear(keys=[dirty_key(mailbox_id)], args=[seen]):
            break
    return result or {"skipped": "nothing new"}


def _add(result: dict, folders: list) -> None:
    """Counts over all rounds, in the shape ``sync_mailbox_job`` returns."""
    for folder in folders:
        counts = result.setdefault(folder.folder, {"stored": 0, "duplicates": 0})
        counts["stored"] += folder.stored
        counts["duplicates"] += folder.duplicates
