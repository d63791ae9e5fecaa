""""Import mail since <date>": move a mailbox's import start back and fetch what the syncs skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from rq import Retry

from app.audit.services import record
from app.errors import FieldErrors
from app.extensions import db
from app.mailboxes.models import Mailbox
from tenants.models import Tenant

BACKFILL_JOB = "worker.jobs.sync.backfill_mailbox_job"
MAX_YEARS_BACK = 10


def start_backfill(mailbox: Mailbox, since: date | None):
    """Validate ``since``, remember it on the mailbox (audited) and enqueue the backfill; returns the RQ job."""
    from tenants.queues import enqueue

    today = datetime.now(UTC).date()
    if since is None:
        raise FieldErrors({"since": _("Enter the day from which to import mail.")})
    if since > today:
        raise FieldErrors({"since": _("The day cannot be in the future.")})
    if since < today - timedelta(days=365 * MAX_YEARS_BACK):
        raise FieldErrors({"since": _("Import at most %(years)s years back.", years=MAX_YEARS_BACK)})
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    before = mailbox.import_since.date().isoformat() if mailbox.import_since else None
    mailbox.import_since = datetime(since.year, since.month, since.day, tzinfo=UTC)
    record(tenant, "mailbox.backfill_started", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
           changes={"import_since": [before, since.isoformat()]})
    db.session.commit()
    # Retried while a poll of the same mailbox holds its sync lock.
    return enqueue(tenant, BACKFILL_JOB, mailbox.id, kind="poll", retry=Retry(max=10, interval=30),
                   meta={"kind": "sync", "mailbox_id": mailbox.id, "backfill": True}, job_timeout=3600)
