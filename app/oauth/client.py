"""Talking to a provider's authorize, token and revoke endpoints (authlib), and what its errors mean."""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from app.oauth.errors import OAuthFailure, classify_error
from app.oauth.providers import ClientCredentials, Provider
from tenants.models import utcnow

HTTP_TIMEOUT = 15
DEFAULT_LIFETIME = 3600


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str = field(repr=False)
    nonce: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(repr=False)
    scopes: list[str]
    id_claims: dict


def _session(provider: Provider, credentials: ClientCredentials, redirect_uri: str | None = None) -> OAuth2Session:
    return OAuth2Session(client_id=credentials.client_id, client_secret=credentials.client_secret,
                         redirect_uri=redirect_uri, scope=" ".join(provider.scopes),
                         token_endpoint_auth_method="client_secret_post")  # noqa: S106 (a method name)


def authorization_request(provider: Provider, credentials: ClientCredentials, redirect_uri: str,
                          login_hint: str | None = None) -> AuthorizationRequest:
    """The URL to send the admin to, with PKCE (S256), a fresh ``state`` and an OIDC ``nonce``."""
    verifier, state, nonce = generate_token(64), generate_token(32), generate_token(24)
    params = {"code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
              "nonce": nonce, **provider.extra_authorize_params}
    if login_hint:
        params["login_hint"] = login_hint
    with _session(provider, credentials, redirect_uri) as session:
        # Consent covers the push subscription's resource too, though token requests name one resource at a time.
        session.scope = " ".join((*provider.scopes, *provider.consent_scopes))
        url, _state = session.create_authorization_url(provider.authorize_url, state=state, **params)
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier, nonce=nonce)


def _token_set(token: dict, previous_refresh: str | None = None) -> TokenSet:
    # Without expires_in, assume an hour (the common lifetime) rather than "never": a later refresh is harmless.
    expires_at = utcnow() + timedelta(seconds=int(token.get("expires_in") or DEFAULT_LIFETIME))
    return TokenSet(access_token=token["access_token"], expires_at=expires_at,
                    refresh_token=token.get("refresh_token") or previous_refresh,
                    scopes=(token.get("scope") or "").split(), id_claims=id_token_claims(token.get("id_token")))


def id_token_claims(id_token: str | None) -> dict:
    """The ID token's claims. Its signature is not checked: it came straight from the token endpoint over TLS,
    which OpenID Connect Core §3.1.3.7 accepts; ``nonce`` and ``aud`` are checked by the caller."""
    if not id_token or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, json.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}  # a JWT's claims are a JSON object (RFC 7519 §7.2)


def _checked(provider: Provider):
    """A compliance hook: every error answer becomes an ``OAuthFailure`` while its HTTP status is still known."""

    def hook(response: requests.Response) -> requests.Response:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "access_token" not in body:
            raise classify_error(provider, response.status_code, body)
        return response

    return hook


def _token_request(provider: Provider, credentials: ClientCredentials, method: str, **params) -> dict:
    with _session(provider, credentials, params.pop("redirect_uri", None)) as session:
        for hook in ("access_token_response", "refresh_token_response"):
            session.register_compliance_hook(hook, _checked(provider))
        try:
            return getattr(session, method)(provider.token_url, timeout=HTTP_TIMEOUT, **params)
        except requests.RequestException as exc:
            raise OAuthFailure("transient", f"{type(exc).__name__}: {exc}") from None


def exchange_code(provider: Provider, credentials: ClientCredentials, *, code: str, redirect_uri: str,
                  code_verifier: str) -> TokenSet:
    return _token_set(_token_request(provider, credentials, "fetch_token", code=code, redirect_uri=redirect_uri,
                                     code_verifier=code_verifier, grant_type="authorization_code"))


def refresh(provider: Provider, credentials: ClientCredentials, refresh_token: str,
            scope: str | None = None) -> TokenSet:
    """Redeem ``refresh_token``. When the provider does not rotate it, the same refresh token stays valid.
    ``scope`` asks for a token of another resource of the same consent (Microsoft Graph instead of Outlook)."""
    params = {"scope": scope} if scope else {}
    token = _token_request(provider, credentials, "refresh_token", refresh_token=refresh_token, **params)
    return _token_set(token, previous_refresh=refresh_token)


def revoke(provider: Provider, credentials: ClientCredentials, token: str) -> None:
    """Best effort: the grant is forgotten here whatever the provider answers."""
    if provider.revoke_url:
        with contextlib.suppress(requests.RequestException):
            requests.post(provider.revoke_url, timeout=HTTP_TIMEOUT, data={
                "token": token, "client_id": credentials.client_id, "client_secret": credentials.client_secret})


def userinfo_email(provider: Provider, access_token: str) -> str | None:
    if not provider.userinfo_url:
        return None
    try:
        response = requests.get(provider.userinfo_url, timeout=HTTP_TIMEOUT,
                                headers={"Authorization": f"Bearer {access_token}"})
        return response.json().get("email") if response.ok else None
    except (requests.RequestException, ValueError):
        return None
