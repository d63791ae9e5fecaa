"""How a sync chunk moves: streamed from several FETCHes into the blob store, committed once all of it is on disk,
and only then acted on; duplicates found without a query per chunk in a first sync."""

import os

import pytest
from sqlalchemy import select

from app.inbound.blobs import FileBlobStore
from app.inbound.models import FolderCursor
from app.inbound.services import sync_mailbox
from app.mailboxes.services import create_mailbox
from tenants.regions import get_region
from tests.inbound.test_sync import _mail, _receipts


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


def test_chunks_stream_into_the_store_and_the_server_is_touched_only_after_commit(app, db, imap_mailbox, dovecot,
                                                                                 mail_user, monkeypatch):
    """A chunk comes in several FETCHes whose mails are written while the next arrive; its receipts are committed
    once all of them are on disk, and only then are they marked seen."""
    import app.inbound.sync as sync
    from app.mail.imap import PinnedIMAPClient

    mailbox = imap_mailbox(after_fetch="mark_seen")
    for n in range(9):
        dovecot.append(mail_user.email, _mail(n, "stream"))
    monkeypatch.setattr(sync, "CHUNK", 4)
    monkeypatch.setattr(sync, "FETCH_BATCH", 2)
    events, real_fetch, real_commit, real_act = [], PinnedIMAPClient.fetch, db.session.commit, sync._after_fetch
    store = FileBlobStore(get_region("default").blob_root)

    def fetch(client, uids, items):
        assert client._imap.debug == 0  # no formatting of every mail for a log nobody reads
        events.append(("fetch", list(uids), list(items)))
        return real_fetch(client, uids, items)

    def act(client, mailbox, uids):
        receipts = {r.uid: r for r in _receipts(db)}
        assert all(store.exists(receipts[uid].sha256) for uid in uids) and events[-1] == ("commit",)
        events.append(("act", uids))
        real_act(client, mailbox, uids)

    monkeypatch.setattr(PinnedIMAPClient, "fetch", fetch)
    monkeypatch.setattr(db.session, "commit", lambda: (events.append(("commit",)), real_commit())[1])
    monkeypatch.setattr(sync, "_after_fetch", act)
    (result,) = sync_mailbox(mailbox)
    assert result.stored == 9
    fetches = [e for e in events if e[0] == "fetch"]
    assert [len(uids) for _f, uids, _items in fetches] == [2, 2, 2, 2, 1]
    assert all(items == ["BODY.PEEK[]"] for _f, _uids, items in fetches)  # PEEK: the server marks nothing read
    assert [len(e[1]) for e in events if e[0] == "act"] == [4, 4, 1]
    assert sorted(uid for e in events if e[0] == "act" for uid in e[1]) == [r.uid for r in _receipts(db)]


def test_a_connection_lost_inside_a_chunk_commits_none_of_it(app, db, imap_mailbox, dovecot, mail_user, monkeypatch):
    import app.inbound.sync as sync
    from app.mail.imap import PinnedIMAPClient
    from app.mail.steps import MailError

    mailbox = imap_mailbox()
    for n in range(8):
        dovecot.append(mail_user.email, _mail(n, "cut"))
    monkeypatch.setattr(sync, "CHUNK", 4)
    monkeypatch.setattr(sync, "FETCH_BATCH", 2)
    real_fetch, calls = PinnedIMAPClient.fetch, []
    before = _incoming()

    def dropping_fetch(client, uids, items):
        calls.append(uids)
        if len(calls) == 4:  # the second FETCH of the second chunk: its first half is on its way to disk
            raise ConnectionResetError("connection reset by peer")
        return real_fetch(client, uids, items)

    monkeypatch.setattr(PinnedIMAPClient, "fetch", dropping_fetch)
    with pytest.raises(MailError):
        sync_mailbox(mailbox)
    assert len(_receipts(db)) == 4 and db.session.scalar(select(FolderCursor.last_uid)) == _receipts(db)[-1].uid
    monkeypatch.setattr(PinnedIMAPClient, "fetch", real_fetch)
    (resumed,) = sync_mailbox(mailbox)
    receipts = _receipts(db)
    assert resumed.stored == 4 and len(receipts) == 8 and len({r.uid for r in receipts}) == 8
    assert _incoming() == before  # no half-written blob left behind (killed workers in other tests may leave some)


def _incoming() -> set[str]:
    return {n for _d, _s, names in os.walk(get_region("default").blob_root) for n in names if ".incoming" in n}


def test_the_same_bytes_twice_are_a_duplicate_in_a_first_sync_and_after_it(app, db, imap_mailbox, dovecot,
                                                                           mail_user, monkeypatch):
    """A first sync keeps the hashes it recorded instead of asking the database for every chunk; the verdicts
    are the same either way."""
    import app.inbound.sync as sync

    mailbox = imap_mailbox()
    monkeypatch.setattr(sync, "CHUNK", 2)
    twice = _mail(1, "twice")
    for raw in (twice, _mail(2, "twice"), _mail(3, "twice"), twice):  # the repeat lands in the second chunk
        dovecot.append(mail_user.email, raw)
    (first,) = sync_mailbox(mailbox)
    assert (first.stored, first.duplicates) == (3, 1)
    dovecot.append(mail_user.email, twice)  # now the mailbox has receipts: the database answers
    (later,) = sync_mailbox(mailbox)
    assert (later.stored, later.duplicates) == (0, 1)
    assert [r.status for r in _receipts(db)] == ["stored", "stored", "stored", "duplicate", "duplicate"]


def test_imaplib_formats_responses_only_for_a_debug_log(app, db, imap_mailbox, caplog):
    import logging

    from app.connections.services import endpoints
    from app.mail.sessions import open_imap

    _direction, endpoint = endpoints(imap_mailbox())[0]
    quiet = open_imap(endpoint)
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    talkative = open_imap(endpoint)
    try:
        assert (quiet._imap.debug, talkative._imap.debug) == (0, 5)
    finally:
        quiet.logout()
        talkative.logout()
