"""POP3 sync: every new message is stored raw and recorded before the server may delete it.

POP3 has no UIDs, flags or folders: a message is known by its UIDL string, kept on its receipt, and ``uid`` is a
63-bit number derived from it, so the receipts' unique key works as for IMAP (folder "POP3", uidvalidity 0).
Per chunk: RETR → blobs written and fsynced → receipts committed → only then DELE (after_fetch delete). The server
applies DELEs at QUIT only: a connection lost before it deletes nothing, and the next sync finds those messages
known -- and deletes them then, since their receipts exist.

``import_since``: POP3 cannot search by date, so the Date header of each unknown message is read with ``TOP n 0``
(headers only) and mail dated before ``import_since`` is neither imported nor deleted. A missing or unreadable Date,
or a server without TOP, imports the message: better a ticket too many than a lost one. UIDLs found too old are
remembered in Redis, keyed by ``import_since`` (moving it back re-examines them), to spare one TOP per old message
on every poll; losing that memory costs time, never mail.
"""

from __future__ import annotations

import hashlib
import poplib
from datetime import UTC
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db, get_redis
from app.inbound.blobs import BlobStore, blob_key
from app.inbound.models import Receipt, ReceiptStatus
from app.inbound.sync import FolderSync, _known_hash, hand_to_ingest
from app.mail.steps import MailError, StepResult, response_text
from app.mailboxes.models import AfterFetch, Mailbox

FOLDER = "POP3"
CHUNK = 50
READ_SIZE = 64 * 1024
OLD_TTL = 30 * 24 * 3600

Listing = list[tuple[int, str]]  # (message number in this session, UIDL)


def pop3_uid(uidl: str) -> int:
    """A stable number in 1 .. 2**63-1 for a UIDL: what the receipts' BIGINT ``uid`` can hold."""
    digest = hashlib.sha256(uidl.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63 - 1) + 1


def sync_pop3(client: poplib.POP3, mailbox: Mailbox, store: BlobStore) -> FolderSync:
    """Store every message whose UIDL has no receipt, DELE what is recorded (after_fetch delete), then QUIT.

    Raises ``MailError`` (category ``protocol_error``, step ``uidl``) when the server has no UIDL. If anything
    raises, the caller must close the connection *without* QUIT, so that the server deletes nothing.
    """
    result = FolderSync(folder=FOLDER)
    listing = _uidl(client)
    known = _known_uids(mailbox)
    delete = mailbox.after_fetch == AfterFetch.DELETE
    if delete:
        _dele(client, [n for n, uidl in listing if pop3_uid(uidl) in known])
    fresh = [(n, uidl) for n, uidl in listing if pop3_uid(uidl) not in known]
    since = _DateFilter(mailbox) if mailbox.import_since else None
    for chunk in (fresh[i:i + CHUNK] for i in range(0, len(fresh), CHUNK)):
        recorded = _store_chunk(client, mailbox, store, since.recent(client, chunk) if since else chunk, result)
        if delete:
            _dele(client, recorded)
    client.quit()
    return result


def _uidl(client: poplib.POP3) -> Listing:
    try:
        _response, lines, _octets = client.uidl()
    except poplib.error_proto as exc:
        if not _refused(exc):
            raise
        # Without UIDL nothing tells a new message from one fetched before: guessing would duplicate or lose mail.
        failed = StepResult("uidl", False, 0.0, category="protocol_error", server_response=response_text(exc),
                            detail={"reason": "the server does not support UIDL, which POP3 sync needs"})
        raise MailError(failed, [failed]) from exc
    pairs = (line.split(maxsplit=1) for line in lines)
    return [(int(number), uidl.strip().decode("latin-1")) for number, uidl in pairs]


def _known_uids(mailbox: Mailbox) -> set[int]:
    # The derived uid rather than the UIDL text: it is in the receipts' unique index, so even a mailbox with
    # hundreds of thousands of receipts is one index-only scan of 8-byte numbers.
    return set(db.session.scalars(select(Receipt.uid).where(
        Receipt.tenant_id == mailbox.tenant_id, Receipt.mailbox_id == mailbox.id, Receipt.folder == FOLDER,
        Receipt.uidvalidity == 0)))


def _store_chunk(client: poplib.POP3, mailbox: Mailbox, store: BlobStore, chunk: Listing,
                 result: FolderSync) -> list[int]:
    """RETR, store and record each message; commit; return the message numbers whose receipts this committed."""
    recorded = []
    already_queued = len(result.receipt_ids)
    for number, uidl in chunk:
        try:
            raw = _multiline(client, f"RETR {number}")
        except poplib.error_proto as exc:
            if not _refused(exc):
                raise
            continue  # deleted by another client since UIDL
        store.put(raw)
        if _record(mailbox, uidl, raw, result):
            recorded.append(number)
    db.session.commit()  # durable before any DELE of this chunk
    hand_to_ingest(mailbox, result.receipt_ids[already_queued:])
    return recorded


def _record(mailbox: Mailbox, uidl: str, raw: bytes, result: FolderSync) -> bool:
    sha256 = blob_key(raw)
    status = ReceiptStatus.DUPLICATE if _known_hash(mailbox, sha256) else ReceiptStatus.STORED
    receipt = Receipt(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, folder=FOLDER, uidvalidity=0,
                      uid=pop3_uid(uidl), uidl=uidl, sha256=sha256, size=len(raw), status=status)
    try:
        with db.session.begin_nested():  # a receipt another worker wrote is a no-op; a later sync deletes it
            db.session.add(receipt)
    except IntegrityError:
        result.already_known += 1
        return False
    if status == ReceiptStatus.DUPLICATE:
        result.duplicates += 1
    else:
        result.stored += 1
        result.new_uids.append(receipt.uid)
        result.receipt_ids.append(receipt.id)
    return True


def _dele(client: poplib.POP3, numbers: list[int]) -> None:
    for number in numbers:
        client.dele(number)


def _multiline(client: poplib.POP3, command: str) -> bytes:
    """A multi-line answer as the server sent it, dot-unstuffed. Not poplib's ``retr``: it refuses lines over
    2,048 bytes, which real mail has (long HTML lines), and it would drop the original line endings."""
    client._putcmd(command)
    client._getresp()  # -ERR raises error_proto
    parts, line_start = [], True
    while True:
        piece = client.file.readline(READ_SIZE)  # a longer line arrives in several pieces
        if not piece:
            raise poplib.error_proto("-ERR EOF")
        if line_start and piece in (b".\r\n", b".\n"):
            return b"".join(parts)
        if line_start and piece.startswith(b"."):
            piece = piece[1:]
        parts.append(piece)
        line_start = piece.endswith(b"\n")


def _refused(exc: poplib.error_proto) -> bool:
    """The server answered -ERR (the session goes on), as opposed to a dropped connection or garbage."""
    text = response_text(exc)
    return text.startswith("-ERR") and text != "-ERR EOF"


class _DateFilter:
    """``import_since`` by the Date header (see the module docstring), with the too-old UIDLs kept in Redis."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.since = mailbox.import_since  # aware UTC, as every timestamp column returns it
        self.key = f"pop3:old:{mailbox.id}:{int(self.since.timestamp())}"
        redis = get_redis()
        self.old = {member.decode() for member in redis.smembers(self.key)}
        redis.expire(self.key, OLD_TTL)

    def recent(self, client: poplib.POP3, chunk: Listing) -> Listing:
        found = [uidl for number, uidl in chunk if uidl not in self.old and self._older(client, number)]
        if found:
            get_redis().sadd(self.key, *found)
            get_redis().expire(self.key, OLD_TTL)
            self.old.update(found)
        return [(number, uidl) for number, uidl in chunk if uidl not in self.old]

    def _older(self, client: poplib.POP3, number: int) -> bool:
        try:
            head = _multiline(client, f"TOP {number} 0")
        except poplib.error_proto as exc:
            if not _refused(exc):
                raise
            return False  # no TOP (it is optional) or the message is gone: let RETR decide
        date = BytesHeaderParser(policy=compat32).parsebytes(head).get("Date")
        try:
            sent = parsedate_to_datetime(str(date)) if date else None
        except (TypeError, ValueError):
            sent = None
        if sent is not None and sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)  # "-0000": the zone is unknown (RFC 5322 3.3); UTC is the best guess
        return sent is not None and sent < self.since
