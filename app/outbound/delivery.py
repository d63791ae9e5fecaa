"""Handing queued mail to SMTP: one connection per batch, an attempt row per try, retries with backoff.

A mailbox's delivery job claims its due rows (``queued`` and ``next_attempt_at`` passed) as ``sending``, opens one
SMTP session (the mailbox's own server with password or XOAUTH2, or the region's relay) and sends them in turn,
committing each outcome as it happens: a worker that dies mid-batch leaves sent mail recorded as sent, and the rest
``sending`` until the reconciler takes it back (``OUTBOUND_CLAIM_TIMEOUT``).

Outcomes: 2xx → sent. 4xx, a dropped connection, a timeout → deferred to the next slot of
``OUTBOUND_RETRY_SCHEDULE``, or failed once the schedule is used up. 5xx → failed at once. A failed mail gets an
internal note on its ticket and a notice to its author (``app.outbound.failures``).
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.mail.sessions import MailError, PinnedSMTP, open_smtp
from app.mail.smtp import close
from app.mail.steps import Endpoint
from app.mailboxes.models import Mailbox
from app.outbound.models import DeliveryAttempt, OutgoingMail, OutgoingStatus
from tenants.models import Tenant, utcnow

THROTTLE_WAIT = 15  # seconds
_NETWORK = (smtplib.SMTPServerDisconnected, OSError, TimeoutError)


@dataclass(frozen=True)
class Outcome:
    result: str  # sent | deferred | failed
    code: int | None = None
    response: str = ""


def deliver_mailbox(tenant_id: int, mailbox_id: int | None) -> dict[str, int]:
    """Send what is due for one mailbox (None: the tenant's system mail through the region's relay)."""
    tenant = db.session.get(Tenant, tenant_id)
    mailbox = db.session.get(Mailbox, mailbox_id) if mailbox_id else None
    ids = claim(tenant, mailbox)
    counts = {"sent": 0, "deferred": 0, "failed": 0}
    if ids:
        _send_batch(tenant, mailbox, ids, counts)
        _after_batch(tenant, mailbox)
    elif _throttled(tenant, mailbox):  # the mailbox's minute is used up: come back for the rest
        from app.outbound.outbox import kick

        kick(tenant.region, tenant.id, mailbox.id if mailbox else None, THROTTLE_WAIT)
    return counts


def _throttled(tenant: Tenant, mailbox: Mailbox | None) -> bool:
    return db.session.scalar(select(func.count()).select_from(OutgoingMail).where(
        OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox), OutgoingMail.status == OutgoingStatus.QUEUED,
        OutgoingMail.next_attempt_at <= utcnow())) > 0


def claim(tenant: Tenant, mailbox: Mailbox | None) -> list[int]:
    """Mark up to a batch of due rows ``sending`` and return their ids, oldest first (the per-minute limit)."""
    batch = current_app.config["OUTBOUND_BATCH"]
    per_minute = current_app.config["OUTBOUND_RATE_PER_MINUTE"]
    if per_minute > 0:
        recent = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(
            OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox), OutgoingMail.status == OutgoingStatus.SENT,
            OutgoingMail.sent_at > utcnow() - timedelta(minutes=1)))
        batch = min(batch, max(0, per_minute - recent))
    if batch == 0:
        return []
    due = select(OutgoingMail.id).where(
        OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox), OutgoingMail.status == OutgoingStatus.QUEUED,
        OutgoingMail.next_attempt_at <= utcnow()).order_by(OutgoingMail.next_attempt_at, OutgoingMail.id).limit(batch)
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)  # two jobs for one mailbox never take the same rows
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(update(OutgoingMail).where(OutgoingMail.id.in_(ids)).values(
            status=OutgoingStatus.SENDING, claimed_at=utcnow()))
    db.session.commit()
    return ids


def _same_mailbox(mailbox: Mailbox | None):
    return OutgoingMail.mailbox_id == mailbox.id if mailbox else OutgoingMail.mailbox_id.is_(None)


def _send_batch(tenant: Tenant, mailbox: Mailbox | None, ids: list[int], counts: dict[str, int]) -> None:
    smtp: PinnedSMTP | None = None
    server = ""
    sent: list[bytes] = []
    try:
        for outgoing_id in ids:
            outgoing = db.session.get(OutgoingMail, outgoing_id)
            started = time.perf_counter()
            if smtp is None:
                smtp, server, refused = _connect(tenant, mailbox)
                if smtp is None:  # could not even log in: this mail (and the rest) wait for their next slot
                    _record(tenant, outgoing, refused, server, started)
                    counts[refused.result] += 1
                    continue
            outcome = _send_one(smtp, outgoing)
            if outcome.result == "deferred" and outcome.code is None:  # the connection broke: open a new one next
                close(smtp)
                smtp = None
            _record(tenant, outgoing, outcome, server, started)
            counts[outcome.result] += 1
            if outcome.result == "sent":
                sent.append(outgoing.raw)
    finally:
        if smtp is not None:
            close(smtp)
    if sent and mailbox is not None and mailbox.sent_folder:
        copy_to_sent(mailbox, sent)


def copy_to_sent(mailbox: Mailbox, raws: list[bytes]) -> None:
    """The sent copies in the mailbox's Sent folder (IMAP APPEND, marked read), so people who also use the mailbox
    in their mail client see what the desk sent. A failure here is logged: the mail itself is out."""
    from app.connections.services import endpoints
    from app.mail.sessions import open_imap

    try:
        client = open_imap(endpoints(mailbox)[0][1])
    except Exception:
        current_app.logger.warning("sent copies not stored", exc_info=True, extra={"mailbox_id": mailbox.id})
        return
    try:
        for raw in raws:
            client.append(mailbox.sent_folder, raw, flags=[b"\\Seen"])
    except Exception:
        current_app.logger.warning("sent copies not stored", exc_info=True, extra={"mailbox_id": mailbox.id})
    finally:
        try:
            client.logout()
        except Exception:
            client.shutdown()


def _connect(tenant: Tenant, mailbox: Mailbox | None) -> tuple[PinnedSMTP | None, str, Outcome]:
    try:
        endpoint = outbound_endpoint(tenant, mailbox)
    except Exception as error:  # an OAuth grant that cannot give a token, a mailbox that sends nothing
        return None, "", Outcome("deferred", None, f"no way to send: {error}")
    try:
        return open_smtp(endpoint), f"{endpoint.host}:{endpoint.port}", Outcome("sent")
    except MailError as error:
        detail = error.result
        code = (detail.detail or {}).get("code") if isinstance(detail.detail, dict) else None
        words = detail.server_response or (detail.detail or {}).get("reason", "") if detail.detail else ""
        return None, f"{endpoint.host}:{endpoint.port}", Outcome("deferred", code, f"{error.category}: {words}"[:2000])


def outbound_endpoint(tenant: Tenant, mailbox: Mailbox | None) -> Endpoint:
    """The SMTP server a mailbox sends through (its own or the relay, see ``app.connections.services.endpoints``);
    system mail (no mailbox) goes through the region's relay."""
    from app.connections.services import endpoints, relay_endpoint

    if mailbox is None:
        return relay_endpoint(tenant)
    found = dict(endpoints(mailbox, inbound=False))
    if "outbound" not in found:
        raise RuntimeError("the mailbox does not send mail")
    return found["outbound"]


def _send_one(smtp: PinnedSMTP, outgoing: OutgoingMail) -> Outcome:
    try:
        refused = smtp.sendmail(outgoing.mail_from, outgoing.recipients, outgoing.raw)
    except smtplib.SMTPRecipientsRefused as error:  # every recipient refused
        codes = [code for code, _words in error.recipients.values()]
        words = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in error.recipients.items())
        return Outcome("failed" if all(c >= 500 for c in codes) else "deferred", max(codes), words)
    except smtplib.SMTPResponseException as error:
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return Outcome("deferred", None, f"connection lost: {error}")
        return Outcome("failed" if error.smtp_code >= 500 else "deferred", error.smtp_code, _text(error.smtp_error))
    except _NETWORK as error:
        return Outcome("deferred", None, f"connection lost: {error or type(error).__name__}")
    if refused:  # accepted for some recipients: sent, with the refusals kept in the log
        words = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
        return Outcome("sent", 250, f"some recipients refused: {words}")
    return Outcome("sent", 250, "")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _record(tenant: Tenant, outgoing: OutgoingMail, outcome: Outcome, server: str, started: float) -> None:
    from app.outbound.failures import mark_failed, mark_sent

    outgoing.attempts += 1
    db.session.add(DeliveryAttempt(tenant_id=tenant.id, outgoing_id=outgoing.id, number=outgoing.attempts,
                                   outcome=outcome.result, code=outcome.code, response=outcome.response[:4000],
                                   server=server[:255], duration_ms=int((time.perf_counter() - started) * 1000),
                                   started_at=utcnow()))
    outgoing.claimed_at = None
    schedule = current_app.config["OUTBOUND_RETRY_SCHEDULE"]
    if outcome.result == "sent":
        mark_sent(tenant, outgoing)
    elif outcome.result == "deferred" and outgoing.attempts <= len(schedule):
        outgoing.status, outgoing.last_error = OutgoingStatus.QUEUED, outcome.response
        outgoing.next_attempt_at = utcnow() + timedelta(seconds=schedule[outgoing.attempts - 1])
    else:
        reason = "smtp_rejected" if outcome.result == "failed" else "retries_exhausted"
        mark_failed(tenant, outgoing, reason, outcome.response)
    db.session.commit()


def _after_batch(tenant: Tenant, mailbox: Mailbox | None) -> None:
    """More due now: go on at once. Deferred mail: come back when the first of it is due."""
    from app.outbound.outbox import kick

    next_due = db.session.scalar(select(func.min(OutgoingMail.next_attempt_at)).where(
        OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox), OutgoingMail.status == OutgoingStatus.QUEUED))
    db.session.commit()
    if next_due is not None:
        wait = (_aware(next_due) - utcnow()).total_seconds()
        kick(tenant.region, tenant.id, mailbox.id if mailbox else None, max(0, int(wait) + 1) if wait > 0 else 0)


def _aware(when):
    from datetime import UTC

    return when if when.tzinfo else when.replace(tzinfo=UTC)
