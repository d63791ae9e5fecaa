"""HTTP routes of the dev OAuth2 provider: the OAuth endpoints plus unauthenticated /admin helpers for tests."""

from __future__ import annotations

import functools
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from html import escape
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Flask, Response, abort, jsonify, request

from .authserver import DevAuthorizationServer, make_bearer_validator
from .models import Token, User

LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Dev OAuth provider</title></head><body>
<h1 id="title">Authorize {client}</h1>
<p>Requested scope: <code id="scope">{scope}</code></p>{error}
<form id="login-form" method="post" action="{action}">
<label>Username <input id="username" name="username" autocomplete="username" value="{username}"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="allow" type="submit" name="decision" value="allow">Allow</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button>
</form></body></html>
"""


class Stats:
    """Request counters; mutated only while the app-wide lock is held."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.token_requests: Counter[str] = Counter({"authorization_code": 0, "refresh_token": 0})
        self.token_requests_by_client: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.other: Counter[str] = Counter()

    def count_token_request(self) -> None:
        grant_type = request.form.get("grant_type") or "missing"
        basic_id, _ = extract_basic_authorization(request.headers)
        client_id = basic_id or request.form.get("client_id") or "unknown"
        self.token_requests[grant_type] += 1
        self.token_requests_by_client[client_id][grant_type] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "token_requests": dict(self.token_requests),
            "token_requests_by_client": {k: dict(v) for k, v in self.token_requests_by_client.items()},
            **{f"{name}_requests": n for name, n in self.other.items()},
        }


def register_routes(app: Flask, server: DevAuthorizationServer, stats: Stats) -> None:
    storage = server.storage
    # One lock for every request: SQLite (especially the shared in-memory connection) cannot interleave
    # transactions from several threads, and serializing keeps token rotation race-free. Throughput is irrelevant.
    lock = threading.Lock()
    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(make_bearer_validator(storage))

    def route(*rules: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def serialized(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    try:
                        return view(*args, **kwargs)
                    finally:
                        storage.session.remove()

            for rule in rules:
                app.add_url_rule(rule, view_func=serialized, **options)
            return serialized

        return decorator

    @route("/authorize", methods=["GET", "POST"])
    def authorize() -> Response | str | tuple[str, int]:
        stats.other["authorization"] += 1
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        if request.method == "GET":
            return login_page(grant)
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant=grant, grant_user=None)
        user = storage.user_by_name(request.form.get("username", ""))
        if user is None or not user.check_password(request.form.get("password", "")):
            return login_page(grant, error="Invalid username or password."), 401
        return server.create_authorization_response(grant=grant, grant_user=user)

    @route("/token", methods=["POST"])
    def token() -> Response:
        stats.count_token_request()
        return server.create_token_response()

    @route("/revoke", methods=["POST"])
    def revoke() -> Response:
        stats.other["revocation"] += 1
        return server.create_endpoint_response("revocation")

    @route("/introspect", methods=["POST"])
    def introspect() -> Response:
        stats.other["introspection"] += 1
        return server.create_endpoint_response("introspection")

    @route("/userinfo")
    @require_oauth()
    def userinfo() -> Response:
        user = storage.session.get(User, current_token.user_id)
        if user is None:
            abort(401)
        return jsonify(sub=str(user.id), email=user.email, username=user.username)

    @route("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
    def metadata() -> Response:
        return jsonify(provider_metadata(server.settings.issuer or request.host_url.rstrip("/")))

    register_admin_routes(route, server, stats)


def register_admin_routes(route: Callable[..., Any], server: DevAuthorizationServer, stats: Stats) -> None:
    storage = server.storage

    @route("/admin/stats")
    def admin_stats() -> Response:
        return jsonify(stats.snapshot())

    @route("/admin/reset-stats", methods=["POST"])
    def admin_reset_stats() -> Response:
        stats.reset()
        return jsonify(stats.snapshot())

    @route("/admin/revoke-user", methods=["POST"])
    def admin_revoke_user() -> Response | tuple[Response, int]:
        user = storage.user_by_name(request.form.get("username", ""))
        if user is None:
            return jsonify(error="unknown_user"), 404
        return jsonify(username=user.username, revoked=storage.revoke_tokens(Token.user_id == user.id))

    @route("/admin/clients", methods=["POST"])
    def admin_clients() -> Response | tuple[Response, int]:
        spec = request.get_json(silent=True) or {}
        if not spec.get("client_id"):
            return jsonify(error="client_id is required"), 400
        client = storage.upsert_client(spec)
        return jsonify(client_id=client.client_id, client_secret=client.client_secret, **client.client_metadata)

    @route("/admin/users", methods=["POST"])
    def admin_users() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True) or {}
        if not data.get("username") or not data.get("password"):
            return jsonify(error="username and password are required"), 400
        user = storage.upsert_user(data["username"], data["password"])
        return jsonify(sub=str(user.id), username=user.username)


def login_page(grant: Any, error: str = "") -> str:
    client = grant.client
    return LOGIN_PAGE.format(
        client=escape(client.client_name or client.client_id),
        scope=escape(grant.request.scope or ""),
        error=f'\n<p id="error" role="alert">{escape(error)}</p>' if error else "",
        action=escape(request.full_path),
        username=escape(request.form.get("username", "")),
    )


def provider_metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
    }
