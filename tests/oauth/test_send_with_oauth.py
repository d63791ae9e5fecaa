"""Sending over XOAUTH2: an OAuth mailbox's reply is submitted to the SMTP server with the dev provider's access
token (validated by the server against the provider's introspection), and keeps working after a token rotation."""

from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import select

from app.inbound.services import sync_mailbox
from app.mailboxes.models import Mailbox
from app.oauth.models import OAuthGrant
from app.outbound.delivery import deliver_mailbox
from app.outbound.models import OutgoingMail, OutgoingStatus
from app.tickets import actions
from app.tickets.models import Ticket
from tenants.models import utcnow


def _customer_mail(to: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Ann <ann@customer.test>", to, "VPN down"
    message["Message-ID"], message["Date"] = "<vpn-down@customer.test>", formatdate(usegmt=True)
    message.set_content("The VPN does not connect since this morning.")
    return bytes(message)


def test_a_reply_goes_out_over_xoauth2_before_and_after_a_token_rotation(db, acme, dev_oauth, dovecot, smtp_server,
                                                                         run_jobs, add_member):
    from tenants.models import Role

    assert dev_oauth.connect().status_code == 302
    mailbox = db.session.scalar(select(Mailbox))
    assert mailbox.oauth_grant_id and mailbox.outbound_password is None
    dovecot.append(dev_oauth.user, _customer_mail(mailbox.address))
    sync_mailbox(mailbox)
    run_jobs()
    agent = add_member(acme, Role.AGENT, name="Agent Smith")
    smtp_server.clear()
    for turn in range(2):
        ticket = db.session.scalar(select(Ticket))
        actions.queue_reply(acme, ticket, f"Reply number {turn}: please restart the client.", actor=agent)
        db.session.commit()
        deliver_mailbox(acme.id, mailbox.id)
        grant = db.session.get(OAuthGrant, db.session.get(Mailbox, mailbox.id).oauth_grant_id)
        grant.access_expires_at = utcnow() - timedelta(seconds=1)  # the next send needs a rotated token
        db.session.commit()
    replies = list(db.session.scalars(select(OutgoingMail).where(OutgoingMail.event == "agent_reply")))
    assert [o.status for o in replies] == [OutgoingStatus.SENT, OutgoingStatus.SENT]
    sent = [m for m in smtp_server.messages if m.rcpt_tos == ["ann@customer.test"] and b"Reply number" in m.data]
    assert len(sent) == 2 and {m.auth_user for m in sent} == {dev_oauth.user}  # XOAUTH2 as the mailbox's user
    assert dev_oauth.stats()["refresh_token"] >= 1
