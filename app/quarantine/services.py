"""The quarantine page's verbs: list the mail held back, show what it is, hand out the original, replay it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import func, select

from app.audit.services import record
from app.extensions import db
from app.inbound.blobs import store_for_region
from app.inbound.models import Receipt, ReceiptStatus
from app.inbound.pipeline import replay
from app.mail.parse_decode import header_text
from app.mailboxes.models import Mailbox
from app.quarantine.reasons import acceptable
from app.tickets.queries import quarantine_query, quarantined_ids
from tenants.models import Tenant
from tenants.regions import get_region

PER_PAGE = 50
KEY_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")
HEADER_LABELS = {"From": lazy_pgettext("mail header", "From"), "To": _l("To"), "Subject": _l("Subject"),
                 "Date": _l("Date"), "Message-ID": _l("Message-ID")}
# Only the start of the raw is read for its headers: enough for any header block a mail server accepts, and a
# held 50 MB message costs no more than a small one.
HEADER_SCAN_BYTES = 256 * 1024
MAX_HEADER_DISPLAY = 998
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class HeldMail:
    receipt: Receipt
    mailbox: Mailbox | None


def held_page(tenant: Tenant, *, reason: str | None = None, mailbox_id: int | None = None,
              page: int = 1) -> tuple[list[HeldMail], bool]:
    """One page of held mail, newest first, and whether an older page follows."""
    query = quarantine_query(tenant, reason=reason, mailbox_id=mailbox_id)
    rows = list(db.session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    mailboxes = _mailboxes(tenant, {r.mailbox_id for r in rows})
    return [HeldMail(r, mailboxes.get(r.mailbox_id)) for r in rows[:PER_PAGE]], len(rows) > PER_PAGE


def _mailboxes(tenant: Tenant, ids: set[int]) -> dict[int, Mailbox]:
    if not ids:
        return {}
    return {m.id: m for m in db.session.scalars(Mailbox.all(tenant).where(Mailbox.id.in_(ids)))}


def counts_by_reason(tenant: Tenant) -> list[tuple[str, int]]:
    """``[(reason, held)]`` for every reason something is held for, most frequent first."""
    query = (select(Receipt.quarantine_reason, func.count(Receipt.id))
             .where(Receipt.tenant_id == tenant.id, Receipt.status == ReceiptStatus.QUARANTINED)
             .group_by(Receipt.quarantine_reason).order_by(func.count(Receipt.id).desc(), Receipt.quarantine_reason))
    return [(reason or "", count) for reason, count in db.session.execute(query)]


def held_count(tenant: Tenant) -> int:
    return db.session.scalar(select(func.count(Receipt.id)).where(
        Receipt.tenant_id == tenant.id, Receipt.status == ReceiptStatus.QUARANTINED)) or 0


def held_mail(tenant: Tenant, receipt_id: int) -> HeldMail:
    """A held receipt of ``tenant`` with its mailbox; 404 for another tenant's, or one no longer held."""
    receipt = Receipt.get_by_id_and_tenant(receipt_id, tenant)
    if receipt.status != ReceiptStatus.QUARANTINED:
        abort(404)
    return HeldMail(receipt, _mailboxes(tenant, {receipt.mailbox_id}).get(receipt.mailbox_id))


def original(tenant: Tenant, receipt: Receipt) -> bytes:
    """The raw mail exactly as it was fetched."""
    return store_for_region(get_region(tenant.region)).get(receipt.sha256)


def key_headers(raw: bytes) -> list[tuple[str, str | None]]:
    """From, To, Subject, Date and Message-ID as display text (``None`` when absent).

    Only the header block is parsed, with the stdlib's lenient header parser: held mail is often broken, and its
    body is never needed here.
    """
    try:
        items = BytesHeaderParser(policy=compat32).parsebytes(raw[:HEADER_SCAN_BYTES]).raw_items()
        first: dict[str, object] = {}
        for name, value in items:
            first.setdefault(name.strip().lower(), value)
        return [(name, _display(first.get(name.lower()), name)) for name in KEY_HEADERS]
    except Exception:  # a header block the stdlib cannot read at all: show nothing rather than fail the page
        return [(name, None) for name in KEY_HEADERS]


def _display(value: object, name: str) -> str | None:
    if value is None:
        return None
    text = header_text(value, [], name)
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)[:MAX_HEADER_DISPLAY]


def replay_one(tenant: Tenant, receipt: Receipt) -> int:
    return len(replay(tenant, [receipt.id]))


def accept_one(tenant: Tenant, receipt: Receipt) -> int:
    """Ingest a mail held by a sender policy (DMARC, allowed domains) anyway; the waiver goes to the audit log."""
    if not acceptable(receipt.quarantine_reason):
        abort(404)
    record(tenant, "quarantine.accepted", object_type="receipt", object_id=receipt.id,
           label=receipt.quarantine_detail or "", changes={"reason": [receipt.quarantine_reason, None]})
    return len(replay(tenant, [receipt.id], accept=True))  # commits the audit event with the release


def replay_selected(tenant: Tenant, ids: list[int]) -> int:
    if not ids:
        return 0
    return len(replay(tenant, quarantined_ids(tenant, ids=ids[:1000])))


def replay_reason(tenant: Tenant, reason: str) -> int:
    """Replay everything held for ``reason`` (never "everything": an empty reason replays nothing)."""
    if not reason:
        return 0
    return len(replay(tenant, quarantined_ids(tenant, reason=reason)))
