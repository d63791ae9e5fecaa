"""Inbound callbacks: a signed poke syncs its mailbox at once; a Graph subscription's validation handshake is
answered; forged, tampered and malformed calls are refused without effect, and counted."""

from __future__ import annotations

import re
import time

import pytest
import redis
from sqlalchemy import select

from app.hooks.services import COUNTER, graph_client_state, poke_token
from app.tickets.models import Ticket
from tenants.queues import region_queue
from tenants.regions import get_region
from tests.conftest import TEST_REDIS_URL


def _queued_syncs() -> list:
    return [job for job in region_queue(get_region("default"), "poll").jobs if job.meta.get("kind") == "sync"]


def _refusals(reason: str) -> int:
    return int(redis.Redis.from_url(TEST_REDIS_URL).get(COUNTER.format(reason=reason)) or 0)


@pytest.mark.stack
def test_a_poke_syncs_the_mailbox_within_a_second(app, db, client, create_tenant, login, dovecot, mail_user,
                                                  mail_ca, run_jobs):
    from app.mailboxes.services import create_mailbox
    from tests.fixtures.inbox import make_mail

    tenant = create_tenant("acme")
    mailbox = create_mailbox(tenant, {
        "name": "Support", "address": mail_user.email, "inbound_protocol": "imap", "inbound_host": dovecot.host,
        "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
        "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none",
        "sync_mode": "poll", "poll_interval": 3600})
    login(tenant.owner)
    page = client.get(f"/t/acme/mailboxes/{mailbox.id}").get_data(as_text=True)
    url = re.search(r'id="poke-url">([^<]+)<', page)[1]
    dovecot.append(mail_user.email, make_mail(subject="Poked in", to=mail_user.email))
    started = time.monotonic()
    response = client.post(url.removeprefix("http://localhost"))
    assert response.status_code == 202
    run_jobs()  # the worker: the sync job the poke queued, then the ingest job it queued
    assert db.session.scalar(select(Ticket.subject)) == "Poked in"
    assert time.monotonic() - started < 1.0


def test_forged_pokes_are_refused_without_effect_and_counted(db, client, inbox):
    good = poke_token(inbox.mailbox)
    before = _refusals("bad_signature")
    for forged in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "nonsense", good.replace(".", "x", 1)):
        assert client.post(f"/hooks/poke/{forged}").status_code == 404
    assert client.get(f"/hooks/poke/{good}").status_code == 405  # POST only
    assert _refusals("bad_signature") == before + 3 and _queued_syncs() == []
    inbox.mailbox.status = "paused"
    db.session.commit()
    assert client.post(f"/hooks/poke/{good}").status_code == 404 and _refusals("mailbox_not_syncing") >= 1
    assert _queued_syncs() == []


def test_graph_validation_is_answered_and_notifications_need_our_client_state(db, client, inbox):
    answer = client.post("/hooks/graph?validationToken=Validation%3A+Testing+client+application")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True) == "Validation: Testing client application"
    good = {"value": [{"subscriptionId": "s1", "clientState": graph_client_state(inbox.mailbox),
                       "changeType": "created", "resource": "me/mailFolders('Inbox')/messages('x')"}]}
    assert client.post("/hooks/graph", json=good).status_code == 202
    assert len(_queued_syncs()) == 1
    forged = {"value": [{"clientState": f"m{inbox.mailbox.id}.{'0' * 32}"}]}
    assert client.post("/hooks/graph", json=forged).status_code == 403
    mixed = {"value": [good["value"][0], {"clientState": "guess"}]}  # one bad entry refuses all of it
    assert client.post("/hooks/graph", json=mixed).status_code == 403
    assert client.post("/hooks/graph", data="not json", content_type="application/json").status_code == 400
    assert len(_queued_syncs()) == 1 and _refusals("bad_client_state") >= 2 and _refusals("malformed") >= 1
