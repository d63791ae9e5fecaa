"""Push subscriptions Postroom keeps at the providers: a Graph subscription per Microsoft 365 mailbox (its token
comes from a Graph-scoped refresh of the same consent), a Gmail watch per Google mailbox. The providers' APIs are
replayed on 127.0.0.1; the request bodies, tokens and the rows they leave are the production code path's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.hooks.models import PushSubscription
from app.hooks.services import graph_client_state
from app.hooks.subscriptions import due_mailbox_ids, keep_subscribed
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.client import authorization_request
from app.oauth.models import OAuthGrant
from tenants.models import utcnow
from tests.oauth_providers.conftest import (
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    MICROSOFT_TENANT_ID,
    Reply,
    recorded,
)
from worker.jobs.subscriptions import renew_push_subscriptions

GRAPH_SCOPE = "https://graph.microsoft.com/Mail.ReadBasic"
TOPIC = "projects/acme/topics/postroom"


def _json(status: int, body: dict | None = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else b""
    return Reply(status, data, {"Content-Type": "application/json"} if body is not None else {}, body)


@pytest.fixture
def push_setup(app, monkeypatch, replay, microsoft_for):
    for key, value in {"BASE_URL": "https://desk.example.test", "GRAPH_API_URL": replay.url + "/graph",
                       "GMAIL_API_URL": replay.url + "/gmail", "GMAIL_PUSH_TOPIC": TOPIC,
                       "OAUTH_MICROSOFT_CLIENT_ID": MICROSOFT_CLIENT_ID,
                       "OAUTH_MICROSOFT_CLIENT_SECRET": MICROSOFT_CLIENT_SECRET}.items():
        monkeypatch.setitem(app.config, key, value)
    microsoft = microsoft_for(MICROSOFT_TENANT_ID)
    import app.hooks.subscriptions as subscriptions
    import app.oauth.services as oauth_services

    for module in (subscriptions, oauth_services):
        original = module.get_provider
        monkeypatch.setattr(module, "get_provider", lambda key, o=original: microsoft if key == "microsoft" else o(key))
    return replay


def _connect(db, inbox, provider: str) -> OAuthGrant:
    grant = OAuthGrant(tenant_id=inbox.tenant.id, provider=provider, email="support@acme.test",
                       client_id=MICROSOFT_CLIENT_ID if provider == "microsoft" else "cid",
                       directory=MICROSOFT_TENANT_ID if provider == "microsoft" else None,
                       access_token="mail-access-token", access_expires_at=utcnow() + timedelta(hours=1),
                       refresh_token="refresh-before")
    db.session.add(grant)
    db.session.flush()
    inbox.mailbox.oauth_grant_id = grant.id
    db.session.commit()
    return grant


def _graph_subscription(sub_id: str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", days: int = 3) -> Reply:
    expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.1234567Z")
    return _json(201, {"id": sub_id, "resource": "me/mailFolders('inbox')/messages", "changeType": "created",
                       "expirationDateTime": expires, "clientState": None})


def test_microsoft_consent_covers_graph_and_a_mailbox_gets_a_graph_subscription(db, client, inbox, push_setup,
                                                                                microsoft_for):
    consent = authorization_request(microsoft_for(MICROSOFT_TENANT_ID), _credentials(), "https://x.test/cb")
    assert GRAPH_SCOPE.replace(":", "%3A").replace("/", "%2F") in consent.url
    grant = _connect(db, inbox, "microsoft")
    assert due_mailbox_ids("default") == [inbox.mailbox.id]
    push_setup.queue(recorded("microsoft", "token_refresh", scope=f"{GRAPH_SCOPE} openid email offline_access"),
                     _graph_subscription())

    subscription = keep_subscribed(inbox.mailbox)

    token_request, create = push_setup.requests
    assert token_request.form["scope"] == GRAPH_SCOPE and token_request.form["refresh_token"] == "refresh-before"
    body = json.loads(create.body)
    assert (create.method, create.path) == ("POST", "/graph/subscriptions")
    assert create.headers["Authorization"] == "Bearer " + recorded("microsoft", "token_refresh").json["access_token"]
    assert body["changeType"] == "created" and body["resource"] == "me/mailFolders('inbox')/messages"
    assert body["notificationUrl"] == "https://desk.example.test/hooks/graph"
    assert body["clientState"] == graph_client_state(inbox.mailbox)
    db.session.refresh(grant)
    assert grant.refresh_token == recorded("microsoft", "token_refresh").json["refresh_token"]  # rotated, kept
    assert grant.access_token == "mail-access-token"  # the IMAP/SMTP token is not replaced by Graph's
    assert subscription.external_id == "7f105c7d-2dc5-4530-97cd-4e7ae6534c07" and subscription.last_error is None
    assert subscription.expires_at > utcnow() + timedelta(days=2)
    assert due_mailbox_ids("default") == []
    # What Graph then sends with that clientState makes the mailbox sync.
    notification = {"value": [{"subscriptionId": subscription.external_id, "clientState": body["clientState"],
                               "changeType": "created", "resource": "me/messages/AAMk"}]}
    assert client.post("/hooks/graph", json=notification).status_code == 202


def _credentials():
    from tests.oauth_providers.conftest import ClientCredentials

    return ClientCredentials(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, directory=MICROSOFT_TENANT_ID)


def test_a_graph_subscription_is_renewed_before_it_ends_and_recreated_when_graph_lost_it(db, inbox, push_setup):
    _connect(db, inbox, "microsoft")
    subscription = PushSubscription(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, kind="graph",
                                    external_id="sub-1", expires_at=utcnow() + timedelta(hours=5))
    db.session.add(subscription)
    db.session.commit()
    assert due_mailbox_ids("default") == [inbox.mailbox.id]
    renewed_until = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.1234567Z")
    push_setup.queue(recorded("microsoft", "token_refresh"), _json(200, {"id": "sub-1",
                                                                         "expirationDateTime": renewed_until}))
    subscription_id, mailbox_id = subscription.id, inbox.mailbox.id
    assert renew_push_subscriptions("default") == 1  # the job, as the scheduler runs it every ten minutes
    assert (push_setup.last.method, push_setup.last.path) == ("PATCH", "/graph/subscriptions/sub-1")
    subscription = db.session.get(PushSubscription, subscription_id)
    assert subscription.external_id == "sub-1" and subscription.expires_at > utcnow() + timedelta(days=2)

    subscription.expires_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    push_setup.queue(recorded("microsoft", "token_refresh", refresh_token="third"),
                     _json(404, {"error": {"code": "ResourceNotFound"}}), _graph_subscription("sub-2"))
    keep_subscribed(db.session.get(Mailbox, mailbox_id))
    assert [r.method for r in push_setup.requests[-3:]] == ["POST", "PATCH", "POST"]
    assert subscription.external_id == "sub-2" and subscription.last_error is None


def test_gmail_mailbox_gets_a_watch_with_its_own_token(db, inbox, push_setup):
    _connect(db, inbox, "google")
    expiration = int((datetime.now(UTC) + timedelta(days=7)).timestamp() * 1000)
    push_setup.queue(_json(200, {"historyId": "1234567", "expiration": str(expiration)}))
    subscription = keep_subscribed(inbox.mailbox)
    [watch] = push_setup.requests
    assert (watch.method, watch.path) == ("POST", "/gmail/users/me/watch")
    assert watch.headers["Authorization"] == "Bearer mail-access-token"  # https://mail.google.com/ covers it
    assert json.loads(watch.body) == {"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": "include"}
    assert subscription.kind == "gmail" and subscription.external_id == "1234567"
    assert abs(subscription.expires_at.timestamp() * 1000 - expiration) < 1000


def test_a_refused_watch_leaves_its_reason_and_is_tried_again_the_mailbox_keeps_polling(db, inbox, push_setup):
    _connect(db, inbox, "google")
    push_setup.queue(_json(403, {"error": {"message": "User not authorized to perform this action."}}))
    subscription = keep_subscribed(inbox.mailbox)
    assert "HTTP 403" in subscription.last_error and "not authorized" in subscription.last_error
    assert inbox.mailbox.status == MailboxStatus.ACTIVE
    assert due_mailbox_ids("default") == [inbox.mailbox.id]


def test_a_paused_mailbox_is_unsubscribed_and_an_unconfigured_push_calls_nobody(app, db, inbox, push_setup,
                                                                                monkeypatch):
    _connect(db, inbox, "google")
    db.session.add(PushSubscription(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, kind="gmail",
                                    external_id="1", expires_at=utcnow() + timedelta(days=6)))
    inbox.mailbox.status = MailboxStatus.PAUSED
    db.session.commit()
    assert due_mailbox_ids("default") == [inbox.mailbox.id]
    push_setup.queue(_json(204))
    assert keep_subscribed(inbox.mailbox) is None
    assert (push_setup.last.method, push_setup.last.path) == ("POST", "/gmail/users/me/stop")
    assert db.session.query(PushSubscription).count() == 0

    inbox.mailbox.status = MailboxStatus.ACTIVE
    monkeypatch.setitem(app.config, "GMAIL_PUSH_TOPIC", None)
    db.session.commit()
    assert keep_subscribed(inbox.mailbox) is None and len(push_setup.requests) == 1


def test_a_newly_connected_mailbox_asks_for_push_at_once(app, db, inbox, push_setup, monkeypatch):
    from app.oauth.onboarding import subscribe_soon
    from app.oauth.providers import GOOGLE
    from tenants.queues import region_queue
    from tenants.regions import get_region
    from worker.jobs.subscriptions import subscribe_mailbox

    queue = region_queue(get_region("default"), "default")
    _connect(db, inbox, "google")
    mailbox_id = inbox.mailbox.id
    subscribe_soon(inbox.tenant, inbox.mailbox, GOOGLE)
    [job] = [j for j in queue.jobs if j.func_name == "worker.jobs.subscriptions.subscribe_mailbox"]
    assert job.args == (mailbox_id,) and job.meta["tenant_id"] == inbox.tenant.id
    expiration = int((datetime.now(UTC) + timedelta(days=7)).timestamp() * 1000)
    push_setup.queue(_json(200, {"historyId": "42", "expiration": str(expiration)}))
    assert subscribe_mailbox(mailbox_id) is True  # the job, as a worker runs it
    assert push_setup.last.path == "/gmail/users/me/watch"

    queue.empty()
    monkeypatch.setitem(app.config, "GMAIL_PUSH_TOPIC", None)  # no push set up here: no job at all
    subscribe_soon(inbox.tenant, db.session.get(Mailbox, mailbox_id), GOOGLE)
    assert queue.jobs == []
