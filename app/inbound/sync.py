"""IMAP folder sync: every new message is stored raw and recorded before anything touches it on the server.

Order of events per chunk of UIDs: fetch (BODY.PEEK, so nothing is marked read) → blobs written and fsynced →
receipts and the folder cursor committed together → only then the after-fetch action (mark seen, move, delete).
A worker killed at any point re-fetches at most one chunk, and the receipts' unique key turns that into no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from imapclient import IMAPClient
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.inbound.blobs import BlobStore
from app.inbound.models import FolderCursor, Receipt
from app.mailboxes.models import AfterFetch, Mailbox
from tenants.models import utcnow

CHUNK = 200
FETCH_ITEMS = ["BODY.PEEK[]", "RFC822.SIZE"]


@dataclass
class FolderSync:
    folder: str
    uidvalidity: int = 0
    stored: int = 0
    duplicates: int = 0
    already_known: int = 0
    uidvalidity_reset: bool = False
    new_uids: list[int] = field(default_factory=list)
    receipt_ids: list[int] = field(default_factory=list)  # stored receipts, for the ingest jobs


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _cursor(mailbox: Mailbox, folder: str, uidvalidity: int) -> tuple[FolderCursor, bool, bool]:
    """The folder's cursor, whether UIDVALIDITY changed, and whether the folder is new to us."""
    cursor = db.session.scalar(select(FolderCursor).where(
        FolderCursor.tenant_id == mailbox.tenant_id, FolderCursor.mailbox_id == mailbox.id,
        FolderCursor.folder == folder))
    if cursor is None:
        cursor = FolderCursor(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, folder=folder,
                              uidvalidity=uidvalidity, last_uid=0)
        try:
            with db.session.begin_nested():  # a second sync (its lock expired) may create it at the same moment
                db.session.add(cursor)
        except IntegrityError:
            return _cursor(mailbox, folder, uidvalidity)
        return cursor, False, True
    if cursor.uidvalidity != uidvalidity:
        # The server renumbered the folder: read it all again; receipts' hashes keep this from doubling anything.
        cursor.uidvalidity, cursor.last_uid, cursor.highestmodseq = uidvalidity, 0, None
        return cursor, True, False
    return cursor, False, False


def _known_hash(mailbox: Mailbox, sha256: str) -> bool:
    return db.session.scalar(select(Receipt.id).where(
        Receipt.tenant_id == mailbox.tenant_id, Receipt.mailbox_id == mailbox.id, Receipt.sha256 == sha256)
        .limit(1)) is not None


def _record_chunk(mailbox: Mailbox, folder: str, uidvalidity: int, fetched: list[tuple[int, str, int]],
                  result: FolderSync) -> None:
    """Receipts for ``(uid, sha256, size)`` of one chunk: one look-up of known hashes, one insert.

    A receipt another worker (or an earlier, killed run) wrote already is skipped by the insert itself (the unique
    key decides, even under concurrency); mail whose bytes this mailbox has seen before is recorded as a duplicate.
    """
    hashes = {sha256 for _uid, sha256, _size in fetched}
    seen = set(db.session.scalars(select(Receipt.sha256).where(
        Receipt.tenant_id == mailbox.tenant_id, Receipt.mailbox_id == mailbox.id,
        Receipt.sha256.in_(hashes)))) if hashes else set()
    rows = []
    for uid, sha256, size in fetched:
        status = "duplicate" if sha256 in seen else "stored"
        seen.add(sha256)  # the same bytes twice in one chunk: the second is a duplicate of the first
        rows.append({"tenant_id": mailbox.tenant_id, "mailbox_id": mailbox.id, "folder": folder,
                     "uidvalidity": uidvalidity, "uid": uid, "sha256": sha256, "size": size, "status": status,
                     "received_at": utcnow(), "attempts": 0})
    inserted = _insert_new_receipts(rows)
    for row in rows:
        if row["uid"] not in inserted:
            result.already_known += 1
        elif row["status"] == "duplicate":
            result.duplicates += 1
        else:
            result.stored += 1
            result.new_uids.append(row["uid"])
            result.receipt_ids.append(inserted[row["uid"]])


def _insert_new_receipts(rows: list[dict]) -> dict[int, int]:
    """INSERT … ON CONFLICT (receipt key) DO NOTHING; returns ``{uid: receipt id}`` of the rows inserted."""
    if not rows:
        return {}
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (insert(Receipt.__table__).values(rows)
                 .on_conflict_do_nothing(index_elements=["tenant_id", "mailbox_id", "folder", "uidvalidity", "uid"])
                 .returning(Receipt.__table__.c.uid, Receipt.__table__.c.id))
    return {uid: receipt_id for uid, receipt_id in db.session.execute(statement)}


def hand_to_ingest(mailbox: Mailbox, receipt_ids: list[int]) -> None:
    """Start parsing while the sync goes on; if Redis is down the reconciler finds the receipts later."""
    if not receipt_ids:
        return
    from app.inbound.pipeline import enqueue_ingest
    from tenants.models import Tenant

    try:
        enqueue_ingest(db.session.get(Tenant, mailbox.tenant_id), receipt_ids)
    except RedisError:
        current_app.logger.warning("ingest not enqueued; the reconciler will pick it up",
                                   extra={"mailbox_id": mailbox.id, "receipts": len(receipt_ids)})


def _after_fetch(client: IMAPClient, mailbox: Mailbox, uids: list[int]) -> None:
    """Only for UIDs whose receipts are committed: the server copy may go now."""
    action = mailbox.after_fetch
    if action == AfterFetch.MARK_SEEN:
        client.add_flags(uids, [b"\\Seen"])
    elif action == AfterFetch.MOVE and mailbox.move_to_folder:
        client.move(uids, mailbox.move_to_folder)
    elif action == AfterFetch.DELETE:
        client.delete_messages(uids)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)  # only ours: never expunge what someone else flagged \\Deleted
        else:
            client.expunge()


def sync_folder(client: IMAPClient, mailbox: Mailbox, folder: str, store: BlobStore) -> FolderSync:
    """Fetch everything above the folder's cursor in chunks, storing each message before acting on it.

    A folder seen for the first time starts at ``mailbox.import_since`` when set (IMAP SEARCH SINCE, which compares
    the server's arrival date, not the sender's Date header); otherwise everything in it is imported.
    """
    info = client.select_folder(folder, readonly=mailbox.after_fetch == AfterFetch.KEEP)
    uidvalidity = int(info[b"UIDVALIDITY"])
    cursor, reset, new = _cursor(mailbox, folder, uidvalidity)
    result = FolderSync(folder=folder, uidvalidity=uidvalidity, uidvalidity_reset=reset)
    last_uid = cursor.last_uid
    starting_late = new and mailbox.import_since is not None
    uidnext = int(info.get(b"UIDNEXT", 0))
    if b"HIGHESTMODSEQ" in info:  # CONDSTORE: kept so later issues can sync flag changes cheaply
        cursor.highestmodseq = int(info[b"HIGHESTMODSEQ"])
    if starting_late:
        uids = sorted(client.search(["SINCE", mailbox.import_since.date()]))
    elif uidnext and uidnext - 1 <= last_uid and not reset:
        uids = []  # UIDs only grow: nothing arrived since the last sync, no SEARCH needed
    else:
        # "n:*" always matches the highest UID, even when it is below n: keep only really new ones.
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
    _fetch_and_store(client, mailbox, folder, uidvalidity, uids, store, result, cursor)
    if starting_late:  # what was there before import_since stays behind the cursor for good
        cursor.last_uid = max(cursor.last_uid, uidnext - 1)
    db.session.commit()  # a new cursor or a UIDVALIDITY reset is worth keeping even without mail
    return result


def backfill_folder(client: IMAPClient, mailbox: Mailbox, folder: str, store: BlobStore) -> FolderSync:
    """Import what arrived since ``mailbox.import_since`` *below* the cursor (older mail the sync skipped)."""
    info = client.select_folder(folder, readonly=True)
    uidvalidity = int(info[b"UIDVALIDITY"])
    result = FolderSync(folder=folder, uidvalidity=uidvalidity)
    cursor = db.session.scalar(select(FolderCursor).where(
        FolderCursor.tenant_id == mailbox.tenant_id, FolderCursor.mailbox_id == mailbox.id,
        FolderCursor.folder == folder, FolderCursor.uidvalidity == uidvalidity))
    if cursor is None or mailbox.import_since is None:
        return result  # never synced (the first sync honours import_since itself) or nothing asked for
    known = set(db.session.scalars(select(Receipt.uid).where(
        Receipt.tenant_id == mailbox.tenant_id, Receipt.mailbox_id == mailbox.id, Receipt.folder == folder,
        Receipt.uidvalidity == uidvalidity)))
    uids = sorted(uid for uid in client.search(["SINCE", mailbox.import_since.date()])
                  if uid <= cursor.last_uid and uid not in known)
    _fetch_and_store(client, mailbox, folder, uidvalidity, uids, store, result, None, act=False)
    return result


def _fetch_and_store(client: IMAPClient, mailbox: Mailbox, folder: str, uidvalidity: int, uids: list[int],
                     store: BlobStore, result: FolderSync, cursor: FolderCursor | None, *, act: bool = True) -> None:
    queued: list[int] = []
    for chunk in _chunks(uids, CHUNK):
        fetched = client.fetch(chunk, FETCH_ITEMS)
        # A UID missing from the answer was expunged by someone else between SEARCH and FETCH.
        raws = [(uid, fetched[uid][b"BODY[]"]) for uid in chunk if fetched.get(uid, {}).get(b"BODY[]") is not None]
        keys = store.put_many([raw for _uid, raw in raws])  # all on disk before their receipts exist
        _record_chunk(mailbox, folder, uidvalidity,
                      [(uid, key, len(raw)) for (uid, raw), key in zip(raws, keys, strict=True)], result)
        if cursor is not None:
            cursor.last_uid = max(cursor.last_uid, max(chunk))
        chunk_ids = result.receipt_ids[len(queued):]
        db.session.commit()  # receipts and cursor together: durable before the server is touched
        hand_to_ingest(mailbox, chunk_ids)
        queued += chunk_ids
        if act and mailbox.after_fetch != AfterFetch.KEEP and raws:
            _after_fetch(client, mailbox, [uid for uid, _raw in raws])  # only what has a receipt now
