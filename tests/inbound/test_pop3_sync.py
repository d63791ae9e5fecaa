"""POP3 sync against the real Dovecot: stored raw and recorded with its UIDL before any DELE, exactly once."""

import poplib
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.connections.models import ConnectionLog
from app.extensions import get_redis
from app.inbound.blobs import FileBlobStore, blob_key
from app.inbound.models import Receipt
from app.inbound.pop3sync import pop3_uid, sync_pop3
from app.inbound.services import mailboxes_due_for_poll, sync_mailbox
from app.mail.pop3 import PinnedPOP3
from app.mail.sessions import MailError
from app.mailboxes.models import SyncMode
from app.mailboxes.services import create_mailbox
from tenants.regions import get_region

pytestmark = pytest.mark.stack


def _mail(n: int, subject: str = "Printer jam", date: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = f"user{n}@customer.test", "support@acme.test"
    message["Subject"], message["Message-ID"] = f"{subject} #{n}", f"<p{n}-{subject.replace(' ', '')}@customer.test>"
    if date:
        message["Date"] = date
    message.set_content(f"Hello, message number {n}.\n.a line that starts with a dot\n" + "x" * 3000)
    return bytes(message)


@pytest.fixture
def pop3_mailbox(db, create_tenant, dovecot, mail_user, mail_ca):
    tenant = create_tenant("acme")

    def make(security: str = "tls", **settings):
        port = dovecot.pop3s_port if security == "tls" else dovecot.pop3_port
        return create_mailbox(tenant, {
            "name": "Support", "address": "support@acme.test", "inbound_protocol": "pop3",
            "inbound_host": dovecot.host, "inbound_port": port, "inbound_security": security,
            "inbound_username": mail_user.email, "inbound_password": mail_user.password,
            "ca_pem": mail_ca.read_text(), "outbound_mode": "none", **settings})

    return make


def _receipts(db) -> list[Receipt]:
    return list(db.session.scalars(select(Receipt).order_by(Receipt.id)))


def _server_uidls(dovecot, mail_user) -> list[str]:
    """What the server holds, by a POP3 session of its own (QUIT without DELE changes nothing)."""
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        pop.user(mail_user.email)
        pop.pass_(mail_user.password)
        return [line.split()[1].decode() for line in pop.uidl()[1]]
    finally:
        pop.quit()


def _on_the_wire(raw: bytes) -> bytes:
    return raw.replace(b"\n", b"\r\n")  # POP3 speaks CRLF; the blob is what it said


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_new_mail_is_stored_raw_once_with_its_uidl(app, db, pop3_mailbox, dovecot, mail_user, security):
    mailbox = pop3_mailbox(security)
    raws = [_mail(n) for n in range(3)]
    for raw in raws:
        dovecot.append(mail_user.email, raw)
    (first,) = sync_mailbox(mailbox)
    assert (first.folder, first.stored, first.duplicates) == ("POP3", 3, 0)
    receipts = _receipts(db)
    assert first.receipt_ids == [r.id for r in receipts]
    assert [r.uidl for r in receipts] == _server_uidls(dovecot, mail_user)
    assert all(r.uid == pop3_uid(r.uidl) and (r.folder, r.uidvalidity) == ("POP3", 0) for r in receipts)
    store = FileBlobStore(get_region("default").blob_root)
    assert [store.get(r.sha256) for r in receipts] == [_on_the_wire(raw) for raw in raws]
    assert [r.sha256 for r in receipts] == [blob_key(_on_the_wire(raw)) for raw in raws]

    (again,) = sync_mailbox(mailbox)  # nothing new: nothing stored, nothing doubled
    assert (again.stored, again.duplicates, again.already_known) == (0, 0, 0)
    dovecot.append(mail_user.email, _mail(3))
    (later,) = sync_mailbox(mailbox)
    assert later.stored == 1 and len(_receipts(db)) == 4
    assert dovecot.message_count(mail_user.email) == 4  # keep: the server copy stays
    logged = select(func.count()).where(ConnectionLog.kind == "sync", ConnectionLog.ok,
                                        ConnectionLog.mailbox_id == mailbox.id)
    assert db.session.scalar(logged) == 3


def test_delete_happens_only_for_committed_receipts(app, db, pop3_mailbox, dovecot, mail_user, monkeypatch):
    mailbox = pop3_mailbox(after_fetch="delete")
    for n in range(3):
        dovecot.append(mail_user.email, _mail(n, "Delete"))
    committed: set[str] = set()
    deleted: list[tuple[str, bool]] = []
    real_commit, real_dele = db.session.commit, PinnedPOP3.dele

    def commit():
        real_commit()
        committed.update(db.session.scalars(select(Receipt.uidl)))

    def dele(pop, number):
        uidl = pop.uidl(number).split()[2].decode()
        deleted.append((uidl, uidl in committed))
        return real_dele(pop, number)

    monkeypatch.setattr(db.session, "commit", commit)
    monkeypatch.setattr(PinnedPOP3, "dele", dele)
    (result,) = sync_mailbox(mailbox)
    assert result.stored == 3 and len(deleted) == 3 and all(was_committed for _uidl, was_committed in deleted)
    assert {uidl for uidl, _ in deleted} == {r.uidl for r in _receipts(db)}
    assert dovecot.message_count(mail_user.email) == 0


def test_a_crash_before_commit_deletes_nothing(app, db, pop3_mailbox, dovecot, mail_user, monkeypatch):
    import app.inbound.pop3sync as pop3sync

    mailbox = pop3_mailbox(after_fetch="delete")
    for n in range(5):
        dovecot.append(mail_user.email, _mail(n, "Crash"))
    monkeypatch.setattr(pop3sync, "CHUNK", 2)
    commits = {"n": 0}
    real_commit = db.session.commit

    def dying_commit():
        commits["n"] += 1
        if commits["n"] == 2:  # the first chunk is committed (and DELEd), the worker dies before the second
            db.session.rollback()
            raise SystemExit("killed")
        real_commit()

    monkeypatch.setattr(db.session, "commit", dying_commit)
    with pytest.raises(SystemExit):
        sync_mailbox(mailbox)
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert len(_receipts(db)) == 2
    assert dovecot.message_count(mail_user.email) == 5  # no QUIT: the first chunk's DELEs never took effect

    get_redis().delete(f"sync:mailbox:{mailbox.id}")  # a killed worker's lock would expire; don't wait for it
    (resumed,) = sync_mailbox(mailbox)
    assert (resumed.stored, resumed.duplicates) == (3, 0)
    receipts = _receipts(db)
    assert len(receipts) == 5 and len({r.uidl for r in receipts}) == 5 and len({r.sha256 for r in receipts}) == 5
    assert dovecot.message_count(mail_user.email) == 0  # the known ones went too: their receipts exist


def test_the_same_bytes_twice_are_one_stored_and_one_duplicate(app, db, pop3_mailbox, dovecot, mail_user):
    mailbox = pop3_mailbox()
    raw = _mail(1, "Twice")
    dovecot.append(mail_user.email, raw)
    dovecot.append(mail_user.email, raw)
    (result,) = sync_mailbox(mailbox)
    assert (result.stored, result.duplicates) == (1, 1)
    receipts = _receipts(db)
    assert [r.status for r in receipts] == ["stored", "duplicate"] and result.receipt_ids == [receipts[0].id]
    assert len({r.uidl for r in receipts}) == 2 and len({r.sha256 for r in receipts}) == 1


def test_import_since_skips_older_mail_by_its_date_and_never_deletes_it(app, db, pop3_mailbox, dovecot, mail_user,
                                                                         monkeypatch):
    mailbox = pop3_mailbox(after_fetch="delete")
    mailbox.import_since = datetime(2024, 6, 1, tzinfo=UTC)
    db.session.commit()
    dovecot.append(mail_user.email, _mail(1, "Old", date="Fri, 01 Mar 2024 09:00:00 +0000"))
    dovecot.append(mail_user.email, _mail(2, "New", date="Mon, 03 Jun 2024 09:00:00 +0200"))
    dovecot.append(mail_user.email, _mail(3, "Undated"))  # no Date: imported rather than lost
    (first,) = sync_mailbox(mailbox)
    assert first.stored == 2 and dovecot.message_count(mail_user.email) == 1  # the old one stays on the server

    tops = []
    real_putcmd = PinnedPOP3._putcmd

    def putcmd(pop, line):
        if line.startswith("TOP"):
            tops.append(line)
        return real_putcmd(pop, line)

    monkeypatch.setattr(PinnedPOP3, "_putcmd", putcmd)
    (second,) = sync_mailbox(mailbox)
    assert second.stored == 0 and tops == []  # remembered as too old: no TOP per poll

    mailbox.import_since = datetime(2024, 1, 1, tzinfo=UTC)  # a backfill moves it back: the old one is imported now
    db.session.commit()
    (third,) = sync_mailbox(mailbox)
    assert third.stored == 1 and len(tops) == 1 and dovecot.message_count(mail_user.email) == 0


class _NoUidl:
    def uidl(self):
        raise poplib.error_proto(b"-ERR Unknown command: UIDL")


def test_a_server_without_uidl_fails_clearly_and_is_logged(app, db, pop3_mailbox, dovecot, mail_user, monkeypatch):
    mailbox = pop3_mailbox()
    with pytest.raises(MailError, match="uidl failed: protocol_error") as raised:
        sync_pop3(_NoUidl(), mailbox, FileBlobStore(get_region("default").blob_root))
    assert raised.value.result.server_response == "-ERR Unknown command: UIDL"

    dovecot.append(mail_user.email, _mail(1))
    monkeypatch.setattr(PinnedPOP3, "uidl", lambda pop, which=None: _NoUidl().uidl())
    with pytest.raises(MailError):
        sync_mailbox(mailbox)
    entry = db.session.scalar(select(ConnectionLog).where(ConnectionLog.mailbox_id == mailbox.id))
    assert (entry.kind, entry.ok, entry.step, entry.category) == ("sync", False, "uidl", "protocol_error")
    assert _receipts(db) == [] and dovecot.message_count(mail_user.email) == 1


def test_pop3_mailboxes_are_polled_whatever_their_sync_mode(app, db, pop3_mailbox, mail_user):
    mailbox = pop3_mailbox()
    mailbox.sync_mode = SyncMode.IDLE  # the form refuses this for POP3; an old row or an import may still have it
    db.session.commit()
    assert mailbox in mailboxes_due_for_poll("default")
