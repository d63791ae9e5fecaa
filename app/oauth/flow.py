"""The onboarding flow: authorize → callback → encrypted grant → a mailbox speaking XOAUTH2 → its connection test.

The flow's secrets (PKCE verifier, nonce) and its tenant live in the admin's own session, keyed by ``state``, and
are used once: a tampered, replayed, expired or foreign callback finds nothing and stores nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app, session
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.oauth import client
from app.oauth.errors import OAuthFailure
from app.oauth.providers import Provider, get_provider
from app.oauth.services import credentials_for
from tenants.models import Role, Tenant
from tenants.resolver import membership_of

FLOWS = "oauth_flows"
DONE = "oauth_flows_done"
MAX_AGE = 15 * 60
MAX_PENDING = 5


class FlowError(Exception):
    """The callback cannot be used; ``str(exc)`` is a localized explanation for the admin."""


@dataclass(frozen=True)
class Authorized:
    tenant: Tenant
    provider: Provider
    tokens: client.TokenSet
    email: str
    mailbox_id: int | None
    app_id: int | None
    directory: str | None
    client_id: str


def redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/oauth/callback"


def begin(tenant: Tenant, provider_key: str, *, mailbox_id: int | None = None, login_hint: str | None = None) -> str:
    """Remember the flow in the session and return the provider's authorization URL."""
    provider = get_provider(provider_key)
    credentials = credentials_for(tenant, provider) if provider else None
    if provider is None or credentials is None:
        raise FlowError(_("This provider is not set up. Ask your administrator to add its OAuth app."))
    provider = provider.endpoints_for(credentials.directory)
    request = client.authorization_request(provider, credentials, redirect_uri(), login_hint=login_hint)
    pending = {s: f for s, f in session.get(FLOWS, {}).items() if time.time() - f["at"] < MAX_AGE}
    pending = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-(MAX_PENDING - 1):])
    pending[request.state] = {"tenant_id": tenant.id, "user_id": current_user.id, "provider": provider_key,
                              "verifier": request.code_verifier, "nonce": request.nonce, "mailbox_id": mailbox_id,
                              "app_id": credentials.app_id, "client_id": credentials.client_id,
                              "directory": credentials.directory, "at": time.time()}
    session[FLOWS] = pending
    return request.url


def _take_flow(state: str) -> dict:
    flows = session.get(FLOWS, {})
    flow = flows.pop(state, None) if state else None
    session[FLOWS] = flows
    if flow is None:
        if state and state in session.get(DONE, []):
            raise FlowError(_("This sign-in was already used. Start again from the mailbox page."))
        raise FlowError(_("This sign-in did not start here, or it was changed on the way. Start again from the "
                          "mailbox page."))
    session[DONE] = [*session.get(DONE, [])[-9:], state]
    if time.time() - flow["at"] > MAX_AGE:
        raise FlowError(_("This sign-in took too long. Start again from the mailbox page."))
    return flow


def _check_member(flow: dict) -> Tenant:
    tenant = db.session.get(Tenant, flow["tenant_id"])
    membership = membership_of(current_user.id, tenant) if tenant else None
    if flow["user_id"] != current_user.id or membership is None or not membership.role.at_least(Role.ADMIN):
        raise FlowError(_("This sign-in belongs to another account or organization. Nothing was saved."))
    return tenant


def _audience_ok(claims: dict, client_id: str) -> bool:
    audience = claims.get("aud")
    return client_id in audience if isinstance(audience, list) else audience == client_id


def complete(args: dict) -> Authorized:
    """Check the callback and exchange its code; raises ``FlowError`` (nothing stored) when anything is off."""
    flow = _take_flow(args.get("state", ""))
    tenant = _check_member(flow)
    if args.get("error"):
        if args["error"] == "access_denied":
            raise FlowError(_("Access was not granted, so no mailbox was connected."))
        raise FlowError(_("The provider refused the sign-in: %(error)s", error=args.get("error_description")
                          or args["error"]))
    provider = get_provider(flow["provider"]).endpoints_for(flow["directory"])
    credentials = credentials_for(tenant, provider, flow["app_id"])
    if credentials is None or credentials.client_id != flow["client_id"]:
        raise FlowError(_("The sign-in app was changed while you signed in. Start again from the mailbox page."))
    try:
        tokens = client.exchange_code(provider, credentials, code=args.get("code", ""), redirect_uri=redirect_uri(),
                                      code_verifier=flow["verifier"])
    except OAuthFailure as failure:
        raise FlowError(_("The provider did not issue tokens: %(cause)s", cause=failure.cause)) from None
    problem = None
    claims = tokens.id_claims
    if provider.issues_id_token and not claims:
        problem = _("The provider sent no ID token, so the sign-in cannot be verified. Nothing was saved.")
    elif claims and (claims.get("nonce") != flow["nonce"] or not _audience_ok(claims, credentials.client_id)):
        problem = _("The sign-in answer does not belong to this request. Nothing was saved.")
    email = (tokens.id_claims.get("email") or tokens.id_claims.get("preferred_username")
             or client.userinfo_email(provider, tokens.access_token))
    if problem is None and not email:
        problem = _("The provider did not tell which mailbox was signed in. Nothing was saved.")
    if problem is not None:
        client.revoke(provider, credentials, tokens.refresh_token or tokens.access_token)
        raise FlowError(problem)
    return Authorized(tenant, provider, tokens, email.lower(), flow["mailbox_id"], flow["app_id"], flow["directory"],
                      credentials.client_id)
