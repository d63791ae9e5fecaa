"""The operator's verbs: see every tenant's mailboxes (failing first), pause or resume one, and read back what
operators did. Each action lands in the operator trail and in the tenant's own audit log."""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user
from sqlalchemy import case, select

from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus
from app.mailboxes.services import set_status
from app.operator.models import OperatorAction
from tenants.models import Tenant

# Failing first, then those that need a person, then paused, then the healthy ones.
_URGENCY = case({MailboxStatus.FAILING: 0, MailboxStatus.REAUTH_REQUIRED: 1, MailboxStatus.PAUSED: 2},
                value=Mailbox.status, else_=3)
PAGE_SIZE = 200


@dataclass(frozen=True)
class MailboxLine:
    mailbox: Mailbox
    tenant: Tenant


def mailbox_lines(*, status: str | None = None, region: str | None = None, limit: int = PAGE_SIZE) -> list[MailboxLine]:
    query = select(Mailbox, Tenant).join(Tenant, Tenant.id == Mailbox.tenant_id)
    if status:
        query = query.where(Mailbox.status == status)
    if region:
        query = query.where(Tenant.region == region)
    query = query.order_by(_URGENCY, Mailbox.failure_streak.desc(), Tenant.slug, Mailbox.address).limit(limit)
    return [MailboxLine(mailbox, tenant) for mailbox, tenant in db.session.execute(query)]


def set_mailbox_paused(mailbox: Mailbox, paused: bool, reason: str = "") -> None:
    """Pause (or resume) any tenant's mailbox, e.g. one hammering a provider; both audit trails say who and why."""
    action = "mailbox.paused_by_operator" if paused else "mailbox.resumed_by_operator"
    before = mailbox.status.value
    db.session.add(OperatorAction(operator_id=current_user.id, operator=current_user.email, action=action,
                                  tenant_id=mailbox.tenant_id, object_type="mailbox", object_id=mailbox.id,
                                  label=mailbox.address, details={"status": [before, "paused" if paused else "active"],
                                                                  "reason": reason[:500]}))
    set_status(mailbox, MailboxStatus.PAUSED if paused else MailboxStatus.ACTIVE, action)  # commits both


def recent_actions(limit: int = 200) -> list[OperatorAction]:
    return list(db.session.scalars(select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)))
