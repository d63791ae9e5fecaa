"""Keeping each OAuth mailbox subscribed to its provider's push (Graph change notifications, Gmail watch), so new
mail syncs within seconds instead of at the next poll. Polling goes on regardless: push only makes mail arrive
sooner, and a subscription that cannot be made leaves its reason on the row, not a broken mailbox."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from app.extensions import db
from app.hooks.models import PushSubscription
from app.hooks.push_api import PushApi, PushApiError, push_api
from app.hooks.services import POKEABLE, graph_client_state
from app.mailboxes.models import Mailbox
from app.oauth.errors import OAuthFailure
from app.oauth.models import OAuthGrant
from app.oauth.providers import Provider, get_provider
from app.oauth.services import GrantUnusable, access_token, resource_token
from tenants.models import Tenant, utcnow

RENEW_BEFORE = timedelta(days=1)


def due_mailbox_ids(region: str) -> list[int]:
    """OAuth mailboxes of the region whose subscription is missing, ends within a day, failed last time, or
    belongs to a mailbox that no longer syncs (to be taken down)."""
    soon = utcnow() + RENEW_BEFORE
    query = (select(Mailbox.id).join(Tenant, Tenant.id == Mailbox.tenant_id)
             .outerjoin(PushSubscription, PushSubscription.mailbox_id == Mailbox.id)
             .where(Tenant.region == region, Mailbox.oauth_grant_id.is_not(None))
             .where(or_(PushSubscription.id.is_(None), PushSubscription.expires_at.is_(None),
                        PushSubscription.expires_at < soon, PushSubscription.last_error.is_not(None),
                        Mailbox.status.not_in(POKEABLE)))
             .order_by(Mailbox.id))
    return list(db.session.scalars(query))


def keep_subscribed(mailbox: Mailbox) -> PushSubscription | None:
    """Subscribe, renew or take down the mailbox's push subscription; ``None`` when it has none (and needs none)."""
    grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id) if mailbox.oauth_grant_id else None
    provider = get_provider(grant.provider) if grant else None
    api = push_api(provider.push) if provider and provider.push else None
    subscription = db.session.scalar(select(PushSubscription).where(PushSubscription.mailbox_id == mailbox.id))
    if grant is None or provider is None or api is None or mailbox.status not in POKEABLE:
        if subscription is not None:
            _take_down(subscription, api, grant, provider)
        return None
    if subscription is None or subscription.kind != provider.push:
        if subscription is not None:
            db.session.delete(subscription)
        subscription = PushSubscription(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, kind=provider.push)
        db.session.add(subscription)
    try:
        _subscribe_or_renew(subscription, api, _token(grant, provider), mailbox)
    except (PushApiError, OAuthFailure, GrantUnusable) as error:
        subscription.last_error = str(error)[:500]
        current_app.logger.warning("push subscription failed", extra={"mailbox_id": mailbox.id,
                                                                      "error": subscription.last_error})
    db.session.commit()
    return subscription


def _token(grant: OAuthGrant, provider: Provider) -> str:
    return resource_token(grant, provider.push_scope) if provider.push_scope else access_token(grant)


def _subscribe_or_renew(subscription: PushSubscription, api: PushApi, token: str, mailbox: Mailbox) -> None:
    live = subscription.external_id and subscription.expires_at and subscription.expires_at > utcnow()
    if live and subscription.kind == "graph":
        try:
            subscription.expires_at = api.renew(token, subscription.external_id)
            subscription.renewed_at, subscription.last_error = utcnow(), None
            return
        except PushApiError as error:
            if not error.gone:
                raise
    made = api.subscribe(token, graph_client_state(mailbox))
    subscription.external_id, subscription.expires_at = made.external_id, made.expires_at
    subscription.renewed_at, subscription.last_error = utcnow(), None


def _take_down(subscription: PushSubscription, api: PushApi | None, grant: OAuthGrant | None,
               provider: Provider | None) -> None:
    """Best effort at the provider (it expires there anyway within days; its calls are refused meanwhile)."""
    if api is not None and grant is not None and provider is not None:
        try:
            api.unsubscribe(_token(grant, provider), subscription.external_id)
        except (PushApiError, OAuthFailure, GrantUnusable) as error:
            current_app.logger.info("push subscription not removed at the provider", extra={"error": str(error)})
    db.session.delete(subscription)
    db.session.commit()
