"""Gmail push through Pub/Sub: a push with a valid OIDC token (signed by a key of the configured JWKS, from
Google's issuer, for our audience, on behalf of the configured service account) syncs that Gmail mailbox; a forged,
expired or misdirected token, or a body without an address, is refused and counted, and nothing is queued.
Google's own key server cannot be reached here: the test serves its key set from a file, behind the same URL
setting."""

from __future__ import annotations

import base64
import json
import time

import pytest
import redis
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.hooks import gmail
from app.hooks.services import COUNTER
from tenants.queues import region_queue
from tenants.regions import get_region
from tests.conftest import TEST_REDIS_URL

AUDIENCE = "https://postroom.example/hooks/gmail"
ACCOUNT = "gmail-push@acme-project.iam.gserviceaccount.com"


@pytest.fixture
def google(app, tmp_path, monkeypatch):
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    jwks = tmp_path / "certs.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(is_private=False)]}))
    for name, value in (("GMAIL_PUSH_JWKS_URL", jwks.as_uri()), ("GMAIL_PUSH_AUDIENCE", AUDIENCE),
                        ("GMAIL_PUSH_SERVICE_ACCOUNT", ACCOUNT)):
        monkeypatch.setitem(app.config, name, value)
    monkeypatch.setattr(gmail, "_jwks_cache", {})

    def token(key_=key, **claims) -> str:
        now = int(time.time())
        body = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": ACCOUNT, "email_verified": True,
                "iat": now, "exp": now + 3600, **claims}
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, body, key_)

    return token


@pytest.fixture
def gmail_mailbox(db, inbox):
    from app.oauth.models import OAuthGrant

    grant = OAuthGrant(tenant_id=inbox.tenant.id, provider="google", client_id="cid", email="support@acme.test",
                       scopes=["https://mail.google.com/"])
    db.session.add(grant)
    db.session.flush()
    inbox.mailbox.oauth_grant_id = grant.id
    db.session.commit()
    return inbox.mailbox


def _push(address: str = "Support@acme.test") -> dict:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 9876}).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}, "subscription": "projects/acme/subscriptions/postroom"}


def _syncs() -> int:
    return len([j for j in region_queue(get_region("default"), "poll").jobs if j.meta.get("kind") == "sync"])


def _refused(reason: str) -> int:
    return int(redis.Redis.from_url(TEST_REDIS_URL).get(COUNTER.format(reason=reason)) or 0)


def test_a_verified_push_syncs_the_gmail_mailbox(client, gmail_mailbox, google):
    response = client.post("/hooks/gmail", json=_push(), headers={"Authorization": f"Bearer {google()}"})
    assert response.status_code == 204 and _syncs() == 1


def test_forged_and_misdirected_pushes_are_refused_and_counted(client, gmail_mailbox, google):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    expired = int(time.time()) - 3600
    cases = {
        "bad_token": [google(key_=stranger), google(aud="https://elsewhere.example"), google(exp=expired),
                      google(iss="https://evil.example"), "not-a-jwt"],
        "wrong_sender": [google(email="someone@evil.example")],
    }
    for reason, tokens in cases.items():
        before = _refused(reason)
        for token in tokens:
            response = client.post("/hooks/gmail", json=_push(), headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403, (reason, token[:20])
        assert _refused(reason) == before + len(tokens)
    assert client.post("/hooks/gmail", json=_push()).status_code == 403  # no token at all
    assert client.post("/hooks/gmail", json={"message": {"data": "%%%"}},
                       headers={"Authorization": f"Bearer {google()}"}).status_code == 403
    assert client.post("/hooks/gmail", json=_push("nobody@acme.test"),
                       headers={"Authorization": f"Bearer {google()}"}).status_code == 403
    assert _syncs() == 0
