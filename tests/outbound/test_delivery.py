"""Replies and notices go out through the tenant's mailbox (the test stack's SMTP server, STARTTLS + AUTH), thread
in the customer's client, and are retried or failed as the server answers: 451 twice then 250, 550, a connection
dropped mid-DATA, a worker that died with mail claimed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.outbound.delivery import deliver_mailbox
from app.outbound.message_ids import is_ours
from app.outbound.models import DeliveryAttempt, OutgoingMail, OutgoingStatus
from app.tickets.models import Direction, Message, ThreadReason, Ticket, TicketEvent
from tests.outbound.conftest import parsed

pytestmark = pytest.mark.stack


def reply(client, ticket: Ticket, body: str = "We replaced the fuser. Does it print now?"):
    """Send a reply with the ticket page's reply form, as the agent's browser would."""
    page = client.get(f"/t/acme/inbox/{ticket.id}").get_data(as_text=True)
    hidden = dict(re.findall(r'name="(reply-\w+)"[^>]*value="([^"]*)"', page))
    return client.post(f"/t/acme/inbox/{ticket.id}/replies", data={**hidden, "reply-body": body})


def _outbox(db, **where) -> list[OutgoingMail]:
    query = select(OutgoingMail).order_by(OutgoingMail.id)
    for name, value in where.items():
        query = query.where(getattr(OutgoingMail, name) == value)
    return list(db.session.scalars(query))


def test_a_reply_threads_in_the_customers_client_and_the_answer_threads_back(db, client, desk, receive, deliver,
                                                                            smtp_server):
    first = receive(desk, desk.customer_mail("Printer jam"))
    ticket = first.ticket
    deliver()  # the acknowledgement
    (ack,) = smtp_server.messages
    assert parsed(ack.data)["Auto-Submitted"] == "auto-replied"
    smtp_server.clear()

    assert reply(client, ticket).status_code == 302
    (outgoing,) = deliver()[1:]
    assert outgoing.status is OutgoingStatus.SENT and outgoing.attempts == 1
    (sent,) = smtp_server.messages
    mail = parsed(sent.data)
    assert sent.rcpt_tos == ["ann@customer.test"] and sent.mail_from == desk.mailbox.address
    assert mail["From"].addresses[0].addr_spec == desk.mailbox.address
    assert mail["Subject"] == f"Re: Printer jam [#{ticket.reference}]"
    assert mail["In-Reply-To"] == f"<{first.message_id}>" and f"<{first.message_id}>" in mail["References"]
    assert mail["Message-ID"].endswith(f"@{desk.mailbox.address.split('@')[1]}>") and is_ours(mail["Message-ID"])
    assert mail["Auto-Submitted"] is None and mail["X-Postroom-Loop"] == "acme"
    assert "We replaced the fuser." in mail.get_body(("plain",)).get_content()
    on_thread = db.session.get(Message, outgoing.message_id)
    assert on_thread.direction is Direction.OUTBOUND and on_thread.delivery_status == "sent"
    attempt = db.session.scalar(select(DeliveryAttempt).where(DeliveryAttempt.outgoing_id == outgoing.id))
    assert (attempt.outcome, attempt.code, attempt.number) == ("sent", 250, 1)

    # The customer answers the reply from their client: through Dovecot, onto the same ticket by In-Reply-To.
    answer = receive(desk, desk.customer_mail("Re: Printer jam", In_Reply_To=mail["Message-ID"],
                                              References=f"{mail['References']} {mail['Message-ID']}"))
    assert answer.ticket_id == ticket.id and answer.thread_reason is ThreadReason.IN_REPLY_TO
    # Our own mail coming back (a forwarding rule): known as ours, never answered.
    echo = receive(desk, sent.data)
    assert echo.automatic_reason == "own_message_id" and not echo.acknowledge


def test_451_twice_then_250_is_delivered_on_the_third_attempt(db, client, desk, receive, deliver, later,
                                                              smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    smtp_server.fail_next(451, "4.7.1 Greylisted, try again", times=2)
    reply(client, ticket)
    (outgoing,) = deliver()[1:]
    assert (outgoing.status, outgoing.attempts) == (OutgoingStatus.QUEUED, 1)
    assert "451" in outgoing.last_error and outgoing.next_attempt_at is not None
    for _ in range(2):
        later()
        deliver_mailbox(desk.tenant.id, desk.mailbox.id)
    db.session.expire_all()
    outgoing = db.session.get(OutgoingMail, outgoing.id)
    assert (outgoing.status, outgoing.attempts) == (OutgoingStatus.SENT, 3)
    assert [(a.outcome, a.code) for a in outgoing.attempts_log] == [("deferred", 451), ("deferred", 451),
                                                                    ("sent", 250)]
    assert len(smtp_server.messages) == 1


def test_a_retry_waits_for_the_configured_schedule(app, db, client, desk, receive, deliver, smtp_server,
                                                  monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOUND_RETRY_SCHEDULE", [7, 30])
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.fail_next(421, "4.3.2 Shutting down", times=5)
    reply(client, ticket)
    (outgoing,) = deliver()[1:]
    waited = outgoing.next_attempt_at - outgoing.attempts_log[0].started_at
    assert timedelta(seconds=6) < waited < timedelta(seconds=9)
    assert deliver_mailbox(desk.tenant.id, desk.mailbox.id) == {"sent": 0, "deferred": 0, "failed": 0}  # not yet


def test_550_fails_with_a_note_on_the_ticket_a_notice_to_the_agent_and_the_reason(db, client, desk, receive,
                                                                                  deliver, smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    smtp_server.fail_next(550, "5.1.1 <ann@customer.test>: Recipient address rejected: User unknown")
    reply(client, ticket)
    outbox = deliver()
    failed = next(o for o in outbox if o.event == "agent_reply")
    assert (failed.status, failed.status_reason, failed.attempts) == (OutgoingStatus.FAILED, "smtp_rejected", 1)
    assert "User unknown" in failed.last_error
    assert db.session.get(Message, failed.message_id).delivery_status == "failed"
    note = db.session.scalar(select(Message).where(Message.ticket_id == ticket.id,
                                                   Message.direction == Direction.NOTE))
    assert "ann@customer.test" in note.text and "User unknown" in note.text
    assert db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.kind == "delivery_failed")) is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.failed")) is not None
    notice = next(o for o in outbox if o.event == "delivery_failed")
    assert notice.status is OutgoingStatus.SENT and notice.recipients == [desk.agent.email]
    (sent,) = [m for m in smtp_server.messages if desk.agent.email in m.rcpt_tos]
    assert "User unknown" in parsed(sent.data).get_body(("plain",)).get_content()


def test_a_connection_dropped_mid_data_is_retried_and_delivered_once(db, client, desk, receive, deliver, later,
                                                                     smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    smtp_server.drop_next_data()
    reply(client, ticket)
    (outgoing,) = deliver()[1:]
    assert outgoing.status is OutgoingStatus.QUEUED and "connection" in outgoing.last_error
    later()
    deliver_mailbox(desk.tenant.id, desk.mailbox.id)
    db.session.expire_all()
    assert db.session.get(OutgoingMail, outgoing.id).status is OutgoingStatus.SENT
    assert len(smtp_server.messages) == 1


def test_mail_a_dead_worker_had_claimed_is_taken_back_and_sent_once(app, db, client, desk, receive, deliver,
                                                                     smtp_server):
    from app.outbound.delivery import claim
    from app.outbound.reconcile import reconcile
    from tenants.models import utcnow

    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    reply(client, ticket)
    db.session.commit()
    claimed = claim(desk.tenant, desk.mailbox)  # ... and the worker is SIGKILLed here: rows stay "sending"
    assert len(claimed) == 1
    assert deliver_mailbox(desk.tenant.id, desk.mailbox.id)["sent"] == 0  # nobody else takes claimed mail
    db.session.execute(update(OutgoingMail).values(claimed_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert reconcile("default")["taken_back"] == 1
    outbox = deliver()
    assert [o.status for o in outbox if o.event == "agent_reply"] == [OutgoingStatus.SENT]
    assert len(smtp_server.messages) == 1


def test_an_inbound_bounce_marks_the_reply_and_the_address(db, client, desk, receive, deliver, smtp_server):
    from app.tickets.models import Contact

    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    reply(client, ticket)
    outgoing = deliver()[-1]
    bounce = _dsn(desk.mailbox.address, outgoing.rfc_message_id)
    receive(desk, bounce)
    db.session.expire_all()
    outgoing = db.session.get(OutgoingMail, outgoing.id)
    assert (outgoing.status, outgoing.status_reason) == (OutgoingStatus.FAILED, "bounced")
    assert "5.1.1" in outgoing.bounce_reason
    assert db.session.get(Message, outgoing.message_id).delivery_status == "bounced"
    contact = db.session.scalar(select(Contact).where(Contact.email == "ann@customer.test"))
    assert contact.bouncing and "5.1.1" in contact.bounce_reason


def test_sent_mail_is_copied_to_the_mailboxs_sent_folder(db, client, desk, receive, deliver, dovecot):
    dovecot.create_folder(desk.user.email, "Sent")
    desk.mailbox.sent_folder = "Sent"
    db.session.commit()
    ticket = receive(desk, desk.customer_mail()).ticket
    reply(client, ticket, "A copy of this goes to Sent.")
    deliver()
    found = dovecot.fetch_all(desk.user.email, "Sent")
    assert any(b"A copy of this goes to Sent." in raw for raw in found)


def _dsn(to: str, original_id: str) -> bytes:
    from email.utils import formatdate, make_msgid

    return (f"From: Mail Delivery System <MAILER-DAEMON@customer.test>\r\nTo: {to}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: {make_msgid(domain='customer.test')}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\n"
            "Final-Recipient: rfc822; ann@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
            f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{original_id}>\r\n"
            "Subject: Re: Printer jam\r\n--b--\r\n").encode()


def test_the_mailboxs_signature_and_disclaimer_close_every_reply(db, client, desk, receive, deliver, smtp_server):
    from app.mailboxes.services import update_mailbox

    ticket = receive(desk, desk.customer_mail()).ticket
    current = {name: getattr(desk.mailbox, name) for name in ("name", "address")}
    update_mailbox(desk.mailbox, {**current, "signature": "Acme Support\nhttps://acme.test/help",
                                  "disclaimer": "This mail is confidential."})
    deliver()
    smtp_server.clear()
    reply(client, ticket, "Fixed.")
    deliver()
    (sent,) = smtp_server.messages
    text = parsed(sent.data).get_body(("plain",)).get_content()
    text = text.replace("\r\n", "\n")
    assert text.startswith("Fixed.\n") and "/inbox/" not in text  # no link into the agents' inbox
    assert text.endswith("\n\n-- \nAcme Support\nhttps://acme.test/help\n\nThis mail is confidential.\n")


def test_a_mailbox_sends_no_more_than_its_rate_per_minute(app, db, client, desk, receive, deliver, smtp_server,
                                                          monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOUND_RATE_PER_MINUTE", 2)
    monkeypatch.setitem(app.config, "OUTBOUND_AUTO_PER_RECIPIENT_HOUR", 0)
    tickets = [receive(desk, desk.customer_mail(f"Question {n}")).ticket for n in range(3)]
    outbox = deliver()  # three acknowledgements: two now, the third waits for the next minute
    assert sorted(o.status.value for o in outbox) == ["queued", "sent", "sent"]
    assert len(smtp_server.messages) == 2 and len(tickets) == 3
    assert deliver_mailbox(desk.tenant.id, desk.mailbox.id)["sent"] == 0  # still the same minute
