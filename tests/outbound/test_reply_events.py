"""A reply's fate reaches webhooks: message.sent when the server took it, message.failed when it refused it."""

from __future__ import annotations

import json

import pytest

from app.webhooks.endpoints import create_endpoint
from tests.outbound.test_delivery import reply

pytestmark = pytest.mark.stack


@pytest.fixture
def run_webhooks(run_jobs):
    return lambda: run_jobs(kinds=("webhooks",))


def test_sent_and_failed_replies_send_their_events(db, client, desk, receive, deliver, smtp_server, receiver,
                                                   run_webhooks):
    create_endpoint(desk.tenant, url=receiver.url, events=["message.sent", "message.failed"])
    db.session.commit()
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()  # the acknowledgement: a notice, not a reply, so no event
    reply(client, ticket, "First answer.")
    deliver()
    smtp_server.fail_next(550, "5.1.1 User unknown")
    reply(client, ticket, "Second answer.")
    deliver()
    run_webhooks()
    events = [json.loads(r.body) for r in receiver.received]
    assert [e["type"] for e in events] == ["message.sent", "message.failed"]
    sent, failed = (e["data"] for e in events)
    assert sent["message"]["delivery_status"] == "sent" and sent["ticket"]["reference"] == ticket.reference
    assert failed["reason"] == "smtp_rejected" and "User unknown" in failed["response"]
