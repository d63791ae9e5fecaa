"""The agent inbox: the ticket list (filters, search, pages) and the ticket page (thread, reasons, timeline)."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from app.tickets.models import Priority, TicketStatus
from tenants.models import Role
from tests.fixtures.inbox import make_mail

BASE = "/t/acme/inbox"


def _ticket_of(inbox, raw: bytes):
    return inbox.message_of(inbox.deliver(raw)).ticket


def _rich_mail(*, text: str | None, html: str | None, attachment: tuple[str, bytes] | None = None,
               subject: str = "Rich mail", sender: str = "customer@client.test") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@acme.test", subject
    message["Message-ID"] = f"<{abs(hash((subject, text, html)))}@client.test>"
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    if attachment:
        message.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return bytes(message)


def _rows(html: str) -> list[str]:
    return re.findall(r'id="ticket-(\d+)"', html)


def test_agents_see_every_ticket_with_its_requester_queue_status_and_activity(client, db, inbox, agent):
    printer = _ticket_of(inbox, make_mail(subject="Printer jam", sender="Ann Lee <ann@client.test>"))
    vpn = _ticket_of(inbox, make_mail(subject="VPN down", sender="bob@client.test"))
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert _rows(html) == [str(vpn.id), str(printer.id)]  # latest activity first
    for text in ("ACME-1", "Printer jam", "Ann Lee", "Support", "Open", "Normal", f"{BASE}/{printer.id}"):
        assert text in html, text
    assert 'href="/t/acme/inbox/"' in html  # the nav's Inbox section is a link now


def test_filters_by_status_and_queue_and_searches(client, db, inbox, agent):
    from app.queues.models import Queue

    printer = _ticket_of(inbox, make_mail(subject="Printer jam", sender="ann@client.test"))
    vpn = _ticket_of(inbox, make_mail(subject="VPN down", sender="bob@other.test"))
    hr = Queue(tenant_id=inbox.tenant.id, name="HR")
    db.session.add(hr)
    db.session.flush()
    vpn.status, vpn.queue_id = TicketStatus.PENDING, hr.id
    db.session.commit()
    assert _rows(client.get(f"{BASE}/?status=pending").get_data(as_text=True)) == [str(vpn.id)]
    assert _rows(client.get(f"{BASE}/?queue={inbox.queue.id}").get_data(as_text=True)) == [str(printer.id)]
    # Both bodies say "printer": the subject's two words together find the one ticket.
    assert _rows(client.get(f"{BASE}/?q=printer jam").get_data(as_text=True)) == [str(printer.id)]
    assert _rows(client.get(f"{BASE}/?q=other.test").get_data(as_text=True)) == [str(vpn.id)]
    assert _rows(client.get(f"{BASE}/?q={vpn.reference}").get_data(as_text=True)) == [str(vpn.id)]
    none = client.get(f"{BASE}/?q=nothing-like-this&status=closed").get_data(as_text=True)
    assert _rows(none) == [] and "No tickets match." in none
    assert len(_rows(client.get(f"{BASE}/?status=bogus").get_data(as_text=True))) == 2  # a hand-made URL


def test_search_as_you_type_answers_the_list_alone(client, db, inbox, agent):
    _ticket_of(inbox, make_mail(subject="Printer jam"))
    response = client.get(f"{BASE}/?q=printer", headers={"HX-Request": "true", "HX-Target": "tickets"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section class="card" id="tickets">') and "Printer jam" in body


def test_pages(client, db, inbox, agent, monkeypatch):
    from html import unescape

    from app.inbox import listing

    monkeypatch.setattr(listing, "PER_PAGE", 2)
    tickets = [_ticket_of(inbox, make_mail(subject=f"Thing {n}", sender=f"s{n}@client.test")) for n in range(3)]
    first = client.get(f"{BASE}/?q=Thing").get_data(as_text=True)
    next_page = unescape(re.search(r'<a href="([^"]*)" id="next-page"', first).group(1))
    assert str(tickets[0].id) not in _rows(first) and "after=" in next_page and "q=Thing" in next_page
    assert _rows(client.get(next_page).get_data(as_text=True)) == [str(tickets[0].id)]


def test_the_ticket_page_says_why_each_message_joined_and_shows_the_timeline(client, db, inbox, agent):
    first = inbox.message_of(inbox.deliver(make_mail(subject="Printer jam", message_id="<root@client.test>")))
    ticket = first.ticket
    inbox.deliver(make_mail(subject="Re: Printer jam", headers={"In-Reply-To": "<root@client.test>"}))
    inbox.deliver(make_mail(sender="boss@client.test", subject=f"Any news? [#{ticket.reference}]"))
    inbox.deliver(make_mail(subject="AW: Printer jam"))
    html = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    reasons = re.findall(r'<p class="thread-reason">([^<]*)</p>', html)
    assert reasons == [
        "New ticket.",
        "Joined this ticket because it answers an earlier message (In-Reply-To).",
        "Joined this ticket because the subject carries the ticket reference [#ACME-1].",
        "Joined this ticket because it has the same subject and comes from the same requester.",
    ]
    assert "A new message opened this ticket." in html
    assert "Routed to Support because it was sent to support@acme.test (To)." in html
    assert "An acknowledgement to the requester is due." in html
    assert "boss@client.test" in html and "customer@client.test" in html


def test_message_html_is_never_rendered_only_its_escaped_text(client, db, inbox, agent):
    ticket = _ticket_of(inbox, _rich_mail(text="Hello <script>alert(1)</script> & bye",
                                          html="<p>Hello <b>bold</b></p><script>alert(2)</script>"))
    html = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; bye" in html
    assert "<script>alert" not in html and "<b>bold" not in html and "alert(2)" not in html
    assert '<pre class="message-text">' in html


def test_an_html_only_message_shows_its_text_without_markup(client, db, inbox, agent):
    ticket = _ticket_of(inbox, _rich_mail(text=None, html="<p>First&nbsp;line &lt;tag&gt;</p><p><i>Second</i></p>"
                                                             "<img src=x onerror=alert(3)>"))
    html = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    body = re.search(r'<pre class="message-text">(.*?)</pre>', html, re.S).group(1)
    assert body == "First\xa0line &lt;tag&gt;\nSecond"
    assert "onerror" not in html and "<i>Second" not in html and "only an HTML version" in html


def test_flags_vip_automatic_and_withheld_attachments_are_visible(client, db, inbox, agent):
    tenant = inbox.tenant
    tenant.trusted_authserv_ids, tenant.vip_senders = ["mx.acme.test"], ["vip@client.test"]
    tenant.blocked_attachment_types = ["exe"]
    db.session.commit()
    ticket = _ticket_of(inbox, _rich_mail(text="Please run this", html=None, sender="vip@client.test",
                                          attachment=("setup.exe", b"MZ" + b"\0" * 100)))
    inbox.deliver(make_mail(sender="vip@client.test", subject=f"Out of office [#{ticket.reference}]",
                            headers={"Auto-Submitted": "auto-replied",
                                     "Authentication-Results": "mx.acme.test; dmarc=fail header.from=client.test"}))
    db.session.refresh(ticket)
    assert ticket.priority == Priority.HIGH and ticket.sender_flagged
    html = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    assert 'id="vip"' in html and 'id="sender-flagged"' in html and "DMARC failed" in html
    assert "Automatic: marked as sent automatically" in html and "1 attachment withheld" in html
    assert "setup.exe" in html and "Withheld: blocked file type" in html
    assert "Attachments withheld: setup.exe (blocked file type)." in html
    assert "is a VIP: priority High" in html
    assert "Recognized as automatic mail (marked as sent automatically)" in html


def test_a_reply_to_a_closed_ticket_opens_a_linked_one(client, db, inbox, agent):
    inbox.tenant.reopen_policy = "new_linked"
    closed = _ticket_of(inbox, make_mail(subject="Printer jam", message_id="<old@client.test>"))
    closed.status = TicketStatus.CLOSED
    db.session.commit()
    follow_up = _ticket_of(inbox, make_mail(subject="Re: Printer jam", headers={"In-Reply-To": "<old@client.test>"}))
    assert follow_up.id != closed.id
    html = client.get(f"{BASE}/{follow_up.id}").get_data(as_text=True)
    assert "Opened because the requester answered a closed ticket (linked to #ACME-1)." in html
    assert f'href="{BASE}/{closed.id}"' in html
    old = client.get(f"{BASE}/{closed.id}").get_data(as_text=True)
    assert f"the follow-up is ticket #{follow_up.reference}." in old


def test_another_tenants_ticket_is_404(client, db, inbox, create_tenant, login):
    ticket = _ticket_of(inbox, make_mail(subject="Secret payroll question"))
    login(create_tenant("rival").owner)
    assert client.get(f"/t/rival/inbox/{ticket.id}").status_code == 404
    assert client.get(f"/t/acme/inbox/{ticket.id}").status_code == 404  # not a member there either
    assert "Secret payroll" not in client.get("/t/rival/inbox/?q=Secret").get_data(as_text=True)


def test_dates_are_shown_in_the_viewers_time_zone(client, db, inbox, add_member, login):
    from datetime import UTC, datetime

    ticket = _ticket_of(inbox, make_mail(subject="Printer jam"))
    ticket.last_message_at = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    db.session.commit()
    login(add_member(inbox.tenant, Role.AGENT, timezone="Asia/Tokyo"))
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert "1/6/26, 8:30" in html  # 23:30 UTC is the next morning in Tokyo


@pytest.mark.parametrize(("kind", "detail", "expected"), [
    ("routed", {"by": "receiving_mailbox", "address": "help@acme.test", "queue_id": None},
     "Routed to no queue, the default queue of the mailbox help@acme.test."),
    ("routed", {"by": "alias", "header": "Delivered-To", "address": "jobs@acme.test", "queue_id": 999},
     "Routed to a deleted queue because it was sent to jobs@acme.test (Delivered-To)."),
    ("rule_matched", {"rule": "Invoices", "matched": "invoice", "queue_id": None, "category": "billing",
                      "priority": "urgent"},
     "Rule “Invoices” matched “invoice” and set category billing, priority Urgent."),
    ("rule_matched", {"rule": "Noop", "matched": "x"}, "Rule “Noop” matched “x”."),
    ("rule_error", {"rule": "Slow", "error": "TimeoutError"},
     "Rule “Slow” was skipped: it took too long on this message."),
    ("rule_error", {"rule": "Bad", "error": "error"}, "Rule “Bad” was skipped: its pattern is not valid."),
    ("acknowledgement", {"due": False, "suppressed": "sender_bouncing"},
     "No acknowledgement is sent: mail to the sender bounces."),
    ("bounce", {"kind": "permanent", "recipients": [["gone@client.test", "failed", "5.1.1"]]},
     "Delivery to gone@client.test failed for good."),
    ("reopened", {"from": "resolved", "why": "customer_replied"},
     "Reopened (it was Resolved) because the requester replied."),
    ("threaded", {"reason": "thread_index", "evidence": "abc"},
     "Joined this ticket because Outlook marked it as part of the same conversation (Thread-Index)."),
    ("threaded", {"reason": "references", "evidence": "x@y"},
     "Joined this ticket because it refers to an earlier message of this ticket (References)."),
    ("threaded", {"reason": "bounce", "evidence": "x@y"}, "A delivery failure report about a message of this ticket."),
    ("something_new", {"a": 1}, "something_new"),
])
def test_timeline_sentences(app, kind, detail, expected):
    from app.inbox.timeline import Context, sentence
    from app.tickets.models import TicketEvent

    with app.test_request_context():
        assert sentence(TicketEvent(kind=kind, detail=detail), Context({1: "Support"})) == expected
