"""Message trace through the API: candidates for a Message-ID, an address, a ticket or a raw hash (paginated), and
every step of one message in order with its timings: an inbound mail (stored, parsed, threaded, routed, its
acknowledgement deferred, webhooks delivered) and an agent's reply through the SMTP server (queued, deferred by a
451, sent, announced). Another tenant's message or receipt is a 404."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.outbound.delivery import deliver_mailbox
from tests.api.problems import field_errors
from tests.fixtures.inbox import make_mail
from tests.outbound import conftest as desk_fixtures
from tests.outbound.test_delivery import _dsn, reply
from tests.web.test_quarantine_page import deep_mail

desk, receive, deliver, later = desk_fixtures.desk, desk_fixtures.receive, desk_fixtures.deliver, desk_fixtures.later


def assert_timed_in_order(steps: list[dict], expected: list[str]) -> list[str]:
    """The expected kinds appear in this order; times never go back; elapsed times add up. Returns the kinds."""
    kinds = [s["kind"] for s in steps]
    positions = [kinds.index(kind) for kind in expected]
    assert positions == sorted(positions), kinds
    times = [datetime.fromisoformat(s["at"]) for s in steps]
    assert times == sorted(times)
    assert steps[0]["since_previous_ms"] == steps[0]["since_first_ms"] == 0
    assert all(s["since_previous_ms"] >= 0 for s in steps)
    assert abs(sum(s["since_previous_ms"] for s in steps) - steps[-1]["since_first_ms"]) <= len(steps)  # rounding
    return kinds


@pytest.fixture
def headers(inbox, api_token):
    return api_token(inbox.tenant)


def test_an_inbound_message_traced_step_by_step(client, db, inbox, headers, receiver, run_jobs):
    assert client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["ticket.created",
                                                                                 "message.received"]},
                       headers=headers).status_code == 201
    message = inbox.message_of(inbox.deliver(make_mail(message_id="<printer@client.test>")))
    run_jobs(kinds=("ingest", "default", "webhooks", "deliver"))  # events, acknowledgement (no server: deferred)

    trace = client.get(f"/api/v1/trace/messages/{message.id}", headers=headers).get_json()
    assert trace["subject"]["message_id"] == "printer@client.test" and trace["subject"]["kind"] == "message"
    kinds = assert_timed_in_order(trace["steps"], ["stored", "parsed", "threaded", "routed", "acknowledgement",
                                                   "ingested", "mail_queued", "mail_deferred"])
    assert_timed_in_order(trace["steps"], ["threaded", "webhook_queued", "webhook_delivered"])
    assert kinds.count("webhook_delivered") == 2
    by_kind = {s["kind"]: s for s in trace["steps"]}
    assert by_kind["threaded"]["label"] == "Ticket created" and by_kind["threaded"]["ok"]
    assert by_kind["mail_deferred"]["ok"] is False and by_kind["stored"]["ok"]
    assert message.ticket.reference in by_kind["threaded"]["detail"]
    assert trace["total_ms"] == trace["steps"][-1]["since_first_ms"]


def test_candidates_for_a_message_id_an_address_a_ticket_and_a_hash(client, db, inbox, headers):
    first = inbox.message_of(inbox.deliver(make_mail(sender="ann@client.test", message_id="<a1@client.test>")))
    second = inbox.message_of(inbox.deliver(make_mail(sender="ann@client.test", subject="Toner")))
    held = inbox.deliver(deep_mail())

    def ids(query: str, **args) -> list[tuple[str, int]]:
        answer = client.get("/api/v1/trace", query_string={"q": query, **args}, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        return [(item["kind"], item["id"]) for item in answer.get_json()["items"]]

    assert ids("<a1@client.test>") == ids("a1@client.test") == [("message", first.id)]
    assert ids("ann@client.test") == [("message", second.id), ("message", first.id)]
    assert ids(second.ticket.reference) == [("message", second.id)]
    assert ids(held.sha256) == [("receipt", held.id)]
    assert ids(first.raw_sha256) == [("message", first.id)]
    assert ids("nothing at all") == []
    page = client.get("/api/v1/trace", query_string={"q": "ann@client.test", "per_page": 1, "page": 2},
                      headers=headers).get_json()
    assert [item["id"] for item in page["items"]] == [first.id]
    assert page["meta"] == {"page": 2, "per_page": 1, "total": 2, "pages": 2}
    (item,) = client.get("/api/v1/trace", query_string={"q": "a1@client.test"}, headers=headers).json["items"]
    assert item["from"] == "ann@client.test" and item["ticket_reference"] == first.ticket.reference
    assert "#/q" in field_errors(client.get("/api/v1/trace", headers=headers))


def test_quarantined_mail_is_traced_by_its_receipt(client, db, inbox, headers):
    held = inbox.deliver(deep_mail())
    trace = client.get(f"/api/v1/trace/receipts/{held.id}", headers=headers).get_json()
    assert trace["subject"]["kind"] == "receipt" and trace["subject"]["message_id"] == "deep@client.test"
    assert [(s["kind"], s["ok"]) for s in trace["steps"]] == [("stored", True), ("quarantined", False)]
    ingested = inbox.deliver(make_mail())
    as_message = client.get(f"/api/v1/trace/receipts/{ingested.id}", headers=headers).get_json()
    assert as_message["subject"] == {**as_message["subject"], "kind": "message", "id": ingested.message_id}


def test_another_tenants_message_and_receipt_are_404(client, db, inbox, create_tenant, api_token):
    message = inbox.message_of(inbox.deliver(make_mail(message_id="<private@client.test>")))
    held = inbox.deliver(deep_mail())
    attacker = api_token(create_tenant("attacker"))
    for path in (f"/api/v1/trace/messages/{message.id}", f"/api/v1/trace/receipts/{held.id}",
                 "/api/v1/trace/messages/2000000000"):
        answer = client.get(path, headers=attacker)
        assert answer.status_code == 404 and answer.get_json()["status"] == 404, path
    for query in ("private@client.test", "customer@client.test", message.ticket.reference, held.sha256):
        assert client.get("/api/v1/trace", query_string={"q": query}, headers=attacker).json["items"] == []


@pytest.mark.stack
def test_a_reply_deferred_once_then_sent_then_bounced(client, db, desk, receive, deliver, later, smtp_server, receiver,
                                         api_token, run_jobs):
    headers = api_token(desk.tenant)
    client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["message.sent"]}, headers=headers)
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()  # the acknowledgement
    smtp_server.fail_next(451, "4.7.1 Greylisted, try again", times=1)
    reply(client, ticket, "We replaced the fuser.")
    (outgoing,) = deliver()[1:]
    later()
    deliver_mailbox(desk.tenant.id, desk.mailbox.id)  # the retry, now due
    run_jobs(kinds=("webhooks",))

    (found,) = client.get("/api/v1/trace", query_string={"q": f"<{outgoing.rfc_message_id}>"},
                          headers=headers).json["items"]
    assert found["id"] == outgoing.message_id and found["direction"] == "outbound"
    trace = client.get(f"/api/v1/trace/messages/{outgoing.message_id}", headers=headers).get_json()
    kinds = assert_timed_in_order(trace["steps"], ["written", "mail_queued", "mail_deferred", "mail_sent",
                                                   "webhook_queued", "webhook_delivered"])
    assert kinds.count("mail_deferred") == 1 and kinds.count("mail_sent") == 1
    deferred = next(s for s in trace["steps"] if s["kind"] == "mail_deferred")
    assert deferred["ok"] is False and "451" in deferred["detail"] and "Greylisted" in deferred["detail"]
    sent = next(s for s in trace["steps"] if s["kind"] == "mail_sent")
    assert sent["ok"] and "250" in sent["detail"] and sent["since_previous_ms"] >= 0
    assert trace["steps"][0]["label"] == "Written" and desk.agent.name in trace["steps"][0]["detail"]

    # The customer's server bounces it later: the report comes in through Dovecot and is traced as part of it.
    report = receive(desk, _dsn(desk.mailbox.address, outgoing.rfc_message_id))
    trace = client.get(f"/api/v1/trace/messages/{outgoing.message_id}", headers=headers).get_json()
    assert_timed_in_order(trace["steps"], ["mail_queued", "mail_deferred", "mail_sent", "bounce_received",
                                           "mail_bounced"])
    received = next(s for s in trace["steps"] if s["kind"] == "bounce_received")
    bounced = next(s for s in trace["steps"] if s["kind"] == "mail_bounced")
    assert received["related_message_id"] == report.id and not received["ok"]
    assert "5.1.1" in bounced["detail"] and not bounced["ok"]
    report_trace = client.get(f"/api/v1/trace/messages/{report.id}", headers=headers).get_json()
    assert report_trace["bounce_of_id"] == outgoing.message_id
    assert "bounce" in [s["kind"] for s in report_trace["steps"]]


def test_the_same_mail_in_two_mailboxes_is_one_trace_with_its_duplicate(client, db, inbox, headers, new_mailbox):
    raw = make_mail(message_id="<twice@client.test>")
    original = inbox.deliver(raw)
    copy = inbox.deliver(b"X-Copy: sales\n" + raw, mailbox=new_mailbox(inbox.tenant, "sales@acme.test"))
    assert copy.status == "duplicate" and copy.message_id == original.message_id and copy.sha256 != original.sha256
    trace = client.get(f"/api/v1/trace/messages/{original.message_id}", headers=headers).get_json()
    kinds = assert_timed_in_order(trace["steps"], ["stored", "parsed", "threaded", "ingested", "duplicate"])
    assert kinds.count("stored") == 2
    stored = [s["detail"] for s in trace["steps"] if s["kind"] == "stored"]
    assert "support@acme.test" in stored[0] and "sales@acme.test" in stored[1]
