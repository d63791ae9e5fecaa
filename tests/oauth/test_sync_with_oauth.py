"""Sync over XOAUTH2: works, keeps working across a token rotation, and loses nothing across a re-connect."""

from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func, select

from app.inbound.models import Receipt
from app.inbound.services import sync_mailbox
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.models import OAuthGrant
from app.outbound.models import OutgoingMail, OutgoingStatus
from tenants.models import utcnow
from worker.jobs.oauth import refresh_due_grants


def _mail(n: int) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "c@customer.test", "it@acme.test", f"Help #{n}"
    message["Message-ID"] = f"<oauth-sync-{n}@customer.test>"
    message.set_content(f"Message {n}")
    return bytes(message)


def _receipts(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Receipt))


def test_sync_over_xoauth2_survives_rotation_and_reconnect(db, acme, dev_oauth, dovecot, oauth_provider, run_jobs,
                                                           relay):
    assert dev_oauth.connect().status_code == 302
    mailbox = db.session.scalar(select(Mailbox))
    mailbox_id = mailbox.id
    dovecot.append(dev_oauth.user, _mail(1))
    sync_mailbox(mailbox)
    assert _receipts(db) == 1

    grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id)
    grant.access_expires_at = utcnow() - timedelta(seconds=1)  # the access token ran out
    db.session.commit()
    dovecot.append(dev_oauth.user, _mail(2))
    sync_mailbox(mailbox)  # refreshes first, under the grant's lock, then syncs
    assert _receipts(db) == 2 and dev_oauth.stats()["refresh_token"] == 1

    oauth_provider.revoke_user(dev_oauth.user)  # the user withdraws consent
    grant.access_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    refresh_due_grants("default")  # a job called directly: it ends the session, so only ids are used below
    run_jobs()
    assert db.session.get(Mailbox, mailbox_id).status is MailboxStatus.REAUTH_REQUIRED
    alert = db.session.scalar(select(OutgoingMail).where(OutgoingMail.event == "reauth_required"))
    assert alert.recipients == ["owner@acme.test"] and alert.status is OutgoingStatus.QUEUED  # admins told by mail
    dovecot.append(dev_oauth.user, _mail(3))  # mail keeps arriving while the mailbox waits for its admin

    consent = dev_oauth.consent(dev_oauth.start(f"/t/acme/mailboxes/{mailbox_id}/reconnect"))
    assert dev_oauth.callback(consent).status_code == 302
    db.session.expire_all()
    sync_mailbox(db.session.get(Mailbox, mailbox_id))
    assert _receipts(db) == 3  # nothing lost, nothing doubled
