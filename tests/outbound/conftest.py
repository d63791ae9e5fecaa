"""A desk that sends: a tenant whose mailbox reads the test stack's Dovecot and sends through its SMTP server
(STARTTLS + AUTH), a signed-in agent, and a region relay for staff notices."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from sqlalchemy import select


@dataclass
class Desk:
    tenant: object
    mailbox: object
    agent: object
    user: object  # the mail account (Dovecot and SMTP) the mailbox uses

    def customer_mail(self, subject: str = "Printer jam", *, sender: str = "Ann Lee <ann@customer.test>",
                      body: str = "The printer on floor 3 is jammed again, please help.", **headers) -> bytes:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, self.mailbox.address, subject
        message["Message-ID"], message["Date"] = make_msgid(domain="customer.test"), formatdate(usegmt=True)
        for name, value in headers.items():
            message[name.replace("_", "-")] = value
        message.set_content(body)
        return bytes(message)


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


@pytest.fixture
def desk(db, create_tenant, add_member, login, dovecot, smtp_server, mail_user, mail_ca, relay) -> Desk:
    from app.mailboxes.services import create_mailbox
    from tenants.models import Role

    tenant = create_tenant("acme")
    mailbox = create_mailbox(tenant, {
        "name": "Support", "address": mail_user.email, "inbound_protocol": "imap", "inbound_host": dovecot.host,
        "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
        "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "sync_mode": "poll",
        "outbound_mode": "own", "outbound_host": smtp_server.host, "outbound_port": smtp_server.port,
        "outbound_security": "starttls", "outbound_username": mail_user.email,
        "outbound_password": mail_user.password})
    agent = add_member(tenant, Role.AGENT, name="Agent Smith", email=f"smith-{mail_user.email}")
    login(agent)
    smtp_server.clear()
    return Desk(tenant, mailbox, agent, mail_user)


@pytest.fixture
def receive(db, dovecot, run_jobs):
    """``receive(desk, raw)``: the mail arrives in Dovecot, is synced and ingested; returns its ticket message."""
    from app.extensions import db as _db
    from app.inbound.services import sync_mailbox
    from app.mailboxes.models import Mailbox
    from app.tickets.models import Message

    def run(desk: Desk, raw: bytes):
        message_id = parsed(raw)["Message-ID"].strip("<>")
        dovecot.append(desk.user.email, raw)
        sync_mailbox(_db.session.get(Mailbox, desk.mailbox.id))
        run_jobs()
        return _db.session.scalar(select(Message).where(Message.message_id == message_id,
                                                        Message.direction == "inbound").order_by(Message.id.desc()))

    return run


@pytest.fixture
def deliver(db, run_jobs):
    """Run the deliver queue as a worker would (notice jobs, delivery jobs), then return the outbox rows."""
    from app.extensions import db as _db
    from app.outbound.models import OutgoingMail

    def run():
        run_jobs(kinds=("deliver",))
        return list(_db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id)))

    return run


@pytest.fixture
def later(db):
    """``later()``: every queued mail's next attempt is due now (time passes, without waiting for it)."""
    from sqlalchemy import update

    from app.extensions import db as _db
    from app.outbound.models import OutgoingMail, OutgoingStatus
    from tenants.models import utcnow

    def run() -> None:
        _db.session.execute(update(OutgoingMail).where(OutgoingMail.status == OutgoingStatus.QUEUED)
                            .values(next_attempt_at=utcnow()))
        _db.session.commit()

    return run
