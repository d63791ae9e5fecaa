"""Bearer-token authentication: the token fixes the tenant for the whole request."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _
from werkzeug.exceptions import Unauthorized

from app.tokens.services import token_for_bearer

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="postroom"'}


class TokenRequired(Unauthorized):
    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), *_CHALLENGE.items()]


def authenticate_token() -> None:
    """``before_request`` for API blueprints: 401 unless a live token is presented."""
    scheme, _sep, credentials = request.headers.get("Authorization", "").partition(" ")
    token = token_for_bearer(credentials.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise TokenRequired(_("Send a valid API token as 'Authorization: Bearer <token>'."))
    g.api_token, g.tenant = token, token.tenant
