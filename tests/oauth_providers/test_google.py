"""Google: the authorize URL we build, what we send to and parse from its token endpoint, and its errors.

The token endpoint is a local replay of Google's documented answers (see conftest and recorded/google.json).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from app.oauth import client
from app.oauth.client import authorization_request, exchange_code, id_token_claims, refresh
from app.oauth.errors import OAuthFailure
from app.oauth.onboarding import _check_scopes
from app.oauth.providers import GOOGLE
from tenants.models import utcnow
from tests.oauth_providers.conftest import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_REDIRECT_URI,
    b64url,
    make_jwt,
    query_of,
    recorded,
    s256,
)

OLD_REFRESH_TOKEN = recorded("google", "token_exchange").json["refresh_token"]
RECORDED_SCOPE = "https://mail.google.com/ openid https://www.googleapis.com/auth/userinfo.email"



def exchange(provider, credentials, code="4/0AcvDMrB-recorded-auth-code", verifier="v" * 64):
    return exchange_code(provider, credentials, code=code, redirect_uri=GOOGLE_REDIRECT_URI, code_verifier=verifier)


# --- the authorization URL ----------------------------------------------------------------------------------------


def test_authorization_url_asks_for_offline_gmail_access_with_pkce(google_credentials):
    request = authorization_request(GOOGLE, google_credentials, GOOGLE_REDIRECT_URI, login_hint="support@acme.example")

    url = urlsplit(request.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "accounts.google.com", "/o/oauth2/v2/auth")
    params = query_of(request.url)
    assert params["response_type"] == "code"
    assert params["client_id"] == GOOGLE_CLIENT_ID
    assert params["redirect_uri"] == GOOGLE_REDIRECT_URI
    assert {"https://mail.google.com/", "openid", "email"} <= set(params["scope"].split(" "))
    assert params["state"] == request.state
    assert params["nonce"] == request.nonce
    assert params["code_challenge"] == s256(request.code_verifier)
    assert params["code_challenge_method"] == "S256"
    assert params["access_type"] == "offline"  # or no refresh token at all
    assert params["prompt"] == "consent"  # or no refresh token on a re-connect
    assert params["login_hint"] == "support@acme.example"
    assert "client_secret" not in params
    assert "code_verifier" not in params


def test_authorization_url_pkce_verifier_state_and_nonce_are_fresh_and_well_formed(google_credentials):
    first = authorization_request(GOOGLE, google_credentials, GOOGLE_REDIRECT_URI)
    second = authorization_request(GOOGLE, google_credentials, GOOGLE_REDIRECT_URI)

    # RFC 7636 §4.1: 43..128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
    allowed = set(string.ascii_letters + string.digits + "-._~")
    for request in (first, second):
        assert 43 <= len(request.code_verifier) <= 128
        assert set(request.code_verifier) <= allowed
        assert len(request.state) >= 20 and len(request.nonce) >= 20
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier


def test_authorization_url_without_login_hint(google_credentials):
    params = query_of(authorization_request(GOOGLE, google_credentials, GOOGLE_REDIRECT_URI).url)
    assert "login_hint" not in params


def test_google_ignores_directories():
    assert GOOGLE.endpoints_for("8eaef023-2b34-4da1-9baa-8bc8c9d6a490") is GOOGLE
    assert GOOGLE.endpoints_for(None) is GOOGLE


# --- the code exchange --------------------------------------------------------------------------------------------


def test_exchange_sends_the_code_verifier_and_client_secret_post(replay, google, google_credentials):
    replay.queue(recorded("google", "token_exchange"))
    request = authorization_request(google, google_credentials, GOOGLE_REDIRECT_URI)

    exchange(google, google_credentials, code="4/0AcvDMrB-code", verifier=request.code_verifier)

    assert len(replay.requests) == 1
    sent = replay.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/token", "")
    assert sent.headers["Content-Type"].split(";")[0] == "application/x-www-form-urlencoded"
    assert "application/json" in sent.headers["Accept"]
    assert "Authorization" not in sent.headers  # client_secret_post: no HTTP basic auth
    assert sorted(key for key, _ in sent.form_items) == sorted(set(key for key, _ in sent.form_items))
    assert sent.form == {
        "grant_type": "authorization_code",
        "code": "4/0AcvDMrB-code",
        "redirect_uri": GOOGLE_REDIRECT_URI,
        "code_verifier": request.code_verifier,
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
    }


def test_exchange_parses_the_token_set_and_id_token(replay, google, google_credentials):
    request = authorization_request(google, google_credentials, GOOGLE_REDIRECT_URI)
    reply = recorded("google", "token_exchange", claims={"nonce": request.nonce})
    replay.queue(reply)

    before = datetime.now(UTC)
    tokens = exchange(google, google_credentials, verifier=request.code_verifier)
    after = datetime.now(UTC)

    assert tokens.access_token == reply.json["access_token"]
    assert tokens.refresh_token == reply.json["refresh_token"]
    assert before + timedelta(seconds=3599) <= tokens.expires_at <= after + timedelta(seconds=3599)
    assert tokens.expires_at.tzinfo is not None
    assert tokens.scopes == ["https://mail.google.com/", "openid", "https://www.googleapis.com/auth/userinfo.email"]
    claims = tokens.id_claims
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == GOOGLE_CLIENT_ID
    assert claims["sub"] == "110169484474386276334"
    assert claims["email"] == "support@acme.example"
    assert claims["email_verified"] is True
    assert claims["nonce"] == request.nonce


def test_granted_google_scopes_satisfy_the_onboarding_scope_check(replay, google, google_credentials):
    """Google answers ``userinfo.email`` for ``email``; IMAP and SMTP both ride on ``https://mail.google.com/``."""
    replay.queue(recorded("google", "token_exchange"))
    tokens = exchange(google, google_credentials)
    assert google.imap_scope in tokens.scopes and google.smtp_scope in tokens.scopes
    assert _check_scopes(SimpleNamespace(provider=google, tokens=tokens)) is True  # SMTP (sending) granted too


def test_exchange_without_id_token_or_expiry(replay, google, google_credentials):
    replay.queue(recorded("google", "token_exchange", id_token=None, expires_in=None, scope=None))
    tokens = exchange(google, google_credentials)
    assert tokens.id_claims == {}
    # no expires_in: assume the usual hour rather than "never" (a grant refreshed too early costs nothing)
    assert timedelta(minutes=59) < tokens.expires_at - utcnow() <= timedelta(hours=1)
    assert tokens.scopes == []


def test_exchange_with_a_malformed_id_token_does_not_crash(replay, google, google_credentials):
    replay.queue(recorded("google", "token_exchange", id_token="eyJhbGciOiJSUzI1NiJ9.%%%not-base64%%%.sig"))
    assert exchange(google, google_credentials).id_claims == {}


# --- refresh ------------------------------------------------------------------------------------------------------


def test_refresh_keeps_the_old_refresh_token_google_does_not_rotate(replay, google, google_credentials):
    reply = recorded("google", "token_refresh")
    assert "refresh_token" not in reply.json
    replay.queue(reply)

    before = datetime.now(UTC)
    tokens = refresh(google, google_credentials, OLD_REFRESH_TOKEN)

    assert tokens.access_token == reply.json["access_token"]
    assert tokens.refresh_token == OLD_REFRESH_TOKEN
    assert google.revoke_is_grant_wide  # revoking one token withdraws the consent
    assert tokens.expires_at >= before + timedelta(seconds=3599)
    assert tokens.scopes == RECORDED_SCOPE.split(" ")
    assert tokens.id_claims == {}
    sent = replay.last
    assert (sent.method, sent.path) == ("POST", "/token")
    assert "Authorization" not in sent.headers
    assert sent.form == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH_TOKEN,
        "scope": "openid email https://mail.google.com/",
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
    }


def test_refresh_takes_a_refresh_token_when_google_does_return_one(replay, google, google_credentials):
    replay.queue(recorded("google", "token_refresh", refresh_token="1//0new-refresh-token"))
    assert refresh(google, google_credentials, OLD_REFRESH_TOKEN).refresh_token == "1//0new-refresh-token"


# --- errors -------------------------------------------------------------------------------------------------------

GOOGLE_ERRORS = [
    # recorded answer, kind, cause, code
    ("invalid_grant_revoked", "invalid_grant", "Token has been expired or revoked.", "invalid_grant"),
    ("invalid_grant_bad_code", "invalid_grant", "Bad Request", "invalid_grant"),
    ("invalid_client", "invalid_client", "Unauthorized", "invalid_client"),
    ("unauthorized_client", "invalid_client", "Unauthorized", "unauthorized_client"),
    ("redirect_uri_mismatch", "invalid_request", "Bad Request", "redirect_uri_mismatch"),
    ("service_unavailable", "transient", "Google Workspace / Gmail answered 503", None),
    ("rate_limited", "transient", "Google Workspace / Gmail answered 429 rate_limit_exceeded", None),
]


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.parametrize(("answer", "kind", "cause", "code"), GOOGLE_ERRORS, ids=[e[0] for e in GOOGLE_ERRORS])
def test_error_answers_become_oauth_failures(replay, google, google_credentials, operation, answer, kind, cause,
                                             code):
    replay.queue(recorded("google", answer))
    with pytest.raises(OAuthFailure) as caught:
        if operation == "exchange":
            exchange(google, google_credentials)
        else:
            refresh(google, google_credentials, OLD_REFRESH_TOKEN)
    failure = caught.value
    assert (failure.kind, failure.cause, failure.code) == (kind, cause, code)
    assert str(failure) == f"{kind}: {cause}"
    assert len(replay.requests) == 1  # no retry here: the caller decides, by kind


def test_a_200_without_access_token_is_a_failure_not_a_crash(replay, google, google_credentials):
    replay.queue(recorded("google", "token_refresh", access_token=None))
    with pytest.raises(OAuthFailure) as caught:
        refresh(google, google_credentials, OLD_REFRESH_TOKEN)
    assert caught.value.kind == "invalid_request"


def test_connection_refused_when_the_server_is_gone_is_transient(replay, google, google_credentials):
    replay.stop()
    with pytest.raises(OAuthFailure) as caught:
        refresh(google, google_credentials, OLD_REFRESH_TOKEN)
    assert caught.value.kind == "transient"
    assert caught.value.cause.startswith("ConnectionError: ")


def test_connection_refused_on_a_closed_port_is_transient(google_credentials):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = replace(GOOGLE, token_url=f"http://127.0.0.1:{port}/token")
    with pytest.raises(OAuthFailure) as caught:
        exchange(provider, google_credentials)
    assert caught.value.kind == "transient"
    assert re.match(r"ConnectionError: .*127\.0\.0\.1", caught.value.cause)


def test_a_token_endpoint_that_does_not_answer_in_time_is_transient(replay, google, google_credentials, monkeypatch):
    monkeypatch.setattr(client, "HTTP_TIMEOUT", 0.3)
    replay.queue(recorded("google", "token_refresh", delay=10))
    with pytest.raises(OAuthFailure) as caught:
        refresh(google, google_credentials, OLD_REFRESH_TOKEN)
    assert caught.value.kind == "transient"
    assert caught.value.cause.startswith("ReadTimeout: ")


# --- id_token_claims ----------------------------------------------------------------------------------------------

HEADER = b64url(b'{"alg":"RS256","typ":"JWT"}')


def with_payload(payload: bytes) -> str:
    return HEADER + "." + b64url(payload) + ".sig"


MALFORMED_ID_TOKENS = {
    "none": None,
    "empty": "",
    "opaque": "opaque-token",
    "two-parts": "only.two",
    "four-parts": "a.b.c.d",
    "empty-payload": f"{HEADER}..sig",
    "not-base64": f"{HEADER}.!!!!.sig",
    "percent-garbage": f"{HEADER}.%%%.sig",
    "not-json": with_payload(b"not json at all"),
    "not-utf8": with_payload(bytes([0xFF, 0xFE, 0x7B, 0x7D])),
    "json-array": with_payload(b"[1, 2, 3]"),
    "json-null": with_payload(b"null"),
    "json-number": with_payload(b"42"),
    "json-string": with_payload(b'"claims"'),
    "truncated-json": with_payload(b'{"email": '),
    "non-ascii": f"{HEADER}.caf\u00e9.sig",
}


@pytest.mark.parametrize("token", MALFORMED_ID_TOKENS.values(), ids=MALFORMED_ID_TOKENS.keys())
def test_id_token_claims_of_a_malformed_token_are_empty(token):
    assert id_token_claims(token) == {}


@pytest.mark.parametrize("email", ["a@b.c", "ab@b.c", "abc@b.c", "abcd@b.c"])  # every base64 padding length
def test_id_token_claims_of_a_well_formed_token(email):
    payload = {"iss": "https://accounts.google.com", "email": email, "nonce": "n\u00f8nce/+?"}
    assert id_token_claims(make_jwt({"alg": "RS256"}, payload)) == payload


def test_recorded_google_id_token_is_jwt_shaped():
    token = recorded("google", "token_exchange").json["id_token"]
    header, payload, signature = token.split(".")
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in (header, payload, signature))
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "RS256"
