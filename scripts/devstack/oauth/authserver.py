"""authlib grant and endpoint classes wired to the dev provider's storage.

Deviations from authlib's defaults, and why:
- refresh tokens rotate, and presenting a rotated one revokes its whole family (OAuth 2.0 Security BCP §4.14);
- PKCE only accepts S256, and public clients must use it;
- introspection answers anonymous callers (Dovecot) unless an introspection secret was configured.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask

from .models import AuthorizationCode, Client, Storage, Token, User

ALL_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
DOVECOT_USER = "dovecot"


@dataclass
class ProviderSettings:
    access_token_ttl: int = 3600
    refresh_token_ttl: int | None = None
    issuer: str | None = None
    introspection_secret: str | None = None


class DevAuthorizationServer(AuthorizationServer):
    """Carries storage and settings so grant/endpoint classes can reach them through ``self.server``."""

    def __init__(self, app: Flask, storage: Storage, settings: ProviderSettings) -> None:
        self.storage = storage
        self.settings = settings
        super().__init__(app, query_client=self._find_client, save_token=self._store_token)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(lambda *a, **k: generate_token(42), lambda *a, **k: generate_token(48), self._ttl),
        )
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RotatingRefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def _ttl(self, client: Client, grant_type: str) -> int:
        return client.access_token_ttl or self.settings.access_token_ttl

    def _find_client(self, client_id: str) -> Client | None:
        return self.storage.session.query(Client).filter_by(client_id=client_id).first()

    def _store_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        parent: Token | None = request.refresh_token  # set only by the refresh grant
        client: Client = request.client
        ttl = client.refresh_token_ttl or self.settings.refresh_token_ttl
        item = Token(
            client_id=client.client_id,
            user_id=request.user.get_user_id(),
            family_id=parent.family_id if parent else secrets.token_hex(16),
            refresh_expires_at=int(time.time()) + ttl if ttl and token.get("refresh_token") else None,
            **token,
        )
        self.storage.session.add(item)
        self.storage.session.commit()

    def find_token(self, value: str, hint: str | None = None) -> Token | None:
        query = self.storage.session.query(Token)
        by_access = query.filter_by(access_token=value)
        by_refresh = query.filter_by(refresh_token=value)
        order = (by_refresh, by_access) if hint == "refresh_token" else (by_access, by_refresh)
        return order[0].first() or order[1].first()

    def revoke_family(self, family_id: str) -> int:
        return self.storage.revoke_tokens(Token.family_id == family_id)


class S256CodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        # RFC 7636 defaults a missing method to "plain", which we do not accept.
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE with S256.")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS
    server: DevAuthorizationServer

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        item = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope,
            user_id=request.user.get_user_id(),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            nonce=data.get("nonce"),
        )
        self.server.storage.session.add(item)
        self.server.storage.session.commit()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        session = self.server.storage.session
        item = session.query(AuthorizationCode).filter_by(code=code, client_id=client.client_id).first()
        return item if item and not item.is_expired() else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.storage.session.delete(authorization_code)
        self.server.storage.session.commit()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return self.server.storage.session.get(User, authorization_code.user_id)


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: DevAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = self.server.find_token(refresh_token, "refresh_token")
        if token is None or token.refresh_token != refresh_token:
            return None
        if token.refresh_token_revoked_at:
            # Reuse of a rotated (or revoked) token means it may be stolen: kill every descendant too.
            self.server.revoke_family(token.family_id)
            return None
        return token if token.is_refresh_usable() else None

    def authenticate_user(self, refresh_token: Token) -> User | None:
        return self.server.storage.session.get(User, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        # Only the refresh token is retired; its access token stays valid until it expires.
        refresh_token.refresh_token_revoked_at = int(time.time())
        self.server.storage.session.commit()


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS
    server: DevAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        # RFC 7009 §2.1: revoking a refresh token should also invalidate the access tokens of that grant.
        if token.refresh_token == request.form["token"]:
            self.server.revoke_family(token.family_id)
            return
        token.access_token_revoked_at = int(time.time())
        self.server.storage.session.commit()


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: DevAuthorizationServer

    def authenticate_endpoint_client(self, request: OAuth2Request) -> Client | None:
        secret = self.server.settings.introspection_secret
        user, password = extract_basic_authorization(request.headers)
        if secret and user == DOVECOT_USER and password and secrets.compare_digest(password, secret):
            return None
        try:
            return super().authenticate_endpoint_client(request)
        except InvalidClientError:
            if secret:
                raise
            return None  # anonymous introspection is allowed when no secret is configured

    def create_endpoint_response(self, request: OAuth2Request) -> tuple[int, dict[str, Any], list]:
        self.authenticate_endpoint_client(request)
        self.check_params(request, None)
        value = request.form["token"]
        token = self.server.find_token(value, request.form.get("token_type_hint"))
        return 200, self.describe(token, value), default_json_headers

    def describe(self, token: Token | None, value: str) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        if token.access_token == value:
            active, exp, kind = not (token.is_expired() or token.is_revoked()), token.expires_at, "access_token"
        else:
            active, exp, kind = token.is_refresh_usable(), token.refresh_expires_at, "refresh_token"
        user = self.server.storage.session.get(User, token.user_id)
        if not active or user is None:
            return {"active": False}
        return {
            "active": True,
            "username": user.username,
            "sub": str(user.id),
            "email": user.email,
            "scope": token.scope,
            "client_id": token.client_id,
            "token_type": "Bearer" if kind == "access_token" else kind,
            "exp": exp,
            "iat": token.issued_at,
        }


def make_bearer_validator(storage: Storage) -> BearerTokenValidator:
    class _Validator(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            return storage.session.query(Token).filter_by(access_token=token_string).first()

    return _Validator()
