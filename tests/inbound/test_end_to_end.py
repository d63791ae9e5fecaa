"""Mail to ticket end to end: a message appended to the real Dovecot is polled (IMAP and POP3), ingested through the
real jobs, and becomes a ticket; replies find it by In-Reply-To and by the ticket token in the subject."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.inbound.services import start_sync
from app.mailboxes.services import create_mailbox
from app.tickets.models import Message, ThreadReason, Ticket
from worker.jobs.sync import poll_due_mailboxes

pytestmark = pytest.mark.stack


def _mail(subject: str, sender: str, message_id: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@acme.test", subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("The printer on floor 3 is on fire.")
    return bytes(message)


@pytest.fixture
def connect(db, create_tenant, dovecot, mail_user, mail_ca):
    tenant = create_tenant("acme")

    def make(protocol: str):
        port = dovecot.pop3s_port if protocol == "pop3" else dovecot.imaps_port
        return create_mailbox(tenant, {
            "name": "Support", "address": "support@acme.test", "inbound_protocol": protocol,
            "inbound_host": dovecot.host, "inbound_port": port, "inbound_security": "tls",
            "inbound_username": mail_user.email, "inbound_password": mail_user.password,
            "ca_pem": mail_ca.read_text(), "outbound_mode": "none", "sync_mode": "poll"})

    return make


def _messages(db) -> list[Message]:
    return list(db.session.scalars(select(Message).order_by(Message.id)))


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_mail_becomes_a_ticket_and_replies_find_it(app, db, connect, dovecot, mail_user, run_jobs, protocol):
    mailbox, user = connect(protocol), mail_user.email
    dovecot.append(user, _mail("Printer on fire", "Ann Lee <ann@customer.test>", f"<first-{protocol}@c.test>"))
    assert poll_due_mailboxes("default") == 1
    run_jobs()  # the poll's sync job, then the ingest job it queued
    (ticket,) = db.session.scalars(select(Ticket))
    assert ticket.subject == "Printer on fire" and ticket.reference == "ACME-1"
    assert (ticket.requester.email, ticket.requester.name) == ("ann@customer.test", "Ann Lee")
    assert [m.thread_reason for m in _messages(db)] == [ThreadReason.NEW]

    dovecot.append(user, _mail("Re: Printer on fire", "ann@customer.test", f"<reply-{protocol}@c.test>",
                               In_Reply_To=f"<first-{protocol}@c.test>"))
    start_sync(mailbox)  # "sync now": the same sync job, without waiting for the poll interval
    run_jobs()
    dovecot.append(user, _mail("Any news? [#ACME-1]", "Bob <bob@customer.test>", f"<token-{protocol}@c.test>"))
    start_sync(mailbox)
    run_jobs()

    messages = _messages(db)
    assert [(m.ticket_id, m.thread_reason) for m in messages] == [
        (ticket.id, ThreadReason.NEW), (ticket.id, ThreadReason.IN_REPLY_TO), (ticket.id, ThreadReason.SUBJECT_TOKEN)]
    assert [m.from_address for m in messages] == ["ann@customer.test", "ann@customer.test", "bob@customer.test"]
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1
