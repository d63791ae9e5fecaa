"""Handing queued mail to SMTP: one connection per batch, an attempt row per try, retries with backoff.

A mailbox's delivery job claims its due rows (``queued`` and ``next_attempt_at`` passed) as ``sending`` and sends
them over up to ``OUTBOUND_CONNECTIONS`` SMTP sessions (the mailbox's own server with password or XOAUTH2, or the
region's relay; ``senders``), committing outcomes as they come: a worker that dies mid-batch leaves sent mail
recorded as sent, and the rest ``sending`` until the reconciler takes it back (``OUTBOUND_CLAIM_TIMEOUT``).

Outcomes: 2xx → sent. 4xx, a dropped connection, a timeout → deferred to the next slot of
``OUTBOUND_RETRY_SCHEDULE``, or failed once the schedule is used up. 5xx → failed at once. A failed mail gets an
internal note on its ticket and a notice to its author (``app.outbound.failures``).
"""

from __future__ import annotations

import queue
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, inspect, or_, select, text, update

from app import metrics
from app.bulk import among, insert_rows
from app.extensions import db
from app.mail.steps import Endpoint
from app.mailboxes.models import Mailbox
from app.outbound import senders
from app.outbound.models import DeliveryAttempt, OutgoingKind, OutgoingMail, OutgoingStatus
from app.outbound.senders import DONE, Attempted, Envelope, Outcome
from app.tickets.models import Message
from tenants.models import Tenant, utcnow

THROTTLE_WAIT = 15  # seconds
JOB_SECONDS = 60  # a delivery job claims more while it has run less than this; then the next job goes on
LOW_WATER = 100  # mails still on their way when the next batch is claimed


def deliver_mailbox(tenant_id: int, mailbox_id: int | None) -> dict[str, int]:
    """Send what is due for one mailbox (None: the tenant's system mail through the region's relay)."""
    tenant = db.session.get(Tenant, tenant_id)
    mailbox = db.session.get(Mailbox, mailbox_id) if mailbox_id else None
    ids = claim(tenant, mailbox)
    counts = {"sent": 0, "deferred": 0, "failed": 0}
    if ids:
        _send(tenant, mailbox, ids, counts)
        metrics.count_outbound(tenant.region, "sent", counts["sent"])  # per job: per commit would reload the tenant
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
        minute_ago = utcnow() - timedelta(minutes=1)
        last_minute = and_(OutgoingMail.status == OutgoingStatus.SENT, OutgoingMail.sent_at > minute_ago)
        recent = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(  # sent, or on its way
            OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox),
            or_(OutgoingMail.status == OutgoingStatus.SENDING, last_minute)))
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


def _send(tenant: Tenant, mailbox: Mailbox | None, ids: list[int], counts: dict[str, int]) -> None:
    """Send the claimed mails over a few parallel connections, and go on claiming while more is due (up to
    ``JOB_SECONDS``): the connections stay open from one batch to the next. Outcomes are recorded as they come, a
    group per commit."""
    try:
        endpoint = outbound_endpoint(tenant, mailbox)
    except Exception as error:  # an OAuth grant that cannot give a token, a mailbox that sends nothing
        refused = Outcome("deferred", None, f"no way to send: {error}"[:2000])
        _record(tenant, [Attempted(envelope, refused, "", 0) for envelope in _envelopes(ids)], counts)
        return
    pool = senders.Pool(endpoint, current_app.config["OUTBOUND_CONNECTIONS"])
    pool.submit(_envelopes(ids))
    outstanding, sent, ends = len(ids), [], time.monotonic() + JOB_SECONDS
    while outstanding:
        if outstanding <= LOW_WATER and time.monotonic() < ends and (more := claim(tenant, mailbox)):
            pool.submit(_envelopes(more))  # keep the connections busy: the next batch before this one ends
            outstanding += len(more)
        attempts = [item for item in _gather(pool.results) if item is not DONE]
        _record(tenant, attempts, counts)
        outstanding -= len(attempts)
        sent += [a.envelope.raw for a in attempts if a.outcome.result == "sent"]
    pool.close()
    if sent and mailbox is not None and mailbox.sent_folder:
        copy_to_sent(mailbox, sent)


def _envelopes(ids: list[int]) -> list[Envelope]:
    rows = db.session.scalars(select(OutgoingMail).where(OutgoingMail.id.in_(ids)).order_by(OutgoingMail.id))
    envelopes = [Envelope(row.id, row.mail_from, list(row.recipients), row.raw, row.attempts,
                          row.message_id if row.kind == OutgoingKind.REPLY else None) for row in rows]
    db.session.commit()
    return envelopes


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


def _gather(results: queue.Queue, most: int = 100, wait: float = 0.02) -> list:
    """The next outcomes: one, and whatever else arrives within ``wait`` seconds (one commit for a group)."""
    group = [results.get()]
    deadline = time.monotonic() + wait
    while len(group) < most:
        try:
            group.append(results.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            break
    return group


def _record(tenant: Tenant, attempts: list[Attempted], counts: dict[str, int]) -> None:
    """Each attempt in the communication log and its mail's new state, in one transaction: sent mail in three
    statements for the group, the rest (rare) one by one. PostgreSQL does not wait for the WAL flush: a database
    crash could lose the last moments' records, and those mails would be sent again (at least once), never lost."""
    if not attempts:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    tenant_id, now = inspect(tenant).identity[0], utcnow()  # no reload of the (expired) tenant per group
    insert_rows(DeliveryAttempt.__table__, [
        {"tenant_id": tenant_id, "outgoing_id": a.envelope.id, "number": a.envelope.attempts + 1,
         "outcome": a.outcome.result, "code": a.outcome.code, "response": a.outcome.response[:4000],
         "server": a.server[:255], "duration_ms": a.duration_ms, "started_at": now} for a in attempts])
    sent = [a.envelope for a in attempts if a.outcome.result == "sent"]
    if sent:
        db.session.execute(update(OutgoingMail).where(among(OutgoingMail.id, [e.id for e in sent])).values(
            status=OutgoingStatus.SENT, sent_at=now, attempts=OutgoingMail.attempts + 1, claimed_at=None,
            next_attempt_at=None, last_error=None).execution_options(synchronize_session=False))
        replies = [e.reply_message_id for e in sent if e.reply_message_id]
        if replies:
            db.session.execute(update(Message).where(among(Message.id, replies)).values(delivery_status="sent")
                               .execution_options(synchronize_session=False))
            _sent_events(tenant, replies)
        counts["sent"] += len(sent)
    for attempt in attempts:
        if attempt.outcome.result != "sent":
            _not_sent(tenant, db.session.get(OutgoingMail, attempt.envelope.id), attempt.outcome)
            counts[attempt.outcome.result] += 1
    db.session.commit()


def _sent_events(tenant: Tenant, message_ids: list[int]) -> None:
    from app.webhooks.payloads import message_event
    from app.webhooks.services import emit, subscribed

    if subscribed(tenant, "message.sent"):  # one look-up for the group; most tenants have no endpoint
        for message_id in message_ids:
            emit(tenant, "message.sent", lambda message_id=message_id: message_event(message_id))


def _not_sent(tenant: Tenant, outgoing: OutgoingMail, outcome: Outcome) -> None:
    """Deferred to the next slot of the schedule, or failed (5xx, or the schedule used up)."""
    from app.outbound.failures import mark_failed

    schedule = current_app.config["OUTBOUND_RETRY_SCHEDULE"]
    outgoing.attempts += 1
    outgoing.claimed_at = None
    if outcome.result == "deferred" and outgoing.attempts <= len(schedule):
        outgoing.status, outgoing.last_error = OutgoingStatus.QUEUED, outcome.response
        outgoing.next_attempt_at = utcnow() + timedelta(seconds=schedule[outgoing.attempts - 1])
        metrics.count_outbound(tenant.region, "deferred")
    else:
        reason = "smtp_rejected" if outcome.result == "failed" else "retries_exhausted"
        mark_failed(tenant, outgoing, reason, outcome.response)


def _after_batch(tenant: Tenant, mailbox: Mailbox | None) -> None:
    """More due now: go on at once. Deferred mail: come back when the first of it is due."""
    from app.outbound.outbox import kick

    next_due = db.session.scalar(select(func.min(OutgoingMail.next_attempt_at)).where(
        OutgoingMail.tenant_id == tenant.id, _same_mailbox(mailbox), OutgoingMail.status == OutgoingStatus.QUEUED))
    db.session.commit()
    if next_due is not None:
        wait = (next_due - utcnow()).total_seconds()  # aware: UTCDateTime
        kick(tenant.region, tenant.id, mailbox.id if mailbox else None, max(0, int(wait) + 1) if wait > 0 else 0)
