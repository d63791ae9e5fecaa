"""The events reach the receiver from where they happen: a mail that opens a ticket (through the real ingest and
the webhooks queue), an agent's change, a mailbox that starts failing."""

from __future__ import annotations

import json

import pytest

from app.tickets import actions
from app.tickets.models import TicketStatus
from app.webhooks.endpoints import create_endpoint
from tests.fixtures.inbox import make_mail


@pytest.fixture
def run_webhooks(run_jobs):
    return lambda: run_jobs(kinds=("webhooks",))


def _events(receiver) -> list[tuple[str, dict]]:
    return [(json.loads(r.body)["type"], json.loads(r.body)["data"]) for r in receiver.received]


def test_a_new_mail_sends_ticket_created_and_message_received(db, inbox, receiver, run_webhooks):
    create_endpoint(inbox.tenant, url=receiver.url, events=["ticket.created", "message.received"])
    db.session.commit()
    inbox.deliver(make_mail(subject="Printer on fire", sender="Ann <ann@client.test>"))
    run_webhooks()
    events = dict(_events(receiver))
    assert set(events) == {"ticket.created", "message.received"}
    assert events["ticket.created"]["ticket"]["subject"] == "Printer on fire"
    assert events["message.received"]["message"]["from"] == "ann@client.test"
    assert "text" not in events["message.received"]["message"]  # no mail bodies in events


def test_an_agents_change_sends_ticket_updated(db, inbox, receiver, run_webhooks, agent):
    ticket = inbox.message_of(inbox.deliver(make_mail())).ticket
    create_endpoint(inbox.tenant, url=receiver.url, events=["ticket.updated"])
    db.session.commit()
    actions.set_status(inbox.tenant, ticket, TicketStatus.RESOLVED, actor=agent)
    db.session.commit()
    run_webhooks()
    ((name, data),) = _events(receiver)
    assert name == "ticket.updated" and data["changes"] == {"status": ["open", "resolved"]}
    assert data["actor"]["email"] == agent.email and data["ticket"]["status"] == "resolved"


def test_a_mailbox_that_starts_failing_sends_mailbox_status_changed(db, inbox, receiver, run_webhooks):
    from app.connections.models import ConnectionKind
    from app.connections.services import record_attempt
    from app.mail.steps import StepResult

    create_endpoint(inbox.tenant, url=receiver.url, events=["mailbox.status_changed"])
    db.session.commit()
    refused = StepResult("auth", False, 5.0, "auth_failed", {}, "NO [AUTHENTICATIONFAILED]")
    for _ in range(inbox.tenant.failure_threshold):
        record_attempt(inbox.mailbox, ConnectionKind.SYNC, "inbound", [refused])
    run_webhooks()
    ((name, data),) = _events(receiver)
    assert name == "mailbox.status_changed" and data["previous_status"] == "active"
    assert data["mailbox"]["status"] == "failing" and data["mailbox"]["failure_category"] == "auth_failed"
