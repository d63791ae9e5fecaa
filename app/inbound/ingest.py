"""From a stored receipt to a ticket message, in one transaction per message.

A receipt is ``stored`` until this commits; then it is ``ingested`` (pointing at its message), ``duplicate`` (the
same mail is already a message of this tenant: same Message-ID from another mailbox, or the same bytes) or
``quarantined`` with a reason. A worker killed half-way leaves the receipt ``stored`` and the reconciler re-runs it;
the ``(tenant, dedupe_key)`` unique constraint turns a race between two workers into one message.

One transaction per message also keeps a tenant's ingest parallel: two workers' messages never hold each other's
locks for longer than one message. A batch routes against one snapshot of the tenant's aliases and rules.
"""

from __future__ import annotations

from collections import Counter

from flask import current_app
from sqlalchemy import select, text, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from app.extensions import db
from app.inbound.assemble import build_message
from app.inbound.blobs import store_for_region
from app.inbound.models import Receipt, ReceiptStatus
from app.inbound.screening import parse_limits, screen, sender_may_open_tickets
from app.mail.parse import parse_message
from app.mailboxes.models import Mailbox
from app.routing.services import routing_snapshot
from app.tickets.models import Message
from tenants.models import Tenant, utcnow
from tenants.regions import get_region


class Quarantined(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def ingest_receipts(receipt_ids: list[int]) -> dict[str, int]:
    """Ingest a batch; each message commits on its own so one bad mail never holds back the rest."""
    if not receipt_ids:
        return {}
    # Counted and committed first: a receipt whose every attempt kills the worker is found by its count.
    db.session.execute(update(Receipt).where(Receipt.id.in_(receipt_ids), Receipt.status == ReceiptStatus.STORED)
                       .values(attempts=Receipt.attempts + 1).execution_options(synchronize_session=False))
    db.session.commit()
    with routing_snapshot():
        outcomes: Counter[str] = Counter(ingest_one(receipt_id) for receipt_id in receipt_ids)
    return dict(outcomes)


def ingest_one(receipt_id: int, *, accept: bool = False) -> str:
    """``accept``: an admin released it from quarantine, so sender policies (DMARC, allowed domains) are waived."""
    receipt = db.session.get(Receipt, receipt_id)
    if receipt is None or receipt.status != ReceiptStatus.STORED:
        return "skipped"
    try:
        _commit_asynchronously()
        outcome = _process(receipt, accept)
        if not _claim(receipt_id):
            db.session.rollback()
            return "skipped"
        db.session.commit()
        return outcome
    except Quarantined as held:
        db.session.rollback()
        return quarantine(receipt_id, held.reason, held.detail)
    except IntegrityError:
        db.session.rollback()
        return _lost_race(receipt_id)
    except DataError as error:  # a value of this mail the database refuses: the mail's problem, not the database's
        db.session.rollback()
        return quarantine(receipt_id, "processing_error", f"{type(error.orig).__name__}: {error.orig}"[:500])
    except DBAPIError:
        db.session.rollback()
        raise  # the database is unwell, not the mail: fail the job, the reconciler brings the receipt back
    except Exception as error:  # a bug on odd mail must not sink the batch: quarantine it, visibly, replayable
        db.session.rollback()
        current_app.logger.exception("ingest failed", extra={"receipt_id": receipt_id})
        return quarantine(receipt_id, "processing_error", f"{type(error).__name__}: {error}"[:500])


def _commit_asynchronously() -> None:
    """PostgreSQL: do not wait for the WAL flush of this transaction.

    Safe here, and only here: the raw mail and its receipt were committed synchronously by the sync. A crash that
    loses this commit loses it whole (the message rows *and* the receipt's new status), so the receipt is ``stored``
    again and the reconciler ingests it once more: nothing lost, nothing doubled.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def quarantine(receipt_id: int, reason: str, detail: str | None) -> str:
    if not _claim(receipt_id):
        db.session.rollback()
        return "skipped"
    receipt = db.session.get(Receipt, receipt_id)
    receipt.status = ReceiptStatus.QUARANTINED
    receipt.quarantine_reason = reason[:40]
    receipt.quarantine_detail = (detail or "")[:500]
    receipt.processed_at = utcnow()
    db.session.commit()
    current_app.logger.warning("message quarantined", extra={"receipt_id": receipt_id, "reason": reason})
    return "quarantined"


def _lost_race(receipt_id: int) -> str:
    """Another worker committed the same mail a moment ago: this receipt is its duplicate."""
    receipt = db.session.get(Receipt, receipt_id)
    if receipt.status != ReceiptStatus.STORED or not _claim(receipt_id):
        db.session.rollback()
        return "skipped"
    tenant = db.session.get(Tenant, receipt.tenant_id)
    raw = store_for_region(get_region(tenant.region)).get(receipt.sha256)
    parsed = parse_message(raw, limits=parse_limits(tenant))
    existing = _existing_message(receipt.tenant_id, dedupe_key(parsed.message_id, receipt.sha256))
    if existing is None:
        raise RuntimeError("unique constraint hit without an existing message")  # the job fails; reconciler retries
    _mark_duplicate(receipt, existing)
    db.session.commit()
    return "duplicate"


def _claim(receipt_id: int) -> bool:
    """Lock the receipt if it is still ``stored``, just before its outcome is committed. Two workers may run the same
    receipt (the reconciler re-enqueues slow ones): the second finds it decided and must not overwrite that."""
    with db.session.no_autoflush:  # the receipt's own pending status change must not satisfy the check
        claimed = db.session.execute(
            update(Receipt).where(Receipt.id == receipt_id, Receipt.status == ReceiptStatus.STORED)
            .values(attempts=Receipt.attempts).execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def dedupe_key(message_id: str | None, sha256: str) -> str:
    return message_id[:255] if message_id else f"sha256:{sha256}"


def _existing_message(tenant_id: int, key: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.tenant_id == tenant_id, Message.dedupe_key == key))


def _mark_duplicate(receipt: Receipt, existing: Message) -> None:
    receipt.status = ReceiptStatus.DUPLICATE
    receipt.message_id = existing.id
    receipt.processed_at = utcnow()


def _process(receipt: Receipt, accept: bool) -> str:
    tenant = db.session.get(Tenant, receipt.tenant_id)
    mailbox = db.session.get(Mailbox, receipt.mailbox_id)
    store = store_for_region(get_region(tenant.region))
    raw = store.get(receipt.sha256)
    parsed = parse_message(raw, limits=parse_limits(tenant))
    if not parsed.ok:
        raise Quarantined(parsed.quarantine_reason or "parser_error", parsed.quarantine_detail or "")
    key = dedupe_key(parsed.message_id, receipt.sha256)
    existing = _existing_message(tenant.id, key)
    if existing is not None:
        _mark_duplicate(receipt, existing)
        return "duplicate"
    screening = screen(tenant, raw, parsed)
    if screening.dmarc_failed and tenant.dmarc_policy == "quarantine" and not accept:
        raise Quarantined("dmarc_failed", _auth_summary(screening.authenticity))
    message = build_message(tenant, mailbox, receipt, parsed, screening, store, dedupe_key=key,
                            may_open=accept or sender_may_open_tickets(tenant, parsed.from_[1]))
    if message is None:
        raise Quarantined("sender_not_allowed", parsed.from_[1][:200])
    receipt.status = ReceiptStatus.INGESTED
    receipt.message_id = message.id
    receipt.processed_at = utcnow()
    return "ingested"


def _auth_summary(result: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(result.items()))
