"""Token rotation: refresh every grant before its access token expires; warn before known expiries."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.extensions import db
from app.oauth.models import OAuthGrant
from app.oauth.services import GrantUnusable, grants_due, refresh_grant
from tenants.models import Tenant
from tenants.queues import enqueue, region_redis
from tenants.regions import get_region
from worker.jobs import job

# Network trouble, 5xx and temporarily_unavailable: back off for about 25 minutes before giving up.
TRANSIENT_RETRY = Retry(max=5, interval=[10, 30, 60, 300, 1200])


@job
def refresh_grant_token(grant_id: int) -> str:
    """Refresh one grant (once, even with many workers); a transient failure raises so RQ retries it."""
    grant = db.session.get(OAuthGrant, grant_id)
    if grant is None:
        return "gone"
    try:
        return "refreshed" if refresh_grant(grant) else "fresh"
    except GrantUnusable as unusable:
        return unusable.kind  # already made visible: mailboxes re-connect, operators alerted


@job
def refresh_due_grants(region: str) -> int:
    """Fan out one refresh job per grant of ``region`` that expires within the margin."""
    margin = timedelta(seconds=current_app.config["OAUTH_REFRESH_MARGIN"])
    due = grants_due(region, margin)
    enqueued = 0
    for grant_id in due:
        job_id = f"oauth-refresh-{grant_id}"
        if _pending(job_id, region):  # still queued, running or waiting for its retry: its backoff stands
            continue
        tenant = db.session.get(Tenant, db.session.get(OAuthGrant, grant_id).tenant_id)
        enqueue(tenant, "worker.jobs.oauth.refresh_grant_token", grant_id, retry=TRANSIENT_RETRY, job_id=job_id,
                meta={"grant_id": grant_id})
        enqueued += 1
    return enqueued


def _pending(job_id: str, region: str) -> bool:
    try:
        existing = Job.fetch(job_id, connection=region_redis(get_region(region)))
    except NoSuchJobError:
        return False
    return existing.get_status(refresh=False) in (
        JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


@job
def warn_expiring(region: str) -> int:
    from app.oauth.expiry import warn_expiring_in_region

    return warn_expiring_in_region(region)
