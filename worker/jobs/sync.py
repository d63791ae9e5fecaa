"""Mailbox sync jobs (polls and "sync now")."""

from __future__ import annotations

from rq import get_current_job

from app.extensions import db
from app.inbound.services import SyncSkipped, sync_mailbox
from app.mail.sessions import MailError
from app.mailboxes.models import Mailbox
from worker.jobs import job


@job
def sync_mailbox_job(mailbox_id: int) -> dict:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return {"skipped": "mailbox deleted"}
    current = get_current_job()
    try:
        results = sync_mailbox(mailbox, job_id=current.id if current else None)
    except SyncSkipped as skipped:
        return {"skipped": str(skipped)}
    except MailError as error:  # already in the communication log; the next poll tries again
        return {"failed": error.category}
    return {r.folder: {"stored": r.stored, "duplicates": r.duplicates} for r in results}


@job
def backfill_mailbox_job(mailbox_id: int) -> dict:
    """Fetch what arrived since the mailbox's ``import_since`` and is not stored yet (below the sync cursor)."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return {"skipped": "mailbox deleted"}
    current = get_current_job()
    try:
        results = sync_mailbox(mailbox, job_id=current.id if current else None, backfill=True)
    except SyncSkipped as skipped:
        if current is not None and "another sync" in str(skipped):  # a poll is running: try again shortly
            raise
        return {"skipped": str(skipped)}
    except MailError as error:
        return {"failed": error.category}
    return {r.folder: {"stored": r.stored, "duplicates": r.duplicates} for r in results}


@job
def poll_due_mailboxes(region: str) -> int:
    """Enqueue a sync for every polling mailbox of ``region`` that is due; one queued sync per mailbox at most."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    from app.inbound.services import SYNC_JOB, mailboxes_due_for_poll
    from tenants.models import Tenant
    from tenants.queues import enqueue, region_redis
    from tenants.regions import get_region

    connection = region_redis(get_region(region))
    count = 0
    for mailbox in mailboxes_due_for_poll(region):
        job_id = f"poll-{mailbox.id}"
        try:
            if Job.fetch(job_id, connection=connection).get_status() in (JobStatus.QUEUED, JobStatus.STARTED):
                continue  # the previous poll has not run yet: do not pile up
        except NoSuchJobError:
            pass
        enqueue(db.session.get(Tenant, mailbox.tenant_id), SYNC_JOB, mailbox.id, kind="poll", job_id=job_id,
                meta={"kind": "sync", "mailbox_id": mailbox.id})
        count += 1
    return count
