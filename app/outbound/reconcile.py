"""The outbox's safety net: RQ is only a trigger, the rows say what is unfinished (see FINDINGS.md).

Every minute, per region: mail claimed by a worker that died (``sending`` for longer than
``OUTBOUND_CLAIM_TIMEOUT``) goes back to ``queued``, and every mailbox with mail due gets a delivery job. A mail
whose worker died after the server accepted it but before the outcome was committed is sent again: delivery is at
least once, never silently dropped."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.outbound.inbound_notices import owed_acknowledgements, send_notices
from app.outbound.models import OutgoingMail, OutgoingStatus
from app.outbound.outbox import kick
from tenants.models import Tenant, utcnow


def reconcile(region: str) -> dict[str, int]:
    stale = utcnow() - timedelta(seconds=current_app.config["OUTBOUND_CLAIM_TIMEOUT"])
    in_region = select(Tenant.id).where(Tenant.region == region)
    taken_back = db.session.execute(
        update(OutgoingMail).where(OutgoingMail.status == OutgoingStatus.SENDING, OutgoingMail.claimed_at < stale,
                                   OutgoingMail.tenant_id.in_(in_region))
        .values(status=OutgoingStatus.QUEUED, claimed_at=None, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    due = db.session.execute(select(OutgoingMail.tenant_id, OutgoingMail.mailbox_id).distinct().where(
        OutgoingMail.status == OutgoingStatus.QUEUED, OutgoingMail.next_attempt_at <= utcnow(),
        OutgoingMail.tenant_id.in_(in_region))).all()
    owed = owed_acknowledgements(region)
    db.session.commit()
    for tenant_id, mailbox_id in due:
        kick(region, tenant_id, mailbox_id)
    if owed:
        send_notices([message_id for _tenant_id, message_id in owed])
    return {"taken_back": taken_back or 0, "mailboxes": len(due), "acknowledgements": len(owed)}
