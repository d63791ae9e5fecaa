"""What a broken grant does to its mailboxes, the audit log, the communication log and the operators."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.services import record
from app.connections.models import ConnectionKind, ConnectionLog
from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.errors import OAuthFailure
from app.oauth.models import GrantStatus, OAuthGrant
from app.oauth.services import raise_operator_alert, record_grant_event, resolve_operator_alert
from tenants.models import Tenant


def grant_mailboxes(grant: OAuthGrant) -> list[Mailbox]:
    return list(db.session.scalars(select(Mailbox).where(Mailbox.tenant_id == grant.tenant_id,
                                                         Mailbox.oauth_grant_id == grant.id)))


def _client_alert_key(grant: OAuthGrant) -> str:
    return f"oauth:{grant.provider}:client"


def grant_failed(grant: OAuthGrant, failure: OAuthFailure) -> None:
    """``invalid_grant``: the grant is dead, its mailboxes stop and ask for a re-connect. ``invalid_client``: the
    app is refused — the grant stays and is retried, the mailboxes show failing, and an operator alert is raised
    for our own app (the tenant's admins see the banner for theirs); the first successful refresh clears it all."""
    tenant = db.session.get(Tenant, grant.tenant_id)
    grant.last_error = failure.cause[:500]
    changes = {"cause": failure.cause, **({"code": failure.code} if failure.code else {})}
    if failure.kind == "invalid_grant":
        grant.status = GrantStatus.REVOKED
        changes["status"] = ["active", "revoked"]
    record_grant_event(grant, f"oauth.{failure.kind}", changes)
    if failure.kind == "invalid_client" and grant.app_id is None:
        raise_operator_alert("oauth_client_invalid", _client_alert_key(grant),
                             f"The platform's {grant.provider} OAuth client was refused: {failure.cause}")
    for mailbox in grant_mailboxes(grant):
        db.session.add(ConnectionLog(tenant_id=tenant.id, mailbox_id=mailbox.id, kind=ConnectionKind.TOKEN,
                                     direction="inbound", duration_ms=0.0, ok=False, category=failure.kind,
                                     step="refresh", server_response=failure.cause[:2000]))
        # A refused grant needs its owner to sign in again; a refused client needs whoever owns the app (no
        # re-connect can help), so the mailbox shows as failing with that cause instead.
        status = MailboxStatus.REAUTH_REQUIRED if failure.kind == "invalid_grant" else MailboxStatus.FAILING
        if mailbox.status != status:
            record(tenant, f"mailbox.{status.value}", object_type="mailbox", object_id=mailbox.id,
                   label=mailbox.address, changes={"status": [mailbox.status.value, status.value],
                                                   "cause": failure.cause})
            before = mailbox.status.value
            mailbox.status = status
            mailbox.last_failure_category = failure.kind
            _alert_admins(tenant, mailbox, status, failure.cause)
            _status_events(tenant, mailbox, before, failure.cause)
    db.session.commit()


def _status_events(tenant, mailbox, before: str, cause: str) -> None:
    from app.webhooks.payloads import mailbox_data
    from app.webhooks.services import emit

    emit(tenant, "mailbox.status_changed", lambda: mailbox_data(mailbox, previous_status=before, cause=cause))
    if mailbox.status == MailboxStatus.REAUTH_REQUIRED:
        emit(tenant, "mailbox.reauth_required", lambda: mailbox_data(mailbox, cause=cause))


def _alert_admins(tenant, mailbox, status: MailboxStatus, cause: str) -> None:
    """By mail, through the region's relay (the mailbox itself may be what cannot send)."""
    from app.outbound import notifications

    event = "reauth_required" if status == MailboxStatus.REAUTH_REQUIRED else "mailbox_failing"
    notifications.mailbox_alert(tenant, mailbox, event, notifications.admins(tenant), reason=cause)


def client_recovered(grant: OAuthGrant) -> None:
    """A refresh succeeded: mailboxes that failed only because the app was refused work again."""
    tenant = db.session.get(Tenant, grant.tenant_id)
    if grant.app_id is None:
        resolve_operator_alert(_client_alert_key(grant))
    for mailbox in grant_mailboxes(grant):
        if mailbox.status == MailboxStatus.FAILING and mailbox.last_failure_category == "invalid_client":
            record(tenant, "mailbox.recovered", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
                   changes={"status": ["failing", "active"]})
            mailbox.status, mailbox.last_failure_category, mailbox.failure_streak = MailboxStatus.ACTIVE, None, 0
