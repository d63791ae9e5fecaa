"""IMAP sync against the real Dovecot: stored raw and recorded before anything else, exactly once."""

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.connections.models import ConnectionLog
from app.inbound.blobs import FileBlobStore, blob_key
from app.inbound.models import FolderCursor, Receipt
from app.inbound.services import SyncSkipped, sync_mailbox
from app.mailboxes.models import MailboxStatus
from app.mailboxes.services import create_mailbox, pause_mailbox
from tenants.regions import get_region


def _mail(n: int, subject: str = "Printer jam") -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = f"user{n}@customer.test", "support@acme.test"
    message["Subject"], message["Message-ID"] = f"{subject} #{n}", f"<m{n}-{subject.replace(' ', '')}@customer.test>"
    message.set_content(f"Hello, message number {n}.")
    return bytes(message)


@pytest.fixture
def imap_mailbox(db, create_tenant, dovecot, mail_user, mail_ca):
    tenant = create_tenant("acme")

    def make(**settings):
        return create_mailbox(tenant, {
            "name": "Support", "address": "support@acme.test", "inbound_host": dovecot.host,
            "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
            "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none",
            **settings})

    return make


def _receipts(db) -> list[Receipt]:
    return list(db.session.scalars(select(Receipt).order_by(Receipt.uid)))


def test_new_mail_is_stored_raw_once_and_the_cursor_moves(app, db, imap_mailbox, dovecot, mail_user):
    mailbox = imap_mailbox()
    raws = [_mail(n) for n in range(3)]
    for raw in raws:
        dovecot.append(mail_user.email, raw)
    (first,) = sync_mailbox(mailbox)
    assert (first.stored, first.duplicates) == (3, 0)
    store = FileBlobStore(get_region("default").blob_root)
    receipts = _receipts(db)
    on_the_wire = [raw.replace(b"\n", b"\r\n") for raw in raws]  # IMAP speaks CRLF; the blob is what it said
    assert [r.sha256 for r in receipts] == [blob_key(raw) for raw in on_the_wire]
    assert all(store.get(r.sha256) == raw for r, raw in zip(receipts, on_the_wire, strict=True))
    cursor = db.session.scalar(select(FolderCursor))
    assert cursor.last_uid == receipts[-1].uid and cursor.uidvalidity == receipts[0].uidvalidity
    assert cursor.highestmodseq and cursor.highestmodseq > 0  # Dovecot offers CONDSTORE

    (again,) = sync_mailbox(mailbox)  # nothing new: nothing stored, nothing doubled
    assert (again.stored, again.already_known) == (0, 0)
    dovecot.append(mail_user.email, _mail(3))
    (later,) = sync_mailbox(mailbox)
    assert later.stored == 1 and len(_receipts(db)) == 4
    assert db.session.scalar(select(func.count()).where(ConnectionLog.kind == "sync", ConnectionLog.ok)) == 3


def test_keep_leaves_the_server_untouched_and_mark_seen_marks_after_storing(app, db, imap_mailbox, dovecot,
                                                                            mail_user):
    from imapclient import IMAPClient

    mailbox = imap_mailbox(after_fetch="mark_seen")
    dovecot.append(mail_user.email, _mail(1))
    sync_mailbox(mailbox)
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as client:
        client.login(mail_user.email, mail_user.password)
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert all(b"\\Seen" in f for f in flags.values()) and len(_receipts(db)) == 1


def test_a_crash_before_commit_refetches_without_doubling(app, db, imap_mailbox, dovecot, mail_user, monkeypatch):
    import app.inbound.sync as sync

    mailbox = imap_mailbox()
    for n in range(5):
        dovecot.append(mail_user.email, _mail(n))
    monkeypatch.setattr(sync, "CHUNK", 2)
    commits = {"n": 0}
    real_commit = db.session.commit

    def dying_commit():
        commits["n"] += 1
        if commits["n"] == 2:  # the worker dies after the first chunk was committed, before the second
            db.session.rollback()
            raise SystemExit("killed")
        real_commit()

    monkeypatch.setattr(db.session, "commit", dying_commit)
    with pytest.raises(SystemExit):
        sync_mailbox(mailbox)
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert len(_receipts(db)) == 2
    from app.extensions import get_redis

    get_redis().delete(f"sync:mailbox:{mailbox.id}")  # a killed worker's lock would expire; don't wait for it
    (resumed,) = sync_mailbox(mailbox)
    assert resumed.stored == 3
    receipts = _receipts(db)
    assert len(receipts) == 5 and len({r.uid for r in receipts}) == 5


def test_uidvalidity_reset_resyncs_without_duplicating(app, db, imap_mailbox, dovecot, mail_user):
    dovecot.create_folder(mail_user.email, "Support")
    mailbox = imap_mailbox(folders=["Support"])
    raws = [_mail(n, "Reset") for n in range(2)]
    for raw in raws:
        dovecot.append(mail_user.email, raw, folder="Support")
    (first,) = sync_mailbox(mailbox)
    from imapclient import IMAPClient

    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as client:  # the server renumbers the folder
        client.login(mail_user.email, mail_user.password)
        client.delete_folder("Support")
        client.create_folder("Support")
    for raw in raws:
        dovecot.append(mail_user.email, raw, folder="Support")
    (second,) = sync_mailbox(mailbox)
    assert second.uidvalidity_reset and second.uidvalidity != first.uidvalidity
    assert (second.stored, second.duplicates) == (0, 2)  # recorded, and recognized as the same mail
    statuses = [r.status for r in _receipts(db)]
    assert statuses.count("stored") == 2 and statuses.count("duplicate") == 2


def test_paused_mailboxes_and_concurrent_syncs_are_skipped(app, db, imap_mailbox):
    from app.extensions import get_redis

    mailbox = imap_mailbox()
    lock = get_redis().lock(f"sync:mailbox:{mailbox.id}", timeout=30)
    assert lock.acquire()
    try:
        with pytest.raises(SyncSkipped, match="another sync"):
            sync_mailbox(mailbox)
    finally:
        lock.release()
    pause_mailbox(mailbox)
    assert mailbox.status is MailboxStatus.PAUSED
    with pytest.raises(SyncSkipped, match="paused"):
        sync_mailbox(mailbox)


def test_sync_now_through_the_api_and_the_worker(app, client, db, imap_mailbox, dovecot, mail_user, api_token,
                                                 create_tenant, run_jobs):
    mailbox = imap_mailbox()
    dovecot.append(mail_user.email, _mail(7))
    headers = api_token(_tenant(db, mailbox))
    response = client.post(f"/api/v1/mailboxes/{mailbox.id}/sync", headers=headers)
    assert response.status_code == 202
    job_id = response.json["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).json["status"] == "queued"
    run_jobs()
    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json
    assert job["kind"] == "sync" and job["status"] == "finished" and job["result"] == {
        "INBOX": {"stored": 1, "duplicates": 0}}
    assert len(_receipts(db)) == 1
    stranger = api_token(create_tenant("stranger"))
    assert client.get(f"/api/v1/jobs/{job_id}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/mailboxes/{mailbox.id}/sync", headers=stranger).status_code == 404


def _tenant(db, mailbox):
    from tenants.models import Tenant

    return db.session.get(Tenant, mailbox.tenant_id)


def test_the_scheduler_polls_due_mailboxes_once(app, db, imap_mailbox, dovecot, mail_user, run_jobs):
    from worker.jobs.sync import poll_due_mailboxes

    mailbox = imap_mailbox(poll_interval=60)
    imap_mailbox(address="paused@acme.test", inbound_username=mail_user.email)  # a second one, paused below
    pause_mailbox(db.session.scalar(select(type(mailbox)).where(type(mailbox).address == "paused@acme.test")))
    dovecot.append(mail_user.email, _mail(9))
    assert poll_due_mailboxes("default") == 1  # the active one; never synced, so due
    assert poll_due_mailboxes("default") == 0  # its poll is still queued: no pile-up
    run_jobs()
    assert len(_receipts(db)) == 1
    assert poll_due_mailboxes("default") == 0  # synced just now; due again after 60 s


@pytest.mark.parametrize("action", ["move", "delete"])
def test_move_and_delete_happen_only_after_storing(app, db, imap_mailbox, dovecot, mail_user, action):
    dovecot.create_folder(mail_user.email, "Done")
    mailbox = imap_mailbox(after_fetch=action, move_to_folder="Done" if action == "move" else None)
    for n in range(3):
        dovecot.append(mail_user.email, _mail(n, action))
    (result,) = sync_mailbox(mailbox)
    assert result.stored == 3 and len(_receipts(db)) == 3
    assert dovecot.message_count(mail_user.email, "INBOX") == 0
    assert dovecot.message_count(mail_user.email, "Done") == (3 if action == "move" else 0)


def test_a_new_mailbox_starts_at_import_since_and_backfill_fetches_older_mail_once(app, db, imap_mailbox, dovecot,
                                                                                    mail_user, run_jobs):
    from datetime import UTC, date, datetime

    from app.inbound.backfill import start_backfill
    from app.mailboxes.models import Mailbox

    old = b"Subject: old\r\nMessage-ID: <old@x.test>\r\nFrom: a@x.test\r\n\r\nold\r\n"
    recent = b"Subject: new\r\nMessage-ID: <new@x.test>\r\nFrom: a@x.test\r\n\r\nnew\r\n"
    dovecot.append(mail_user.email, old, date=datetime(2026, 1, 5, tzinfo=UTC))
    dovecot.append(mail_user.email, recent, date=datetime(2026, 11, 1, tzinfo=UTC))
    mailbox = imap_mailbox()
    mailbox.import_since = datetime(2026, 6, 1, tzinfo=UTC)
    db.session.commit()
    (first,) = sync_mailbox(mailbox)
    assert first.stored == 1 and _receipts(db)[0].size == len(recent)
    (again,) = sync_mailbox(mailbox)  # the skipped old mail stays behind the cursor
    assert again.stored == 0

    start_backfill(mailbox, date(2026, 1, 1))
    run_jobs()
    receipts = _receipts(db)
    assert sorted(r.size for r in receipts) == sorted([len(old), len(recent)])
    assert db.session.get(Mailbox, mailbox.id).import_since.date() == date(2026, 1, 1)
    start_backfill(mailbox, date(2026, 1, 1))  # a second backfill finds nothing new
    run_jobs()
    assert len(_receipts(db)) == 2


def test_backfill_refuses_future_and_ancient_dates(app, db, imap_mailbox):
    from datetime import date, timedelta

    from app.errors import FieldErrors
    from app.inbound.backfill import start_backfill

    mailbox = imap_mailbox()
    for since in (date.today() + timedelta(days=2), date(1990, 1, 1), None):
        with pytest.raises(FieldErrors) as error:
            start_backfill(mailbox, since)
        assert set(error.value.errors) == {"since"}


def test_an_interrupted_first_sync_keeps_its_import_since_filter(app, db, imap_mailbox, dovecot, mail_user,
                                                                  monkeypatch):
    """An archive moved in gets new (higher) UIDs with its old arrival dates: a first sync cut short must not import
    it when it resumes above its cursor."""
    from datetime import UTC, datetime

    from app.inbound import sync

    def mail(name: str) -> bytes:
        return f"Subject: {name}\r\nMessage-ID: <{name}@x.test>\r\nFrom: a@x.test\r\n\r\n{name}\r\n".encode()

    dovecot.append(mail_user.email, mail("recent1"), date=datetime(2026, 11, 1, tzinfo=UTC))
    dovecot.append(mail_user.email, mail("archived"), date=datetime(2026, 1, 5, tzinfo=UTC))
    dovecot.append(mail_user.email, mail("recent2"), date=datetime(2026, 11, 2, tzinfo=UTC))
    mailbox = imap_mailbox()
    mailbox.import_since = datetime(2026, 6, 1, tzinfo=UTC)
    db.session.commit()
    monkeypatch.setattr(sync, "CHUNK", 1)
    handed = []

    def dies_after_the_first_chunk(mailbox, receipt_ids):
        handed.append(receipt_ids)
        raise RuntimeError("worker killed")  # after the chunk's commit, as a kill at that line would leave it

    monkeypatch.setattr(sync, "hand_to_ingest", dies_after_the_first_chunk)
    with pytest.raises(RuntimeError):
        sync_mailbox(mailbox)
    assert len(handed) == 1 and len(_receipts(db)) == 1
    monkeypatch.undo()
    sync_mailbox(db.session.get(type(mailbox), mailbox.id))
    store = FileBlobStore(get_region("default").blob_root)
    assert [b"Subject: recent" in store.get(r.sha256) for r in _receipts(db)] == [True, True]
    cursor = db.session.scalar(select(FolderCursor))
    assert cursor.since_pending is False
