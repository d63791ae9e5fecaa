"""Real-HTTP tests of the dev OAuth2 provider (scripts/devstack/oauth_provider.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from authlib.integrations.requests_client import OAuth2Session

from scripts.devstack.oauth_provider import ProviderServer
from tests.fixtures.oauth import DEFAULT_SCOPE, TIMEOUT, OAuthClient, OAuthProvider, pkce_pair

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_metadata_lists_endpoints(oauth_provider: OAuthProvider) -> None:
    meta = requests.get(f"{oauth_provider.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    assert meta["issuer"] == oauth_provider.url
    assert meta["token_endpoint"] == oauth_provider.token_url
    assert meta["introspection_endpoint"] == oauth_provider.introspection_url
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_code_flow_with_pkce_through_login_form(oauth_provider: OAuthProvider) -> None:
    verifier, _ = pkce_pair()
    with OAuth2Session(
        oauth_provider.client_id,
        oauth_provider.client_secret,
        scope=DEFAULT_SCOPE,
        redirect_uri="http://127.0.0.1:45678/oauth/callback",  # any loopback port is accepted
        code_challenge_method="S256",
    ) as session:
        url, state = session.create_authorization_url(oauth_provider.authorize_url, code_verifier=verifier)
        with requests.Session() as browser:
            page = browser.get(url, timeout=TIMEOUT)
            assert page.status_code == 200
            assert 'id="username"' in page.text and 'value="deny"' in page.text
            answer = browser.post(url, data={"username": "alice@acme.test", "password": "alice-secret",
                                             "decision": "allow"}, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 302
        callback = answer.headers["Location"]
        assert callback.startswith("http://127.0.0.1:45678/oauth/callback?code=") and f"state={state}" in callback
        token = session.fetch_token(oauth_provider.token_url, authorization_response=callback, code_verifier=verifier)
        assert token["scope"] == DEFAULT_SCOPE and token["refresh_token"] and token["expires_in"] == 300
        me = session.get(oauth_provider.userinfo_url, timeout=TIMEOUT).json()
    assert me["username"] == me["email"] == "alice@acme.test"
    assert me["sub"]


def test_wrong_pkce_verifier_and_reused_code_are_refused(oauth_provider: OAuthProvider) -> None:
    verifier, challenge = pkce_pair()
    code = oauth_provider.authorize("bob@acme.test", "bob-secret", code_challenge=challenge)["code"]
    wrong = oauth_provider.exchange_code(code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # A failed attempt must not have consumed the code; a second use after success must fail.
    assert oauth_provider.exchange_code(code, code_verifier=verifier).status_code == 200
    assert oauth_provider.exchange_code(code, code_verifier=verifier).json()["error"] == "invalid_grant"


def test_public_client_must_use_s256(oauth_provider: OAuthProvider, oauth_client_factory) -> None:
    client = oauth_client_factory(public=True)
    refused = oauth_provider.authorize("alice@acme.test", "alice-secret", client=client)
    assert refused["error"] == "invalid_request"
    verifier, challenge = pkce_pair()
    code = oauth_provider.authorize("alice@acme.test", "alice-secret", client=client, code_challenge=challenge)["code"]
    assert oauth_provider.exchange_code(code, client=client).json()["error"] == "invalid_request"  # no verifier
    code = oauth_provider.authorize("alice@acme.test", "alice-secret", client=client, code_challenge=challenge)["code"]
    assert "access_token" in oauth_provider.exchange_code(code, client=client, code_verifier=verifier).json()


def test_deny_redirects_with_access_denied(oauth_provider: OAuthProvider) -> None:
    params = oauth_provider.authorize("alice@acme.test", "", decision="deny", state="s-123")
    assert (params["error"], params["state"]) == ("access_denied", "s-123")
    assert "code" not in params


def test_bad_password_and_foreign_redirect_uri_get_no_code(oauth_provider: OAuthProvider) -> None:
    query = {"response_type": "code", "client_id": oauth_provider.client_id, "redirect_uri": "http://127.0.0.1:1/cb"}
    bad = requests.post(oauth_provider.authorize_url, params=query, allow_redirects=False, timeout=TIMEOUT,
                        data={"username": "alice@acme.test", "password": "nope", "decision": "allow"})
    assert bad.status_code == 401 and 'id="error"' in bad.text
    foreign = requests.get(oauth_provider.authorize_url, params={**query, "redirect_uri": "http://evil.test/cb"},
                           allow_redirects=False, timeout=TIMEOUT)
    assert foreign.status_code == 400 and "Location" not in foreign.headers


def test_refresh_rotates_and_reuse_revokes_the_family(oauth_provider: OAuthProvider) -> None:
    first = oauth_provider.login("alice@acme.test")
    second = oauth_provider.refresh(first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert oauth_provider.introspect(first["access_token"])["active"]  # rotation keeps the old access token
    reused = oauth_provider.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # Reuse detection: the legitimate successor dies too.
    assert oauth_provider.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    assert not oauth_provider.introspect(second["access_token"])["active"]


def test_introspection_active_expired_and_revoked(oauth_provider: OAuthProvider, oauth_client_factory) -> None:
    client = oauth_client_factory(access_token_ttl=1)
    token = oauth_provider.login("bob@acme.test", client=client)
    info = oauth_provider.introspect(token["access_token"])
    assert info["active"] is True and info["username"] == "bob@acme.test"
    assert info["client_id"] == client.client_id and info["scope"] == DEFAULT_SCOPE
    assert info["sub"] and info["exp"] <= time.time() + 1
    assert oauth_provider.introspect("no-such-token") == {"active": False}
    time.sleep(1.1)
    assert oauth_provider.introspect(token["access_token"]) == {"active": False}
    fresh = oauth_provider.refresh(token["refresh_token"], client=client).json()
    assert oauth_provider.introspect(fresh["access_token"])["active"]
    revoke = requests.post(oauth_provider.revoke_url, data={"token": fresh["access_token"]}, auth=client.auth,
                           timeout=TIMEOUT)
    assert revoke.status_code == 200
    assert oauth_provider.introspect(fresh["access_token"]) == {"active": False}
    assert oauth_provider.introspect(fresh["refresh_token"])["active"]  # revoking an access token spares the grant


def test_introspection_requires_credentials_when_secret_is_set(oauth_provider: OAuthProvider) -> None:
    token = oauth_provider.login("alice@acme.test")["access_token"]
    url = oauth_provider.introspection_url
    assert requests.post(url, data={"token": token}, timeout=TIMEOUT).status_code == 401
    assert requests.post(url, data={"token": token}, auth=("dovecot", "wrong"), timeout=TIMEOUT).status_code == 401
    by_client = requests.post(url, data={"token": token}, auth=(oauth_provider.client_id, oauth_provider.client_secret),
                              timeout=TIMEOUT)
    assert by_client.json()["active"] is True
    # Dovecot puts the credentials into the URL itself.
    by_dovecot = requests.post(oauth_provider.dovecot_introspection_url, data={"token": token}, timeout=TIMEOUT)
    assert by_dovecot.json()["username"] == "alice@acme.test"


def test_introspection_is_open_without_secret() -> None:
    users, clients = {"carol@acme.test": "pw"}, [{"client_id": "c", "client_secret": "s",
                                                  "redirect_uris": ["http://127.0.0.1:*"]}]
    with ProviderServer(users=users, clients=clients) as server:
        provider = OAuthProvider(server, OAuthClient("c", "s"), users, introspection_secret=None)
        token = provider.login("carol@acme.test")["access_token"]
        assert provider.introspect(token)["username"] == "carol@acme.test"
        # Dovecot may still send (meaningless) basic credentials.
        with_auth = requests.post(server.introspection_url, data={"token": token}, auth=("dovecot", "x"),
                                  timeout=TIMEOUT)
        assert with_auth.json()["active"] is True


def test_revoke_endpoint_revokes_refresh_token_family(oauth_provider: OAuthProvider) -> None:
    token = oauth_provider.login("alice@acme.test")
    form = {"token": token["refresh_token"], "token_type_hint": "refresh_token"}
    response = requests.post(oauth_provider.revoke_url, data=form, auth=("postroom-dev", oauth_provider.client_secret),
                             timeout=TIMEOUT)
    assert response.status_code == 200
    assert oauth_provider.refresh(token["refresh_token"]).json()["error"] == "invalid_grant"
    assert not oauth_provider.introspect(token["access_token"])["active"]


def test_admin_revoke_user_breaks_refresh(oauth_provider: OAuthProvider, oauth_user_factory) -> None:
    username, password = oauth_user_factory()
    token = oauth_provider.login(username, password)
    assert oauth_provider.revoke_user(username) == 1
    assert oauth_provider.refresh(token["refresh_token"]).json()["error"] == "invalid_grant"
    userinfo = requests.get(oauth_provider.userinfo_url, headers={"Authorization": f"Bearer {token['access_token']}"},
                            timeout=TIMEOUT)
    assert userinfo.status_code == 401


def test_stats_count_token_requests(oauth_provider: OAuthProvider, oauth_client_factory) -> None:
    client = oauth_client_factory()
    token = oauth_provider.login("bob@acme.test", client=client)
    oauth_provider.refresh(token["refresh_token"], client=client)
    oauth_provider.refresh("bogus", client=client)
    assert oauth_provider.stats(client.client_id) == {"authorization_code": 1, "refresh_token": 2}
    oauth_provider.reset_stats()
    assert oauth_provider.stats()["token_requests"] == {"authorization_code": 0, "refresh_token": 0}


def test_concurrent_refreshes_with_one_token_let_exactly_one_win(
    oauth_provider: OAuthProvider, oauth_client_factory
) -> None:
    """Documents why Postroom must serialize its own refreshes: racing callers trip reuse detection."""
    client = oauth_client_factory()
    token = oauth_provider.login("alice@acme.test", client=client)
    barrier, results = threading.Barrier(20), []

    def refresh() -> None:
        barrier.wait()
        results.append(oauth_provider.refresh(token["refresh_token"], client=client))

    threads = [threading.Thread(target=refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.status_code == 200]
    assert len(winners) == 1
    assert sorted(r.json()["error"] for r in results if r is not winners[0]) == ["invalid_grant"] * 19
    assert oauth_provider.stats(client.client_id)["refresh_token"] == 20
    # The losers presented a rotated token, so even the winner's new refresh token is now revoked.
    assert oauth_provider.refresh(winners[0].json()["refresh_token"], client=client).json()["error"] == "invalid_grant"


def test_cli_serves_and_keeps_tokens_across_restarts(tmp_path: Path) -> None:
    (tmp_path / "users.txt").write_text("# dev users\ndave@acme.test:dave-pw\n")
    args = [sys.executable, "-m", "scripts.devstack.oauth_provider", "--port", "0", "--state-dir", str(tmp_path),
            "--users-file", str(tmp_path / "users.txt"), "--client-id", "cli", "--client-secret", "cli-secret",
            "--redirect-uri", "http://127.0.0.1:*/cb"]

    def run_once(action):
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        with subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env) as proc:
            try:
                url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
                assert url.startswith("http://127.0.0.1:")
                client = OAuthClient("cli", "cli-secret", "http://127.0.0.1:9/cb")
                return action(OAuthProvider(_RemoteServer(url), client, {}, None))
            finally:
                proc.terminate()
                assert proc.wait(timeout=10) == 0

    token = run_once(lambda provider: provider.login("dave@acme.test", "dave-pw"))
    assert run_once(lambda provider: provider.introspect(token["access_token"]))["active"] is True


class _RemoteServer:
    """Stands in for ProviderServer when the provider runs in another process."""

    def __init__(self, url: str) -> None:
        self.url, self.introspection_url = url, f"{url}/introspect"
