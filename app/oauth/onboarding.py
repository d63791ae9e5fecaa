"""Turning an authorized sign-in into a grant and a mailbox (new, or re-connected)."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from redis.exceptions import RedisError

from app.audit.services import record
from app.errors import FieldErrors
from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus, OutboundMode
from app.mailboxes.services import create_mailbox
from app.oauth.flow import Authorized, FlowError
from app.oauth.models import OAuthGrant
from app.oauth.providers import Provider
from app.oauth.services import credentials_for, discard_tokens, record_grant_event, retire_grant
from tenants.models import Tenant, utcnow
from tenants.queues import enqueue


def _grant(auth: Authorized) -> OAuthGrant:
    tokens = auth.tokens
    grant = OAuthGrant(
        tenant_id=auth.tenant.id, provider=auth.provider.key, directory=auth.directory, app_id=auth.app_id,
        client_id=auth.client_id,
        subject=tokens.id_claims.get("sub"), email=auth.email, scopes=tokens.scopes or list(auth.provider.scopes),
        access_token=tokens.access_token, access_expires_at=tokens.expires_at, refresh_token=tokens.refresh_token,
        refresh_issued_at=utcnow() if tokens.refresh_token else None,
        refresh_expires_at=utcnow() + auth.provider.refresh_token_max_age
        if tokens.refresh_token and auth.provider.refresh_token_max_age else None)
    db.session.add(grant)
    db.session.flush()
    return grant


def _check_scopes(auth: Authorized) -> bool:
    """IMAP is required (without it there is nothing to read); returns whether sending (SMTP) was granted too."""
    granted = set(auth.tokens.scopes or auth.provider.scopes)
    if auth.provider.imap_scope not in granted:
        raise FlowError(_("The sign-in did not grant access to the mailbox (IMAP). Connect again and allow all "
                          "requested permissions."))
    if not auth.tokens.refresh_token:
        raise FlowError(_("The provider issued no refresh token, so the connection would stop within the hour. "
                          "Connect again and allow offline access."))
    return auth.provider.smtp_scope in granted


def connect(auth: Authorized) -> tuple[Mailbox, list[str]]:
    """Store the grant and create or re-connect the mailbox; returns it with warnings for the admin.

    When it refuses (``FlowError``), the tokens just issued are revoked at the provider: nothing is kept anywhere.
    """
    try:
        mailbox, warnings = _connect(auth)
    except FlowError:
        db.session.rollback()
        discard_tokens(auth.provider, credentials_for(auth.tenant, auth.provider, auth.app_id),
                       auth.tokens.refresh_token, auth.tokens.access_token, email=auth.email)
        raise
    subscribe_soon(auth.tenant, mailbox, auth.provider)
    return mailbox, warnings


def subscribe_soon(tenant: Tenant, mailbox: Mailbox, provider: Provider) -> None:
    """Ask for the provider's push at once, not at the scheduler's next round (up to ten minutes): new mail then
    arrives within seconds from the first minute on. Redis away: the periodic job does it later."""
    from app.hooks.push_api import push_api

    if not provider.push or push_api(provider.push) is None:
        return
    try:
        enqueue(tenant, "worker.jobs.subscriptions.subscribe_mailbox", mailbox.id)
    except RedisError:
        current_app.logger.warning("push subscription not enqueued", extra={"mailbox_id": mailbox.id})


def _connect(auth: Authorized) -> tuple[Mailbox, list[str]]:
    can_send = _check_scopes(auth)
    warnings = [] if can_send else [_("Sending was not granted (SMTP): replies cannot go out through this "
                                      "mailbox until you connect again and allow it.")]
    if auth.mailbox_id is not None:
        return _reconnect(auth, can_send), warnings
    grant = _grant(auth)
    provider = auth.provider
    settings = {
        "name": auth.email, "address": auth.email, "inbound_protocol": "imap", "inbound_host": provider.imap.host,
        "inbound_port": provider.imap.port, "inbound_security": provider.imap.security,
        "inbound_username": auth.email, "oauth_grant_id": grant.id, "ca_pem": provider.ca_pem,
        "outbound_mode": OutboundMode.OWN.value if can_send else OutboundMode.NONE.value,
        "outbound_host": provider.smtp.host, "outbound_port": provider.smtp.port,
        "outbound_security": provider.smtp.security, "outbound_username": auth.email,
    }
    try:
        mailbox = create_mailbox(auth.tenant, settings)
    except FieldErrors as error:
        raise FlowError(next(iter(error.errors.values()))) from None
    record_grant_event(grant, "oauth.connected", {"provider": [None, provider.key], "scopes": [None, grant.scopes]})
    db.session.commit()
    return mailbox, warnings


def _reconnect(auth: Authorized, can_send: bool) -> Mailbox:
    mailbox = db.session.scalar(Mailbox.all(auth.tenant).where(Mailbox.id == auth.mailbox_id))
    if mailbox is None:
        raise FlowError(_("The mailbox was deleted while you signed in. Nothing was saved."))
    if mailbox.inbound_username.lower() != auth.email:
        raise FlowError(_("You signed in as %(signed_in)s, but this mailbox is %(mailbox)s. Nothing was changed.",
                          signed_in=auth.email, mailbox=mailbox.inbound_username))
    old_grant_id, grant = mailbox.oauth_grant_id, _grant(auth)
    mailbox.oauth_grant_id = grant.id
    previous = mailbox.status
    if previous != MailboxStatus.PAUSED:  # a paused mailbox stays paused: re-connecting is not resuming
        mailbox.status = MailboxStatus.ACTIVE
    mailbox.failure_streak, mailbox.last_failure_category, mailbox.failure_direction = 0, None, None
    if not can_send:
        mailbox.outbound_mode = OutboundMode.NONE
    elif mailbox.outbound_mode == OutboundMode.NONE and mailbox.outbound_host:
        mailbox.outbound_mode = OutboundMode.OWN  # sending was granted this time
    if old_grant_id is not None and (old := db.session.get(OAuthGrant, old_grant_id)) is not None:
        retire_grant(old)
    record(auth.tenant, "mailbox.reconnected", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
           changes={"status": [previous.value, mailbox.status.value], "oauth_grant": "changed"})
    db.session.commit()
    return mailbox
