"""Microsoft 365: directory-specific endpoints, what we send to and parse from its v2.0 token endpoint, rotated
refresh tokens, and its AADSTS errors.

The token endpoint is a local replay of Microsoft's documented answers (see conftest and recorded/microsoft.json).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from flask import Flask

from app.oauth.client import authorization_request, exchange_code, refresh
from app.oauth.errors import AADSTS, OAuthFailure
from app.oauth.onboarding import _check_scopes
from app.oauth.providers import MICROSOFT, platform_credentials
from tests.oauth_providers.conftest import (
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    MICROSOFT_REDIRECT_URI,
    MICROSOFT_TENANT_ID,
    query_of,
    recorded,
    s256,
)

IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP = "https://outlook.office.com/SMTP.Send"
REQUESTED_SCOPE = f"openid email offline_access {IMAP} {SMTP}"
FIRST_REFRESH_TOKEN = recorded("microsoft", "token_exchange").json["refresh_token"]



def exchange(provider, credentials, code="M.C107_BAY.2.U.recorded-auth-code", verifier="v" * 64):
    return exchange_code(provider, credentials, code=code, redirect_uri=MICROSOFT_REDIRECT_URI,
                         code_verifier=verifier)


# --- endpoints and the authorization URL --------------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["common", "organizations", MICROSOFT_TENANT_ID])
def test_endpoints_for_puts_the_directory_in_both_urls(directory):
    provider = MICROSOFT.endpoints_for(directory)
    assert provider.authorize_url == f"https://login.microsoftonline.com/{directory}/oauth2/v2.0/authorize"
    assert provider.token_url == f"https://login.microsoftonline.com/{directory}/oauth2/v2.0/token"
    assert "{directory}" in MICROSOFT.authorize_url  # the template itself is untouched


def test_endpoints_for_defaults_to_common():
    assert MICROSOFT.endpoints_for(None).authorize_url == MICROSOFT.endpoints_for("common").authorize_url
    assert MICROSOFT.endpoints_for("").token_url == "https://login.microsoftonline.com/common/oauth2/v2.0/token"


@pytest.mark.parametrize("directory", ["common", MICROSOFT_TENANT_ID])
def test_authorization_url_asks_for_imap_smtp_and_offline_access_with_pkce(microsoft_credentials, directory):
    request = authorization_request(MICROSOFT.endpoints_for(directory), microsoft_credentials, MICROSOFT_REDIRECT_URI,
                                    login_hint="helpdesk@contoso.example")

    url = urlsplit(request.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "login.microsoftonline.com",
                                                  f"/{directory}/oauth2/v2.0/authorize")
    params = query_of(request.url)
    assert params["response_type"] == "code"
    assert params["client_id"] == MICROSOFT_CLIENT_ID
    assert params["redirect_uri"] == MICROSOFT_REDIRECT_URI
    scopes = params["scope"].split(" ")
    assert {IMAP, SMTP, "offline_access", "openid", "email"} <= set(scopes)
    assert params["state"] == request.state
    assert params["nonce"] == request.nonce
    assert params["code_challenge"] == s256(request.code_verifier)
    assert params["code_challenge_method"] == "S256"
    assert params["prompt"] == "select_account"
    assert params["login_hint"] == "helpdesk@contoso.example"
    assert "access_type" not in params  # Google's parameter; Microsoft uses the offline_access scope
    assert "client_secret" not in params


def test_platform_credentials_carry_the_configured_directory():
    """Only config is read: a bare Flask app is enough (no database or Redis)."""
    app = Flask(__name__)
    app.config.update(OAUTH_MICROSOFT_CLIENT_ID=MICROSOFT_CLIENT_ID, OAUTH_MICROSOFT_CLIENT_SECRET="s3cret",
                      OAUTH_MICROSOFT_SECRET_EXPIRES="2026-03-31", OAUTH_MICROSOFT_DIRECTORY=MICROSOFT_TENANT_ID)
    with app.app_context():
        credentials = platform_credentials(MICROSOFT)
    assert credentials.client_id == MICROSOFT_CLIENT_ID
    assert credentials.client_secret == "s3cret"
    assert credentials.secret_expires_on == date(2026, 3, 31)
    assert credentials.directory == MICROSOFT_TENANT_ID
    assert MICROSOFT_TENANT_ID in MICROSOFT.endpoints_for(credentials.directory).token_url


def test_platform_credentials_without_a_client_id_are_none():
    with Flask(__name__).app_context():
        assert platform_credentials(MICROSOFT) is None


# --- the code exchange --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["common", MICROSOFT_TENANT_ID])
def test_exchange_sends_to_the_directory_token_endpoint(replay, microsoft_for, microsoft_credentials, directory):
    provider = microsoft_for(directory)
    replay.queue(recorded("microsoft", "token_exchange"))
    request = authorization_request(provider, microsoft_credentials, MICROSOFT_REDIRECT_URI)

    exchange(provider, microsoft_credentials, code="M.C107_BAY.2.U.code", verifier=request.code_verifier)

    sent = replay.last
    assert (sent.method, sent.path) == ("POST", f"/{directory}/oauth2/v2.0/token")
    assert sent.headers["Content-Type"].split(";")[0] == "application/x-www-form-urlencoded"
    assert "Authorization" not in sent.headers  # client_secret_post
    assert len(sent.form_items) == len(sent.form)  # no parameter twice
    assert sent.form == {
        "grant_type": "authorization_code",
        "code": "M.C107_BAY.2.U.code",
        "redirect_uri": MICROSOFT_REDIRECT_URI,
        "code_verifier": request.code_verifier,
        "client_id": MICROSOFT_CLIENT_ID,
        "client_secret": MICROSOFT_CLIENT_SECRET,
    }


def test_exchange_parses_the_token_set_and_id_token(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for(MICROSOFT_TENANT_ID)
    request = authorization_request(provider, microsoft_credentials, MICROSOFT_REDIRECT_URI)
    reply = recorded("microsoft", "token_exchange", claims={"nonce": request.nonce})
    replay.queue(reply)

    before = datetime.now(UTC)
    tokens = exchange(provider, microsoft_credentials, verifier=request.code_verifier)
    after = datetime.now(UTC)

    assert tokens.access_token == reply.json["access_token"]
    assert tokens.refresh_token == reply.json["refresh_token"]
    assert before + timedelta(seconds=3599) <= tokens.expires_at <= after + timedelta(seconds=3599)
    assert tokens.scopes == [IMAP, SMTP, "openid", "email", "offline_access"]
    claims = tokens.id_claims
    assert claims["nonce"] == request.nonce
    assert claims["preferred_username"] == "helpdesk@contoso.example"
    assert claims["email"] == "Helpdesk@Contoso.example"
    assert claims["tid"] == MICROSOFT_TENANT_ID
    assert claims["aud"] == MICROSOFT_CLIENT_ID
    assert claims["iss"] == f"https://login.microsoftonline.com/{MICROSOFT_TENANT_ID}/v2.0"
    assert claims["ver"] == "2.0"


def test_granted_resource_scopes_match_the_onboarding_scope_check(replay, microsoft_for, microsoft_credentials):
    """Microsoft answers resource scopes as full URLs; our IMAP/SMTP scopes are full URLs too, compared exactly."""
    provider = microsoft_for("common")
    replay.queue(recorded("microsoft", "token_exchange"))
    tokens = exchange(provider, microsoft_credentials)
    assert provider.imap_scope in tokens.scopes and provider.smtp_scope in tokens.scopes
    assert _check_scopes(SimpleNamespace(provider=provider, tokens=tokens)) is True


def test_a_grant_without_smtp_is_reported_as_cannot_send(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for("common")
    replay.queue(recorded("microsoft", "token_exchange", scope=f"{IMAP} openid email offline_access"))
    tokens = exchange(provider, microsoft_credentials)
    assert _check_scopes(SimpleNamespace(provider=provider, tokens=tokens)) is False


# --- refresh ------------------------------------------------------------------------------------------------------


def test_refresh_replaces_the_rotated_refresh_token(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for(MICROSOFT_TENANT_ID)
    reply = recorded("microsoft", "token_refresh")
    replay.queue(reply)

    tokens = refresh(provider, microsoft_credentials, FIRST_REFRESH_TOKEN)

    assert provider.refresh_token_max_age.days == 90
    assert tokens.refresh_token == reply.json["refresh_token"] != FIRST_REFRESH_TOKEN
    assert tokens.access_token == reply.json["access_token"]
    assert tokens.scopes == [IMAP, SMTP, "openid", "email", "offline_access"]
    sent = replay.last
    assert (sent.method, sent.path) == ("POST", f"/{MICROSOFT_TENANT_ID}/oauth2/v2.0/token")
    assert "Authorization" not in sent.headers
    assert sent.form == {
        "grant_type": "refresh_token",
        "refresh_token": FIRST_REFRESH_TOKEN,
        "scope": REQUESTED_SCOPE,  # v2.0 requires the scopes again on refresh
        "client_id": MICROSOFT_CLIENT_ID,
        "client_secret": MICROSOFT_CLIENT_SECRET,
    }


def test_consecutive_refreshes_redeem_each_rotated_token(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for("common")
    replay.queue(recorded("microsoft", "token_refresh", refresh_token="rt-2"),
                 recorded("microsoft", "token_refresh", refresh_token="rt-3"))

    second = refresh(provider, microsoft_credentials, FIRST_REFRESH_TOKEN)
    third = refresh(provider, microsoft_credentials, second.refresh_token)

    assert third.refresh_token == "rt-3"
    assert [request.form["refresh_token"] for request in replay.requests] == [FIRST_REFRESH_TOKEN, "rt-2"]


# --- errors -------------------------------------------------------------------------------------------------------

AADSTS_ERRORS = [
    # recorded answer, kind, AADSTS code
    ("aadsts70008", "invalid_grant", "70008"),
    ("aadsts50173", "invalid_grant", "50173"),
    ("aadsts700082", "invalid_grant", "700082"),
    ("aadsts65001", "invalid_grant", "65001"),
    ("aadsts50076", "invalid_grant", "50076"),
    ("aadsts7000222", "invalid_client", "7000222"),
    ("aadsts7000215", "invalid_client", "7000215"),
    ("aadsts90002", "invalid_client", "90002"),  # wire error invalid_request; an operator must fix the directory
]

EXPECTED_CAUSES = {  # spelled out, so that a change to the table is a visible change here too
    "70008": "the refresh token expired",
    "50173": "the user's password was changed or their sessions were revoked",
    "700082": "the refresh token expired after 90 days without use",
    "65001": "the user or an administrator has not consented to Postroom",
    "50076": "multi-factor authentication is now required for this user",
    "7000222": "the application's client secret has expired",
    "7000215": "the application's client secret is wrong",
    "90002": "the Microsoft 365 directory (tenant) does not exist",
}


@pytest.mark.parametrize("operation", ["exchange", "refresh"])
@pytest.mark.parametrize(("answer", "kind", "number"), AADSTS_ERRORS, ids=[e[0] for e in AADSTS_ERRORS])
def test_aadsts_errors_become_failures_with_our_cause(replay, microsoft_for, microsoft_credentials, operation,
                                                     answer, kind, number):
    provider = microsoft_for(MICROSOFT_TENANT_ID)
    reply = recorded("microsoft", answer)
    assert reply.json["error_codes"] == [int(number)]
    replay.queue(reply)

    with pytest.raises(OAuthFailure) as caught:
        if operation == "exchange":
            exchange(provider, microsoft_credentials)
        else:
            refresh(provider, microsoft_credentials, FIRST_REFRESH_TOKEN)

    failure = caught.value
    assert failure.kind == kind
    assert failure.code == f"AADSTS{number}"
    assert failure.cause == EXPECTED_CAUSES[number] == AADSTS[number][1]
    assert "Trace ID" not in failure.cause and "Correlation ID" not in failure.cause


@pytest.mark.parametrize(("answer", "status"), [
    ("temporarily_unavailable", None),  # as recorded: 503
    ("temporarily_unavailable", 400),  # the error name alone says "retry"
    ("throttled", None),  # 429 with an AADSTS code our table does not know
])
def test_transient_answers(replay, microsoft_for, microsoft_credentials, answer, status):
    replay.queue(recorded("microsoft", answer, status=status))
    with pytest.raises(OAuthFailure) as caught:
        refresh(microsoft_for("common"), microsoft_credentials, FIRST_REFRESH_TOKEN)
    failure = caught.value
    assert failure.kind == "transient"
    assert failure.cause.startswith("Microsoft 365 / Outlook answered ")


def test_an_unknown_aadsts_code_falls_back_to_the_oauth_error(replay, microsoft_for, microsoft_credentials):
    reply = recorded("microsoft", "unknown_invalid_grant")
    assert "54005" not in AADSTS
    replay.queue(reply)
    with pytest.raises(OAuthFailure) as caught:
        exchange(microsoft_for("common"), microsoft_credentials)
    failure = caught.value
    assert failure.kind == "invalid_grant"
    assert failure.code == "invalid_grant"
    assert failure.cause == reply.json["error_description"]
    assert failure.cause.startswith("AADSTS54005: OAuth2 Authorization code was already redeemed")


def test_the_directory_in_the_url_is_the_one_that_was_not_found(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for("contosso.onmicrosoft.com")
    replay.queue(recorded("microsoft", "aadsts90002"))
    with pytest.raises(OAuthFailure) as caught:
        exchange(provider, microsoft_credentials)
    assert caught.value.kind == "invalid_client"
    assert replay.last.path == "/contosso.onmicrosoft.com/oauth2/v2.0/token"


def test_connection_refused_is_transient(replay, microsoft_for, microsoft_credentials):
    provider = microsoft_for(MICROSOFT_TENANT_ID)
    replay.stop()
    with pytest.raises(OAuthFailure) as caught:
        exchange(provider, microsoft_credentials)
    assert caught.value.kind == "transient"
    assert caught.value.cause.startswith("ConnectionError: ")
