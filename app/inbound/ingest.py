"""From stored receipts to ticket messages: a batch in one transaction, one message at a time when that fails.

A receipt is ``stored`` until this commits; then it is ``ingested`` (pointing at its message), ``duplicate`` (the
same mail is already a message of this tenant: same Message-ID from another mailbox, or the same bytes) or
``quarantined`` with a reason. A worker killed half-way leaves the receipts ``stored`` and the reconciler re-runs
them; the ``(tenant, dedupe_key)`` unique constraint turns a race between two workers into one message.

A batch is parsed and screened first, with no lock held (that is most of the work, and two workers do it in
parallel). Then the tenant's ticket counter is locked (``TicketNumbers``), so writers of one tenant take turns: each
reads what it can thread onto, the requesters and the sender counts in a few queries, builds the messages in memory,
and writes them in one flush. Anything unexpected (a value the database refuses, a race on a Message-ID, a bug on
odd mail) rolls the batch back and runs its receipts one by one, where each failure is that receipt's alone.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from app import metrics
from app.bulk import among
from app.extensions import db
from app.inbound.assemble import bounce_original, build_message
from app.inbound.batch import Batch, NewMessage
from app.inbound.blobs import store_for_region
from app.inbound.models import Receipt, ReceiptStatus
from app.inbound.screening import Screening, SenderRates, parse_limits, screen, sender_may_open_tickets
from app.mail.parse import Parsed, parse_message
from app.outbound.inbound_notices import queue_for_batch
from app.routing.services import routing_snapshot
from app.tickets.models import Message
from app.tickets.services import Contacts, TicketNumbers
from app.tickets.threading import ThreadLookups
from tenants.models import Tenant, utcnow
from tenants.regions import get_region

MAX_BATCH_BYTES = 32 * 2**20  # raw mail parsed and held in memory at once (a batch may hold 20 MB attachments)


class Quarantined(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


class LostClaim(Exception):
    """Another worker decided one of the batch's receipts while this one worked on it."""


@dataclass
class Prepared:
    """A receipt parsed and screened, before any lock is taken."""

    receipt: Receipt
    parsed: Parsed | None = None
    screening: Screening | None = None
    key: str = ""
    may_open: bool = True
    held: Quarantined | None = None


def ingest_receipts(receipt_ids: list[int], *, accept: bool = False) -> dict[str, int]:
    """Ingest a batch (in groups that fit in memory); returns how many receipts ended how."""
    if not receipt_ids:
        return {}
    # Counted and committed first: a receipt whose every attempt kills the worker is found by its count.
    db.session.execute(update(Receipt).where(among(Receipt.id, receipt_ids), Receipt.status == ReceiptStatus.STORED)
                       .values(attempts=Receipt.attempts + 1).execution_options(synchronize_session=False))
    db.session.commit()
    outcomes: Counter[str] = Counter()
    with routing_snapshot():
        for group in _groups(receipt_ids):
            outcomes.update(_ingest_group(group, accept))
    return dict(outcomes)


def _groups(receipt_ids: list[int]) -> list[list[int]]:
    sizes = dict(db.session.execute(select(Receipt.id, Receipt.size).where(among(Receipt.id, receipt_ids))).all())
    groups: list[list[int]] = [[]]
    held = 0
    for receipt_id in sorted(receipt_ids):
        size = sizes.get(receipt_id, 0)
        if groups[-1] and held + size > MAX_BATCH_BYTES:
            groups.append([])
            held = 0
        groups[-1].append(receipt_id)
        held += size
    return [group for group in groups if group]


def _ingest_group(receipt_ids: list[int], accept: bool) -> Counter[str]:
    if len(receipt_ids) == 1:
        return Counter([ingest_one(receipt_ids[0], accept=accept)])
    try:
        return Counter(_ingest(receipt_ids, accept).values())
    except Exception as error:  # every receipt gets its own chance (and its own failure) below
        db.session.rollback()
        current_app.logger.warning("batch ingest fell back to one at a time",
                                   extra={"receipts": len(receipt_ids), "error": f"{type(error).__name__}: {error}"})
        return Counter(ingest_one(receipt_id, accept=accept) for receipt_id in receipt_ids)


def ingest_one(receipt_id: int, *, accept: bool = False) -> str:
    """``accept``: an admin released it from quarantine, so sender policies (DMARC, allowed domains) are waived."""
    try:
        return _ingest([receipt_id], accept)[receipt_id]
    except (IntegrityError, LostClaim):
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


def _ingest(receipt_ids: list[int], accept: bool) -> dict[int, str]:
    """One transaction for ``receipt_ids`` (all of one tenant); raises on anything that is not the mail's fault."""
    outcomes = dict.fromkeys(receipt_ids, "skipped")
    receipts = list(db.session.scalars(select(Receipt).where(
        among(Receipt.id, receipt_ids), Receipt.status == ReceiptStatus.STORED).order_by(Receipt.id)))
    if not receipts:
        db.session.rollback()
        return outcomes
    if len({receipt.tenant_id for receipt in receipts}) > 1:
        raise ValueError("a batch of several tenants' receipts")
    tenant = db.session.get(Tenant, receipts[0].tenant_id)
    region = tenant.region  # read now: the commit below expires the tenant
    store = store_for_region(get_region(region))
    clock = _Clock()
    prepared = [_prepare(tenant, receipt, store, accept) for receipt in receipts]
    clock.lap("parse_ms")
    _commit_asynchronously()
    batch = _read_batch(tenant, store, prepared)  # locks the tenant's ticket counter until the commit
    clock.lap("lock_and_read_ms")
    messages = _decide(batch, prepared, outcomes)
    clock.lap("decide_ms")
    batch.write()
    queue_for_batch(batch)
    if not _record(prepared, messages, outcomes):
        raise LostClaim()
    held = [(item.receipt.id, item.held.reason) for item in prepared if item.held is not None]
    db.session.commit()
    clock.lap("write_ms")
    metrics.observe_ingest(region, outcomes.values(), [reason for _id, reason in held], clock.seconds)
    for receipt_id, reason in held:
        current_app.logger.warning("message quarantined", extra={"receipt_id": receipt_id, "reason": reason})
    current_app.logger.info("ingest batch", extra={"receipts": len(receipts), **clock.laps})
    return outcomes


class _Clock:
    """Where a batch's time went (logged: the lock wait of concurrent workers shows in ``lock_and_read_ms``)."""

    def __init__(self) -> None:
        self.laps: dict[str, int] = {}
        self._started = self._last = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self._last - self._started

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000)
        self._last = now


def _prepare(tenant: Tenant, receipt: Receipt, store, accept: bool) -> Prepared:
    item = Prepared(receipt)
    accept = accept or receipt.accepted
    raw = store.get(receipt.sha256)
    item.parsed = parse_message(raw, limits=parse_limits(tenant))
    if not item.parsed.ok:
        item.held = Quarantined(item.parsed.quarantine_reason or "parser_error", item.parsed.quarantine_detail or "")
        return item
    item.key = dedupe_key(item.parsed.message_id, receipt.sha256)
    item.screening = screen(tenant, raw, item.parsed)
    if item.screening.dmarc_failed and tenant.dmarc_policy == "quarantine" and not accept:
        item.held = Quarantined("dmarc_failed", _auth_summary(item.screening.authenticity))
    item.may_open = accept or sender_may_open_tickets(tenant, item.parsed.from_[1])
    return item


def _read_batch(tenant: Tenant, store, prepared: list[Prepared]) -> Batch:
    numbers = TicketNumbers(tenant)  # first: what follows must see the commits of the writer before us
    ready = [item for item in prepared if item.held is None]
    names = {item.parsed.from_[1].lower()[:254]: item.parsed.from_[0] for item in reversed(ready)
             if item.parsed.from_[1]}
    contacts = Contacts(tenant)
    contacts.load(names, create={item.parsed.from_[1].lower()[:254] for item in ready
                                 if item.may_open and item.parsed.from_[1]})
    originals = [original for item in ready if (original := bounce_original(item.screening))]
    return Batch(tenant, store, numbers, ThreadLookups.prefetch(tenant, [item.parsed for item in ready], originals),
                 contacts, SenderRates(tenant, set(names)))


def _decide(batch: Batch, prepared: list[Prepared], outcomes: dict[int, str]) -> dict[int, NewMessage | int]:
    """Each receipt's outcome; returns receipt id → the message it is (or duplicates) once flushed."""
    known = _existing_messages(batch.tenant.id, [item.key for item in prepared if item.held is None])
    messages: dict[int, NewMessage | int] = {}
    by_key: dict[str, NewMessage | int] = dict(known)
    with db.session.no_autoflush:
        for item in prepared:
            receipt_id = item.receipt.id
            if item.held is not None:
                outcomes[receipt_id] = "quarantined"
            elif item.key in by_key:
                messages[receipt_id], outcomes[receipt_id] = by_key[item.key], "duplicate"
            else:
                message = build_message(batch, batch.mailbox(item.receipt.mailbox_id), item.receipt,
                                        item.parsed, item.screening, dedupe_key=item.key, may_open=item.may_open)
                if message is None:
                    item.held = Quarantined("sender_not_allowed", item.parsed.from_[1][:200])
                    outcomes[receipt_id] = "quarantined"
                else:
                    messages[receipt_id] = by_key[item.key] = message
                    outcomes[receipt_id] = "ingested"
    return messages


def _record(prepared: list[Prepared], messages: dict, outcomes: dict[int, str]) -> bool:
    """Every receipt's outcome (after the messages were written, so they have their ids), if all of them are still
    ``stored``: whether they were (else another worker decided one meanwhile, and the caller rolls back)."""
    rows = []
    for item in prepared:
        outcome, message = outcomes[item.receipt.id], messages.get(item.receipt.id)
        rows.append({
            "r_id": item.receipt.id, "r_status": _STATUS[outcome],
            "r_message": message if isinstance(message, int) or message is None else message.id,
            "r_reason": item.held.reason[:40] if item.held else None,
            "r_detail": (item.held.detail or "")[:500] if item.held else None})
    if db.session.get_bind().dialect.name == "postgresql":
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        decided = db.session.execute(_DECIDE, {**columns, "now": utcnow()}).scalars().all()
        return len(decided) == len(rows)
    if not _claim([row["r_id"] for row in rows]):
        return False
    table = Receipt.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("r_id")).values(
        status=bindparam("r_status"), message_id=bindparam("r_message"), quarantine_reason=bindparam("r_reason"),
        quarantine_detail=bindparam("r_detail"), processed_at=utcnow()), rows)
    return True


# PostgreSQL: claim and record in one statement (one new row version per receipt, not two).
_DECIDE = text("""
    UPDATE receipts SET status = v.status, message_id = v.message_id, quarantine_reason = v.reason,
                        quarantine_detail = v.detail, processed_at = :now
    FROM unnest(CAST(:r_id AS INTEGER[]), CAST(:r_status AS VARCHAR[]), CAST(:r_message AS INTEGER[]),
                CAST(:r_reason AS VARCHAR[]), CAST(:r_detail AS VARCHAR[]))
         AS v (id, status, message_id, reason, detail)
    WHERE receipts.id = v.id AND receipts.status = 'stored'
    RETURNING receipts.id
""").bindparams(bindparam("now", type_=Receipt.__table__.c.processed_at.type))


_STATUS = {"ingested": ReceiptStatus.INGESTED, "duplicate": ReceiptStatus.DUPLICATE,
           "quarantined": ReceiptStatus.QUARANTINED}


def _commit_asynchronously() -> None:
    """PostgreSQL: do not wait for the WAL flush of this transaction.

    Safe here, and only here: the raw mail and its receipt were committed synchronously by the sync. A crash that
    loses this commit loses it whole (the message rows *and* the receipt's new status), so the receipt is ``stored``
    again and the reconciler ingests it once more: nothing lost, nothing doubled.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def quarantine(receipt_id: int, reason: str, detail: str | None) -> str:
    if not _claim([receipt_id]):
        db.session.rollback()
        return "skipped"
    receipt = db.session.get(Receipt, receipt_id)
    region = db.session.get(Tenant, receipt.tenant_id).region
    receipt.status = ReceiptStatus.QUARANTINED
    receipt.quarantine_reason = reason[:40]
    receipt.quarantine_detail = (detail or "")[:500]
    receipt.processed_at = utcnow()
    db.session.commit()
    metrics.count_quarantined(region, reason)
    current_app.logger.warning("message quarantined", extra={"receipt_id": receipt_id, "reason": reason})
    return "quarantined"


def _lost_race(receipt_id: int) -> str:
    """Another worker committed the same mail a moment ago: this receipt is its duplicate."""
    receipt = db.session.get(Receipt, receipt_id)
    if receipt.status != ReceiptStatus.STORED or not _claim([receipt_id]):
        db.session.rollback()
        return "skipped"
    tenant = db.session.get(Tenant, receipt.tenant_id)
    raw = store_for_region(get_region(tenant.region)).get(receipt.sha256)
    parsed = parse_message(raw, limits=parse_limits(tenant))
    existing = _existing_message(receipt.tenant_id, dedupe_key(parsed.message_id, receipt.sha256))
    if existing is None:
        raise RuntimeError("unique constraint hit without an existing message")  # the job fails; reconciler retries
    _mark_duplicate(receipt, existing)
    region = tenant.region
    db.session.commit()
    metrics.count_duplicate(region)
    return "duplicate"


def _claim(receipt_ids: list[int]) -> bool:
    """Lock the receipts if they are all still ``stored``, just before their outcomes are committed. Two workers may
    run the same receipt (the reconciler re-enqueues slow ones): the second finds it decided and must not overwrite
    that."""
    with db.session.no_autoflush:  # the receipts' own pending status changes must not satisfy the check
        claimed = db.session.execute(
            update(Receipt).where(among(Receipt.id, receipt_ids), Receipt.status == ReceiptStatus.STORED)
            .values(attempts=Receipt.attempts).execution_options(synchronize_session=False))
    return claimed.rowcount == len(receipt_ids)


def dedupe_key(message_id: str | None, sha256: str) -> str:
    return message_id[:255] if message_id else f"sha256:{sha256}"


def _existing_message(tenant_id: int, key: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.tenant_id == tenant_id, Message.dedupe_key == key))


def _existing_messages(tenant_id: int, keys: list[str]) -> dict[str, int]:
    """dedupe key → message id, for the keys already taken."""
    if not keys:
        return {}
    return dict(db.session.execute(select(Message.dedupe_key, Message.id).where(
        Message.tenant_id == tenant_id, among(Message.dedupe_key, keys))).all())


def _mark_duplicate(receipt: Receipt, existing: Message) -> None:
    receipt.status = ReceiptStatus.DUPLICATE
    receipt.message_id = existing.id
    receipt.processed_at = utcnow()


def _auth_summary(result: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(result.items()))
