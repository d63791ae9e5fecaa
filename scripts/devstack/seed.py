"""Connect the demo tenant to the demo mailbox of the local stack (once), and start its connection test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app import create_app
from app.connections.services import start_test
from app.extensions import db
from app.inbound.services import start_sync
from app.mailboxes.models import Mailbox
from app.mailboxes.services import create_mailbox
from app.queues.services import create_queue
from tenants.context import tenant_context
from tenants.resolver import tenant_by_slug


def seed(slug: str, stack_file: Path) -> str:
    stack = json.loads(stack_file.read_text())
    tenant = tenant_by_slug(slug)
    with tenant_context(tenant):
        existing = db.session.scalar(Mailbox.all(tenant).where(Mailbox.address == stack["demo_mailbox"]["address"]))
        if existing is not None:
            return f"demo mailbox {existing.address} already connected"
        queue = create_queue(tenant, name="Support", description="Everything the demo mailbox receives")
        mailbox = create_mailbox(tenant, {
            "name": "Demo support", "address": stack["demo_mailbox"]["address"], "default_queue_id": queue.id,
            "inbound_protocol": "imap", "inbound_host": stack["imap"]["host"],
            "inbound_port": stack["imap"]["tls_port"],
            "inbound_security": "tls", "inbound_username": stack["demo_mailbox"]["address"],
            "inbound_password": stack["demo_mailbox"]["password"], "ca_pem": Path(stack["ca_file"]).read_text(),
            "outbound_mode": "own", "outbound_host": stack["smtp"]["host"], "outbound_port": stack["smtp"]["port"],
            "outbound_security": "starttls", "outbound_username": stack["demo_mailbox"]["address"],
            "outbound_password": stack["demo_mailbox"]["password"],
        })
        start_test(mailbox)
        start_sync(mailbox)  # the welcome mail is in the inbox (and acknowledged) within seconds, not at the first poll
        return f"demo mailbox {mailbox.address} connected; its connection test and first sync are queued"


if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        print(seed(sys.argv[1], Path(sys.argv[2])))
