"""Fixtures for the ingest pipeline without a mail server: raw mail goes straight into the blob store and a
receipt, exactly where a sync would have left it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from email.message import EmailMessage

import pytest

_uids = itertools.count(1)


def make_mail(*, sender: str = "customer@client.test", to: str = "support@acme.test", subject: str = "Printer jam",
              body: str = "The printer on floor 3 is jammed.", message_id: str | None = None,
              headers: dict | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = message_id or f"<m{next(_uids)}@client.test>"
    message["Date"] = "Mon, 23 Nov 2026 08:00:00 +0000"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


@dataclass
class Inbox:
    tenant: object
    mailbox: object
    queue: object

    def deliver(self, raw: bytes, mailbox=None):
        """Store ``raw`` as the next receipt of the mailbox and ingest it; returns the receipt."""
        from app.extensions import db
        from app.inbound.blobs import blob_key, store_for_region
        from app.inbound.ingest import ingest_receipts
        from app.inbound.models import Receipt
        from tenants.regions import get_region

        mailbox = mailbox or self.mailbox
        store_for_region(get_region(self.tenant.region)).put(raw)
        receipt = Receipt(tenant_id=self.tenant.id, mailbox_id=mailbox.id, folder="INBOX", uidvalidity=1,
                          uid=next(_uids), sha256=blob_key(raw), size=len(raw))
        db.session.add(receipt)
        db.session.commit()
        ingest_receipts([receipt.id])
        db.session.refresh(receipt)
        return receipt

    def message_of(self, receipt):
        from app.extensions import db
        from app.tickets.models import Message

        return db.session.get(Message, receipt.message_id)


@pytest.fixture
def new_mailbox(db):
    from app.mailboxes.models import Mailbox

    def make(tenant, address: str, queue=None) -> Mailbox:
        mailbox = Mailbox(tenant_id=tenant.id, name=address, address=address, inbound_host="127.0.0.1",
                          inbound_port=993, inbound_username=address, outbound_mode="none",
                          default_queue_id=queue.id if queue else None)
        db.session.add(mailbox)
        db.session.commit()
        return mailbox

    return make


@pytest.fixture
def inbox(db, create_tenant, new_mailbox) -> Inbox:
    from app.queues.models import Queue

    tenant = create_tenant("acme")
    queue = Queue(tenant_id=tenant.id, name="Support")
    db.session.add(queue)
    db.session.commit()
    return Inbox(tenant, new_mailbox(tenant, "support@acme.test", queue), queue)
