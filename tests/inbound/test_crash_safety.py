"""Crash safety of sync and ingest against the real Dovecot: workers SIGKILLed mid-job, two workers on one
mailbox, a renumbered folder and a Dovecot restart mid-sync. Every mail ends as exactly one receipt and one ticket
message; nothing is lost, doubled or left behind.

The kill tests run real ``flask worker`` processes (forked from a warm zygote, see ``tests/inbound/workers.py``),
so their data is committed for real: their tenant is deleted afterwards instead of rolled back.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections import Counter
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import delete, func, select

from app.connections.models import ConnectionLog
from app.extensions import db as _db
from app.extensions import get_redis
from app.inbound.blobs import store_for_region
from app.inbound.models import Receipt
from app.inbound.pipeline import INGEST_JOB, reconcile
from app.inbound.services import SyncSkipped, start_sync, sync_mailbox
from app.inbound.sync import sync_folder
from app.mail.sessions import MailError, open_imap
from app.mailboxes.models import Mailbox
from app.mailboxes.services import create_mailbox
from app.tickets.models import Message, Ticket
from tenants.models import Tenant
from tenants.queues import enqueue, region_queue
from tenants.regions import get_region
from tests.inbound.workers import Zygote, wait_for

pytestmark = pytest.mark.stack

LOCK_TTL = 1  # the workers' SYNC_LOCK_SECONDS: how long a killed worker's lock may block the mailbox
# Small ingest batches: a kill strands at most this many receipts, which the reconciler then retries one by one.
INGEST_BATCH = 10


def _mail(n: int, tag: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = f"user{n}@customer.test", "support@acme.test"
    message["Subject"], message["Message-ID"] = f"{tag} #{n}", f"<{tag}-{n}@customer.test>"
    message.set_content(f"Message {n}.")
    return bytes(message)


def _append_all(dovecot, user, raws: list[bytes], folder: str = "INBOX") -> list[int]:
    """One connection, one MULTIAPPEND; returns the folder's UIDs."""
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=30) as client:
        client.login(user.email, user.password)
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.multiappend(folder, raws)
        client.select_folder(folder, readonly=True)
        return sorted(client.search("ALL"))


def _mailbox_settings(dovecot, mail_user, mail_ca, **settings) -> dict:
    return {"name": "Support", "address": "support@acme.test", "inbound_host": dovecot.host,
            "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
            "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none",
            **settings}


# -- committed data and real worker processes ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def zygote(app, tmp_path_factory):
    config = app.config
    env = {**os.environ, "POSTROOM_ENV": "testing", "POSTROOM_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
           "POSTROOM_REDIS_URL": config["REDIS_URL"], "POSTROOM_BLOB_ROOT": config["BLOB_ROOT"],
           "POSTROOM_REGIONS": config["REGIONS"], "POSTROOM_SECRET_KEY": config["SECRET_KEY"],
           "POSTROOM_ENCRYPTION_KEYS": ",".join(config["ENCRYPTION_KEYS"]), "POSTROOM_ALLOW_PRIVATE_HOSTS": "1",
           "POSTROOM_CONNECT_TIMEOUT": "10", "POSTROOM_SYNC_LOCK_SECONDS": str(LOCK_TTL),
           "POSTROOM_INGEST_BATCH": str(INGEST_BATCH), "POSTROOM_LOG_FORMAT": "text"}
    zygote = Zygote(env, tmp_path_factory.mktemp("workers"))
    yield zygote
    zygote.close()


@pytest.fixture
def shop(app, dovecot, mail_user, mail_ca):
    """A committed tenant with an IMAP mailbox (keep mode) on ``mail_user``; the test runs in its app context."""
    with app.app_context():
        tenant = Tenant(slug=f"crash-{secrets.token_hex(3)}", name="Crash", region="default", default_locale="en",
                        timezone="UTC")
        _db.session.add(tenant)
        _db.session.commit()
        tenant_id = tenant.id
        try:
            mailbox = create_mailbox(tenant, _mailbox_settings(dovecot, mail_user, mail_ca))
            yield mailbox
        finally:
            _db.session.rollback()
            _db.session.execute(delete(Tenant).where(Tenant.id == tenant_id))
            _db.session.commit()
            _db.session.remove()


@pytest.fixture
def workers(zygote, shop):
    """The zygote for one test: a worker still running when the test ends is killed before the shop is deleted."""
    yield zygote
    zygote.kill_running()


def _fresh(statement):
    """Read what the workers committed: in a transaction of its own, since SQLite reads from a snapshot taken at
    the transaction's first read (PostgreSQL would show every statement the latest commits)."""
    _db.session.rollback()
    rows = _db.session.execute(statement).all()
    _db.session.rollback()
    return rows


def _concurrent_writers() -> bool:
    """PostgreSQL takes writers side by side; SQLite fails a second one ("database is locked", at once when its
    transaction read first), so there a failed job waits for the reconciler, as after a crash."""
    return _db.engine.dialect.name == "postgresql"


def _burst(workers, queues: str = "poll,ingest", count: int = 1) -> None:
    started = [workers.spawn("--queues", queues, "--burst") for _ in range(count if _concurrent_writers() else 1)]
    for worker in started:
        assert worker.wait(120) == 0, worker.log_text()[-3000:]


def _reconcile_now(app, monkeypatch) -> dict:
    monkeypatch.setitem(app.config, "INGEST_GRACE", 0)
    monkeypatch.setitem(app.config, "INGEST_BATCH", INGEST_BATCH)
    return reconcile("default")


def _started(kind: str) -> set[str]:
    return set(StartedJobRegistry(queue=region_queue(get_region("default"), kind)).get_job_ids())


def _assert_each_mail_once(mailbox: Mailbox, uids: list[int], message_ids: set[str]) -> None:
    receipts = _fresh(select(Receipt.uid, Receipt.status, Receipt.message_id, Receipt.quarantine_reason)
                      .where(Receipt.mailbox_id == mailbox.id))
    assert sorted(r.uid for r in receipts) == uids  # none lost, none recorded twice
    assert Counter(r.status for r in receipts) == {"ingested": len(uids)}, Counter(
        (r.status, r.quarantine_reason) for r in receipts)
    assert len({r.message_id for r in receipts}) == len(uids)
    messages = [m for (m,) in _fresh(select(Message.message_id).where(Message.tenant_id == mailbox.tenant_id))]
    assert len(messages) == len(uids) and {m.strip("<>") for m in messages} == message_ids
    assert _fresh(select(func.count()).select_from(Ticket).where(Ticket.tenant_id == mailbox.tenant_id)) == [
        (len(uids),)]


# -- kill -9 ------------------------------------------------------------------------------------------------------

def test_kill_9_twenty_times_during_sync_and_ingest_loses_and_doubles_nothing(app, shop, workers, dovecot,
                                                                               mail_user, monkeypatch):
    rng = random.Random(20261123)
    raws = [_mail(n, "crash") for n in range(500)]
    uids = _append_all(dovecot, mail_user, raws)
    lock_key = f"sync:mailbox:{shop.id}"
    interrupted: dict[str, set[str]] = {"poll": set(), "ingest": set()}
    orphaned_locks = 0

    def kill_after(worker, seconds: float) -> None:
        nonlocal orphaned_locks
        time.sleep(seconds)
        before = {kind: _started(kind) for kind in interrupted}
        worker.kill()
        for kind in interrupted:  # a job still "started" after its worker died was cut off mid-run
            interrupted[kind] |= before[kind] & _started(kind)
        orphaned_locks += bool(get_redis().exists(lock_key))

    for _round in range(20):
        # While a killed worker's lock lives on (at most LOCK_TTL: nobody renews it), the next sync is skipped and
        # its worker goes on to ingest.
        start_sync(shop)
        kill_after(workers.spawn("--queues", "poll,ingest"), rng.uniform(0.05, 0.6))
    assert interrupted["poll"] and orphaned_locks, "no kill landed during a sync"
    wait_for(lambda: not get_redis().exists(lock_key), LOCK_TTL + 2, "the killed worker's sync lock to expire")

    # Let the sync finish (it queues the ingest jobs), then kill ingest workers mid-job.
    start_sync(shop)
    _burst(workers, "poll")
    reconciled = False
    for _round in range(6):
        if not _fresh(select(Receipt.id).where(Receipt.mailbox_id == shop.id, Receipt.status == "stored").limit(1)):
            break
        if not region_queue(get_region("default"), "ingest").count:
            if reconciled:  # every job of both rounds was killed: enough, the rest is for the run to completion
                break
            _reconcile_now(app, monkeypatch)  # once only: every killed attempt counts towards quarantine
            reconciled = True
        worker = workers.spawn("--queues", "ingest")
        wait_for(lambda: _started("ingest") - interrupted["ingest"], 20, "an ingest job to start")
        kill_after(worker, rng.uniform(0.02, 0.25))
    assert interrupted["ingest"], "no kill landed during ingestion"

    # Run to completion: the queued ingest jobs, the reconciler for what killed jobs left `stored`, and again.
    _burst(workers, count=2)
    _reconcile_now(app, monkeypatch)
    _burst(workers, count=2)
    _assert_each_mail_once(shop, uids, {f"crash-{n}@customer.test" for n in range(500)})
    assert _reconcile_now(app, monkeypatch) == {"enqueued": 0, "quarantined": 0}


# -- two workers at once ------------------------------------------------------------------------------------------

def test_two_workers_syncing_and_ingesting_one_mailbox_at_once_store_each_mail_once(app, shop, workers, dovecot,
                                                                                     mail_user, monkeypatch):
    raws = [_mail(n, "twice") for n in range(60)]
    uids = _append_all(dovecot, mail_user, raws)
    first, second = start_sync(shop), start_sync(shop)
    syncing = [workers.spawn("--queues", "poll", "--burst") for _ in range(2)]  # both start at the same moment
    assert [w.wait(60) for w in syncing] == [0, 0]
    results = [Job.fetch(job.id, connection=get_redis()).return_value() for job in (first, second)]
    assert sum(r.get("INBOX", {}).get("stored", 0) for r in results) == 60, results
    assert len(_fresh(select(Receipt.id).where(Receipt.mailbox_id == shop.id))) == 60

    # Instead of the ingest jobs the sync queued: every receipt in two identical jobs (two workers in lockstep on
    # each receipt) and once more backwards, as when the reconciler re-enqueues receipts whose job is slow. (On
    # SQLite, where jobs fail on the lock, two jobs only: three failed attempts would quarantine a receipt.)
    region_queue(get_region("default"), "ingest").empty()
    ids = [r for (r,) in _fresh(select(Receipt.id).where(Receipt.mailbox_id == shop.id).order_by(Receipt.id))]
    tenant = _db.session.get(Tenant, shop.tenant_id)
    for batch in (ids, ids, ids[::-1]) if _concurrent_writers() else (ids, ids[::-1]):
        enqueue(tenant, INGEST_JOB, batch, kind="ingest")
    ingesting = [workers.spawn("--queues", "ingest", "--burst") for _ in range(2)]
    assert [w.wait(60) for w in ingesting] == [0, 0]
    failed = FailedJobRegistry(queue=region_queue(get_region("default"), "ingest")).get_job_ids()
    if _concurrent_writers():
        assert failed == [], [Job.fetch(i, connection=get_redis()).exc_info for i in failed]
    _reconcile_now(app, monkeypatch)  # what a failed job left (SQLite only) is picked up as after a crash
    _burst(workers, "ingest")
    _assert_each_mail_once(shop, uids, {f"twice-{n}@customer.test" for n in range(60)})


def test_two_syncs_without_the_lock_still_store_each_mail_once(app, shop, dovecot, mail_user):
    """As when a stalled sync outlived its lock: the receipts' unique key alone keeps the sync exactly-once."""
    raws = [_mail(n, "nolock") for n in range(120)]
    uids = _append_all(dovecot, mail_user, raws)
    mailbox_id, region = shop.id, get_region("default")
    errors = []

    def run(barrier: threading.Barrier) -> None:
        with app.app_context():
            try:
                mailbox = _db.session.get(Mailbox, mailbox_id)
                client = open_imap(_endpoint(mailbox))
                try:
                    barrier.wait(10)
                    sync_folder(client, mailbox, "INBOX", store_for_region(region))
                finally:
                    client.logout()
            except Exception as error:  # reported below
                errors.append(error)
            finally:
                _db.session.remove()

    both = threading.Barrier(2)
    threads = [threading.Thread(target=run, args=(both,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if _concurrent_writers():
        assert errors == []
    else:  # SQLite refuses the second writer: a failed sync, which the next one makes good
        assert all("database is locked" in str(error) for error in errors), errors
        errors.clear()
        run(threading.Barrier(1))
        assert errors == []
    receipts = _fresh(select(Receipt.uid, Receipt.status).where(Receipt.mailbox_id == mailbox_id))
    assert sorted(r.uid for r in receipts) == uids and {r.status for r in receipts} == {"stored"}


def _endpoint(mailbox: Mailbox):
    from app.connections.services import endpoints

    return endpoints(mailbox)[0][1]


# -- a renumbered folder, a restarted server (in-process, through the jobs) --------------------------------------

@pytest.fixture
def mailbox(db, create_tenant, dovecot, mail_user, mail_ca):
    tenant = create_tenant("acme")
    return lambda **settings: create_mailbox(tenant, _mailbox_settings(dovecot, mail_user, mail_ca, **settings))


def _count(db, model, **where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def test_a_uidvalidity_reset_after_ingest_adds_no_message_and_no_ticket(app, db, mailbox, dovecot, mail_user,
                                                                         run_jobs):
    box = mailbox(folders=["Support"])
    raws = [_mail(n, "renumbered") for n in range(5)]
    _append_all(dovecot, mail_user, raws, folder="Support")
    start_sync(box)
    run_jobs()  # sync, then the ingest jobs it queued
    assert (_count(db, Message), _count(db, Ticket), _count(db, Receipt, status="ingested")) == (5, 5, 5)

    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as client:  # the server renumbers the folder
        client.login(mail_user.email, mail_user.password)
        client.delete_folder("Support")
    _append_all(dovecot, mail_user, raws, folder="Support")
    job = start_sync(box)
    run_jobs()
    assert Job.fetch(job.id, connection=get_redis()).return_value() == {"Support": {"stored": 0, "duplicates": 5}}
    assert (_count(db, Message), _count(db, Ticket)) == (5, 5)
    assert (_count(db, Receipt, status="ingested"), _count(db, Receipt, status="duplicate")) == (5, 5)


def test_a_dovecot_restart_mid_sync_fails_cleanly_and_the_next_sync_completes(app, db, mailbox, dovecot, mail_user,
                                                                               run_jobs, monkeypatch):
    import app.inbound.sync as sync

    box = mailbox()
    raws = [_mail(n, "restart") for n in range(40)]
    uids = _append_all(dovecot, mail_user, raws)
    monkeypatch.setattr(sync, "CHUNK", 10)
    handed = sync.hand_to_ingest
    chunks = []

    def restart_after_first_chunk(mailbox, receipt_ids):
        handed(mailbox, receipt_ids)
        chunks.append(receipt_ids)
        if len(chunks) == 1:
            dovecot.restart()  # the server goes away while the sync holds its connection

    monkeypatch.setattr(sync, "hand_to_ingest", restart_after_first_chunk)
    with pytest.raises(MailError) as failure:
        sync_mailbox(box)
    assert failure.value.category == "protocol_error"
    (entry,) = db.session.scalars(select(ConnectionLog).where(ConnectionLog.mailbox_id == box.id))
    assert not entry.ok and entry.kind == "sync" and (entry.step, entry.category) == ("sync", "protocol_error")
    assert _count(db, Receipt) == 10  # the first chunk was committed before the server went away

    monkeypatch.setattr(sync, "hand_to_ingest", handed)
    (resumed,) = sync_mailbox(box)
    assert resumed.stored == 30
    run_jobs()
    receipts = db.session.execute(select(Receipt.uid, Receipt.status)).all()
    assert sorted(r.uid for r in receipts) == uids and {r.status for r in receipts} == {"ingested"}
    messages = db.session.scalars(select(Message.message_id)).all()
    assert sorted(m.strip("<>") for m in messages) == sorted(f"restart-{n}@customer.test" for n in range(40))
    assert db.session.scalars(select(ConnectionLog.ok).order_by(ConnectionLog.id)).all() == [False, True]


def test_a_sync_longer_than_its_lock_ttl_keeps_the_lock(app, db, mailbox, dovecot, mail_user, monkeypatch):
    """The heartbeat renews the lock: a short TTL (for dead workers) does not let a second sync in beside a slow one."""
    import app.inbound.sync as sync

    monkeypatch.setitem(app.config, "SYNC_LOCK_SECONDS", 1)
    box = mailbox()
    dovecot.append(mail_user.email, _mail(1, "slow"))
    key, during = f"sync:mailbox:{box.id}", []

    def slow_handover(mailbox, receipt_ids):
        time.sleep(1.6)  # a slow chunk, longer than the lock's TTL
        during.append(get_redis().pttl(key))
        with pytest.raises(SyncSkipped):
            sync_mailbox(mailbox)

    monkeypatch.setattr(sync, "hand_to_ingest", slow_handover)
    (result,) = sync_mailbox(box)
    assert result.stored == 1 and 0 < during[0] <= 1000
    assert not get_redis().exists(key)  # released at the end
