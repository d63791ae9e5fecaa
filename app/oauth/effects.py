"""What a broken grant does to its mailboxes, the audit log, the communication log and the operators."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.services import record
from app.connections.models import ConnectionKind, ConnectionLog
from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.errors import OAuthFailure
from app.oauth.models import GrantStatus, OAuthGrant
from app.oauth.services import raise_operator_alert, record_grant_event
from tenants.models import Tenant


def grant_mailboxes(grant: OAuthGrant) -> list[Mailbox]:
    return list(db.session.scalars(select(Mailbox).where(Mailbox.tenant_id == grant.tenant_id,
                                                         Mailbox.oauth_grant_id == grant.id)))


def grant_failed(grant: OAuthGrant, failure: OAuthFailure) -> None:
    """``invalid_grant``: the mailboxes stop and ask for a re-connect. ``invalid_client``: the app is broken —
    an operator alert for our own app, the tenant's admins for theirs."""
    tenant = db.session.get(Tenant, grant.tenant_id)
    status = GrantStatus.REVOKED if failure.kind == "invalid_grant" else GrantStatus.CLIENT_INVALID
    grant.status, grant.last_error = status, failure.cause[:500]
    record_grant_event(grant, f"oauth.{failure.kind}", {"status": ["active", status.value], "cause": failure.cause,
                                                         **({"code": failure.code} if failure.code else {})})
    if failure.kind == "invalid_client" and grant.app_id is None:
        raise_operator_alert("oauth_client_invalid", f"oauth:{grant.provider}:client",
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
            mailbox.status = status
            mailbox.last_failure_category = failure.kind
    db.session.commit()
