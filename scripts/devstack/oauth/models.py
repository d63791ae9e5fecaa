"""SQLAlchemy storage of the dev OAuth2 provider.

It uses its own declarative base and engine so it can never touch (or be touched by) the Postroom app's ``db``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.sqla_oauth2 import OAuth2AuthorizationCodeMixin, OAuth2ClientMixin, OAuth2TokenMixin
from authlib.oauth2.rfc6749 import list_to_scope, scope_to_list
from sqlalchemy import Integer, String, create_engine, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool
from werkzeug.security import check_password_hash, generate_password_hash

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# Few iterations on purpose: these are throw-away dev passwords and tests log in many times.
DEV_HASH_METHOD = "pbkdf2:sha256:1000"
PUBLIC_AUTH_METHOD = "none"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "devoauth_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))

    def get_user_id(self) -> int:
        return self.id

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=DEV_HASH_METHOD)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def email(self) -> str | None:
        return self.username if "@" in self.username else None


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, except for loopback URIs whose port may vary (RFC 8252 §7.3).

    A loopback registration may also end its path with ``*`` (or have no path) to accept any path below it.
    """
    if registered == requested:
        return True
    reg, req = urlsplit(registered), urlsplit(requested)
    if reg.hostname not in LOOPBACK_HOSTS or (reg.scheme, reg.hostname) != (req.scheme, req.hostname):
        return False
    if reg.query != req.query:
        return False
    if reg.path in ("", "/", "*", "/*"):
        return True
    if reg.path.endswith("*"):
        return req.path.startswith(reg.path[:-1])
    return reg.path == req.path


class Client(Base, OAuth2ClientMixin):
    __tablename__ = "devoauth_client"

    id: Mapped[int] = mapped_column(primary_key=True)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_AUTH_METHOD or not self.client_secret

    @property
    def access_token_ttl(self) -> int | None:
        return self.client_metadata.get("access_token_ttl")

    @property
    def refresh_token_ttl(self) -> int | None:
        return self.client_metadata.get("refresh_token_ttl")

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(uri, redirect_uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Confidential clients may use either secret method everywhere; public ones only "none".
        if self.is_public:
            return method == PUBLIC_AUTH_METHOD
        return method in CONFIDENTIAL_AUTH_METHODS

    def get_allowed_scope(self, scope: str | None) -> str:
        # Scopes are free strings here: a client registered without scopes may ask for anything.
        if not scope:
            return ""
        if not self.scope:
            return list_to_scope(scope_to_list(scope))
        return super().get_allowed_scope(scope)


class AuthorizationCode(Base, OAuth2AuthorizationCodeMixin):
    __tablename__ = "devoauth_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)


class Token(Base, OAuth2TokenMixin):
    __tablename__ = "devoauth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    # All tokens descending from one authorization code share a family, so reuse detection can kill them all.
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    refresh_expires_at: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        # The mixin also looks at the refresh token; a rotated refresh token must not kill its access token.
        return bool(self.access_token_revoked_at)

    def is_refresh_usable(self) -> bool:
        if not self.refresh_token or self.refresh_token_revoked_at:
            return False
        return self.refresh_expires_at is None or self.refresh_expires_at >= time.time()


@dataclass
class Storage:
    engine: Engine
    session: scoped_session

    @classmethod
    def open(cls, db_uri: str) -> Storage:
        kwargs: dict[str, Any] = {}
        if db_uri.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
            if db_uri in ("sqlite://", "sqlite:///:memory:"):
                # One shared connection, otherwise every thread would see its own empty in-memory database.
                kwargs["poolclass"] = StaticPool
        engine = create_engine(db_uri, **kwargs)
        Base.metadata.create_all(engine)
        return cls(engine, scoped_session(sessionmaker(engine, expire_on_commit=False)))

    def close(self) -> None:
        self.session.remove()
        self.engine.dispose()

    def revoke_tokens(self, *conditions: Any) -> int:
        """Revoke access and refresh tokens matching ``conditions``; returns how many rows changed."""
        now = int(time.time())
        result = self.session.execute(
            update(Token).where(*conditions).values(access_token_revoked_at=now, refresh_token_revoked_at=now)
        )
        self.session.commit()
        return result.rowcount

    def user_by_name(self, username: str) -> User | None:
        return self.session.query(User).filter_by(username=username).first()

    def upsert_user(self, username: str, password: str) -> User:
        user = self.user_by_name(username) or User(username=username)
        user.set_password(password)
        self.session.add(user)
        self.session.commit()
        return user

    def upsert_client(self, spec: dict[str, Any]) -> Client:
        """Create or replace a client from a plain dict (see ``client_metadata_from_spec``)."""
        client = self.session.query(Client).filter_by(client_id=spec["client_id"]).first()
        if client is None:
            client = Client(client_id=spec["client_id"], client_id_issued_at=int(time.time()))
        client.client_secret = spec.get("client_secret") or ""
        client.set_client_metadata(client_metadata_from_spec(spec))
        self.session.add(client)
        self.session.commit()
        return client


def client_metadata_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill in the defaults a dev client needs: code + refresh grants, secret auth unless it has no secret."""
    secret = spec.get("client_secret")
    default_auth = "client_secret_basic" if secret else PUBLIC_AUTH_METHOD
    return {
        "client_name": spec.get("client_name", spec["client_id"]),
        "redirect_uris": list(spec.get("redirect_uris", [])),
        "scope": spec.get("scope", ""),
        "grant_types": list(spec.get("grant_types", ["authorization_code", "refresh_token"])),
        "response_types": list(spec.get("response_types", ["code"])),
        "token_endpoint_auth_method": spec.get("token_endpoint_auth_method", default_auth),
        "access_token_ttl": spec.get("access_token_ttl"),
        "refresh_token_ttl": spec.get("refresh_token_ttl"),
    }
