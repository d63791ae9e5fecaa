"""Mail for the earlier features, through the region's relay: invitations, a mailbox that keeps failing, and an
OAuth mailbox that needs re-connecting (to the tenant's admins, one mail, admins in Bcc)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.outbound.models import OutgoingMail, OutgoingStatus
from tests.outbound.conftest import parsed

pytestmark = pytest.mark.stack


def _text(raw: bytes) -> str:
    return parsed(raw).get_body(("plain",)).get_content()


def test_an_invitation_arrives_by_mail_with_its_link(db, client, create_tenant, login, relay, deliver, smtp_server):
    tenant = create_tenant("acme", locale="de")
    login(tenant.owner)
    smtp_server.clear()
    response = client.post("/t/acme/members/invite", data={"email": "nina@acme.test", "role": "agent"})
    assert response.status_code == 200
    (outgoing,) = deliver()
    assert (outgoing.event, outgoing.status, outgoing.recipients) == ("invitation", OutgoingStatus.SENT,
                                                                      ["nina@acme.test"])
    (sent,) = smtp_server.messages
    link = re.search(r"https?://\S+/invitations/\S+", _text(sent.data))[0]
    path = "/" + link.split("/", 3)[3]
    client.post("/logout")
    assert "You were invited as nina@acme.test" in client.get(path).get_data(as_text=True)


def test_without_a_relay_the_invitation_is_kept_as_not_sent_and_the_link_is_still_shown(db, client, create_tenant,
                                                                                         login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    response = client.post("/t/acme/members/invite", data={"email": "nina@acme.test", "role": "agent"})
    assert "/invitations/" in response.get_data(as_text=True)  # the admin can pass the link on by hand
    (outgoing,) = db.session.scalars(select(OutgoingMail))
    assert (outgoing.status, outgoing.status_reason) == (OutgoingStatus.SUPPRESSED, "no_relay")


def test_admins_are_mailed_when_a_mailbox_starts_failing(db, create_tenant, add_member, relay, deliver, smtp_server):
    from app.connections.models import ConnectionKind
    from app.connections.services import record_attempt
    from app.mail.steps import StepResult
    from app.mailboxes.models import Mailbox, MailboxStatus
    from tenants.models import Role

    tenant = create_tenant("acme")
    admin = add_member(tenant, Role.ADMIN, name="Ada Admin")
    add_member(tenant, Role.AGENT, name="Not an admin")
    mailbox = Mailbox(tenant_id=tenant.id, name="Support", address="support@acme.test", inbound_host="imap.acme.test",
                      inbound_port=993, inbound_username="support", outbound_mode="none")
    db.session.add(mailbox)
    db.session.commit()
    smtp_server.clear()
    refused = StepResult("auth", False, 12.0, "auth_failed", {}, "NO [AUTHENTICATIONFAILED] Authentication failed.")
    for _ in range(tenant.failure_threshold):
        record_attempt(mailbox, ConnectionKind.SYNC, "inbound", [refused])
    assert db.session.get(Mailbox, mailbox.id).status is MailboxStatus.FAILING
    (outgoing,) = deliver()
    assert outgoing.event == "mailbox_failing" and outgoing.status is OutgoingStatus.SENT
    (sent,) = smtp_server.messages
    assert set(sent.rcpt_tos) == {tenant.owner.email, admin.email}  # owners and admins, not agents
    assert "support@acme.test" in _text(sent.data) and "AUTHENTICATIONFAILED" in _text(sent.data)
