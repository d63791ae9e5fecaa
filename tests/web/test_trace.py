"""The message trace page: a message fetched from Dovecot, ingested, acknowledged through the SMTP server and
announced to a webhook shows every step in order with its timings; search by Message-ID, address, ticket and raw
hash; admins only; another tenant's message is a 404."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tenants.models import Role
from tests.fixtures.inbox import make_mail
from tests.outbound import conftest as desk_fixtures
from tests.web.test_quarantine_page import deep_mail

# The mail-stack desk (Dovecot in, SMTP out) of tests/outbound, for the end-to-end trace.
desk, receive, deliver = desk_fixtures.desk, desk_fixtures.receive, desk_fixtures.deliver

BASE = "/t/acme/trace"
_STEP = re.compile(r'<tr class="trace-step[^"]*" data-kind="(\w+)">\s*<td><time datetime="([^"]+)"')


def steps_of(html: str) -> list[tuple[str, datetime]]:
    return [(kind, datetime.fromisoformat(at)) for kind, at in _STEP.findall(html)]


def assert_in_order(kinds: list[str], expected: list[str]) -> None:
    """Each expected kind is there, and each first appears after the one before it."""
    positions = [kinds.index(kind) for kind in expected]
    assert positions == sorted(positions), kinds


@pytest.fixture
def admin(inbox, login):
    login(inbox.tenant.owner)
    return inbox.tenant.owner


@pytest.mark.stack
def test_an_inbound_message_shows_every_step_in_order_with_its_timings(client, db, desk, receive, deliver, receiver,
                                                                      api_token, run_jobs, login, smtp_server):
    headers = api_token(desk.tenant)
    assert client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["ticket.created",
                                                                                 "message.received"]},
                       headers=headers).status_code == 201
    message = receive(desk, desk.customer_mail("Printer jam"))  # Dovecot → sync → ingest
    deliver()  # the acknowledgement, through the SMTP server
    run_jobs(kinds=("webhooks",))
    assert len(smtp_server.messages) == 1 and len(receiver.received) == 2
    login(desk.tenant.owner)

    html = client.get(f"{BASE}/messages/{message.id}").get_data(as_text=True)
    steps = steps_of(html)
    kinds = [kind for kind, _at in steps]
    assert_in_order(kinds, ["received", "stored", "parsed", "threaded", "routed", "acknowledgement", "ingested",
                            "mail_queued", "mail_sent"])
    assert_in_order(kinds, ["threaded", "webhook_queued", "webhook_delivered"])
    assert kinds.count("webhook_delivered") == 2  # ticket.created and message.received
    times = [at for _kind, at in steps]
    assert times == sorted(times)
    assert "Ticket created" in html and message.ticket.reference in html and "Acknowledgement queued" in html
    assert "ticket.created → " + receiver.url in html and "HTTP 200" in html
    assert re.search(r"\+\d+ ms|\+[\d.]+ s", html)  # each step's time since the one before
    assert f"Sync of {desk.mailbox.address}" in html and "warning" not in html.split('id="trace-message')[1]


def test_search_by_message_id_address_and_ticket(client, db, inbox, admin):
    first = inbox.message_of(inbox.deliver(make_mail(sender="ann@client.test", message_id="<jam-1@client.test>")))
    second = inbox.message_of(inbox.deliver(make_mail(sender="ann@client.test", subject="Toner",
                                                      message_id="<toner@client.test>")))
    inbox.deliver(make_mail(sender="bob@client.test", subject="Other"))

    for query in ("<jam-1@client.test>", "jam-1@client.test", " jam-1@client.test "):
        html = client.get(f"{BASE}/", query_string={"q": query}).get_data(as_text=True)
        assert re.findall(r'id="candidate-message-(\d+)"', html) == [str(first.id)]
        assert f'id="trace-message-{first.id}"' in html  # the only match: its trace at once
    html = client.get(f"{BASE}/", query_string={"q": "ANN@client.test"}).get_data(as_text=True)
    assert re.findall(r'id="candidate-message-(\d+)"', html) == [str(second.id), str(first.id)]  # newest first
    assert 'id="trace-message-' not in html
    for query in (second.ticket.reference, f"[#{second.ticket.reference.lower()}]"):
        html = client.get(f"{BASE}/", query_string={"q": query}).get_data(as_text=True)
        assert re.findall(r'id="candidate-message-(\d+)"', html) == [str(second.id)], query
    # A number is a ticket's number or its id: both are candidates, the ticket column tells them apart.
    for query in (f"#{second.ticket.number}", str(second.ticket_id)):
        html = client.get(f"{BASE}/", query_string={"q": query}).get_data(as_text=True)
        assert str(second.id) in re.findall(r'id="candidate-message-(\d+)"', html), query
    assert "No message matches" in client.get(f"{BASE}/", query_string={"q": "nobody@nowhere.test"}).get_data(
        as_text=True)


def test_quarantined_mail_is_found_by_its_hash_and_traced(client, db, inbox, admin):
    held = inbox.deliver(deep_mail())
    html = client.get(f"{BASE}/", query_string={"q": held.sha256.upper()}).get_data(as_text=True)
    assert f'id="candidate-receipt-{held.id}"' in html and "Quarantined" in html
    kinds = [kind for kind, _at in steps_of(html)]
    assert kinds == ["stored", "quarantined"]
    assert "deep@client.test" in html and "nested too deeply" in html  # headers read from the raw mail
    # A receipt that became a message is traced as that message.
    receipt = inbox.deliver(make_mail())
    response = client.get(f"{BASE}/receipts/{receipt.id}")
    assert response.status_code == 302 and response.location.endswith(f"/trace/messages/{receipt.message_id}")


def test_htmx_gets_the_results_and_the_timeline_alone(client, db, inbox, admin):
    message = inbox.message_of(inbox.deliver(make_mail(message_id="<htmx@client.test>")))
    page = client.get(f"{BASE}/")
    assert 'hx-target="#trace-results"' in page.get_data(as_text=True) and "HX-Request" in page.headers["Vary"]
    results = client.get(f"{BASE}/", query_string={"q": "htmx@client.test"},
                         headers={"HX-Request": "true", "HX-Target": "trace-results"})
    body = results.get_data(as_text=True)
    assert "<html" not in body and f'id="candidate-message-{message.id}"' in body
    timeline = client.get(f"{BASE}/messages/{message.id}", headers={"HX-Request": "true", "HX-Target": "trace-detail"})
    body = timeline.get_data(as_text=True)
    assert "<html" not in body and f'id="trace-message-{message.id}"' in body
    assert "<html" in client.get(f"{BASE}/messages/{message.id}").get_data(as_text=True)


def test_the_ticket_page_links_admins_to_a_message_trace(client, db, inbox, admin, add_member, login):
    message = inbox.message_of(inbox.deliver(make_mail()))
    link = f'href="{BASE}/messages/{message.id}"'
    assert link in client.get(f"/t/acme/inbox/{message.ticket_id}").get_data(as_text=True)
    login(add_member(inbox.tenant, Role.AGENT))
    assert link not in client.get(f"/t/acme/inbox/{message.ticket_id}").get_data(as_text=True)


def test_agents_are_refused(client, db, inbox, add_member, login):
    message = inbox.message_of(inbox.deliver(make_mail()))
    login(add_member(inbox.tenant, Role.AGENT))
    for path in ("/", f"/messages/{message.id}", f"/receipts/{inbox.deliver(deep_mail()).id}"):
        assert client.get(f"{BASE}{path}").status_code == 403, path
    assert 'href="/t/acme/trace/"' not in client.get("/t/acme/inbox/").get_data(as_text=True)


def test_another_tenants_messages_are_404_and_never_found(client, db, inbox, create_tenant, login):
    message = inbox.message_of(inbox.deliver(make_mail(message_id="<secret@client.test>")))
    held = inbox.deliver(deep_mail())
    login(create_tenant("other").owner)
    assert client.get(f"/t/other/trace/messages/{message.id}").status_code == 404
    assert client.get(f"/t/other/trace/receipts/{held.id}").status_code == 404
    assert client.get(f"/t/acme/trace/messages/{message.id}").status_code == 404
    for query in ("secret@client.test", "customer@client.test", message.ticket.reference, held.sha256):
        html = client.get("/t/other/trace/", query_string={"q": query}).get_data(as_text=True)
        assert "candidate-" not in html and "No message matches" in html, query


def test_times_are_shown_in_the_viewers_time_zone(client, db, inbox, admin):
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    inbox.tenant.timezone = "Asia/Tokyo"
    db.session.commit()
    message = inbox.message_of(inbox.deliver(make_mail()))
    html = client.get(f"{BASE}/messages/{message.id}").get_data(as_text=True)
    at, shown = re.search(r'data-kind="parsed">\s*<td><time datetime="([^"]+)">([^<]+)</time>', html).groups()
    assert shown == format_datetime(datetime.fromisoformat(at), "medium", tzinfo=ZoneInfo("Asia/Tokyo"),
                                    locale="en")
    assert shown != format_datetime(datetime.fromisoformat(at), "medium", tzinfo=ZoneInfo("UTC"), locale="en")
