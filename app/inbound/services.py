"""Syncing a mailbox: one in-flight sync per mailbox, every attempt in the communication log."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from logging import Logger

from flask import current_app
from redis.exceptions import LockError, RedisError

from app import metrics
from app.connections.models import ConnectionKind
from app.connections.services import endpoints, record_attempt
from app.extensions import db, get_redis
from app.inbound.blobs import BlobStore, store_for_region
from app.inbound.pop3sync import sync_pop3
from app.inbound.sync import FolderSync, backfill_folder, sync_folder
from app.mail.sessions import MailError, open_imap, open_pop3
from app.mail.steps import Endpoint, StepResult, classify
from app.mailboxes.models import Mailbox, MailboxStatus, Protocol
from tenants.models import Tenant
from tenants.regions import get_region

SYNCABLE = (MailboxStatus.ACTIVE, MailboxStatus.FAILING)
LOCK_TIMEOUT = 15 * 60  # a sync job's time limit (the lock itself lives SYNC_LOCK_SECONDS, renewed while it runs)
# The connection broke after login (server restarted, session kicked, network gone): a failed sync, not a bug.
_BROKEN_CONNECTION = (imaplib.IMAP4.error, poplib.error_proto, EOFError, ssl.SSLError, ConnectionError, TimeoutError)


class SyncSkipped(Exception):
    """Nothing to do now: paused, waiting for a re-connect, another sync running, or not supported yet."""


def sync_mailbox(mailbox: Mailbox, *, job_id: str | None = None, backfill: bool = False) -> list[FolderSync]:
    """Sync every configured folder of ``mailbox``; raises ``SyncSkipped`` or ``MailError`` (logged either way).

    ``backfill``: fetch what arrived since ``mailbox.import_since`` below the cursor instead of new mail.
    """
    if mailbox.status not in SYNCABLE:
        raise SyncSkipped(f"mailbox is {mailbox.status.value}")
    with _mailbox_lock(mailbox.id):
        return _sync_locked(mailbox, job_id, backfill)


@contextlib.contextmanager
def _mailbox_lock(mailbox_id: int) -> Iterator[None]:
    """One sync per mailbox. The lock lives ``SYNC_LOCK_SECONDS`` and a heartbeat renews it while the sync runs, so
    a SIGKILLed worker blocks its mailbox for that long, not for the whole job timeout."""
    ttl = current_app.config["SYNC_LOCK_SECONDS"]
    # thread_local=False: the heartbeat thread must see the token that acquire() stored
    lock = get_redis().lock(f"sync:mailbox:{mailbox_id}", timeout=ttl, blocking=False, thread_local=False)
    if not lock.acquire():
        raise SyncSkipped("another sync of this mailbox is running")
    stop = threading.Event()
    heartbeat = threading.Thread(target=_keep_alive, args=(lock, ttl, stop, current_app.logger), daemon=True,
                                 name=f"sync-lock-{mailbox_id}")
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join(timeout=5)  # a beat stuck on an unreachable Redis must not hold up the job
        with contextlib.suppress(LockError):
            lock.release()


def _keep_alive(lock, ttl: float, stop: threading.Event, logger: Logger) -> None:
    while not stop.wait(ttl / 3):
        try:
            lock.extend(ttl, replace_ttl=True)
        except LockError:  # stalled longer than the TTL: another sync may run now; receipts keep it exactly-once
            logger.warning("sync lock lost", extra={"lock": lock.name})
            return
        except RedisError:  # Redis unreachable for a moment: the next beat tries again
            continue


def _sync_locked(mailbox: Mailbox, job_id: str | None, backfill: bool = False) -> list[FolderSync]:
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    store = store_for_region(get_region(tenant.region))
    started = time.perf_counter()
    _direction, endpoint = endpoints(mailbox)[0]
    # POP3 has no dates to search: its sync applies import_since to every message it has not seen.
    sync = _sync_pop3 if mailbox.inbound_protocol == Protocol.POP3 else _sync_imap
    try:
        results = sync(endpoint, mailbox, store, backfill)
    except MailError as error:  # connecting, or a server that cannot be synced (POP3 without UIDL)
        db.session.rollback()
        record_attempt(mailbox, ConnectionKind.SYNC, "inbound", error.results, job_id=job_id)
        metrics.observe_sync(tenant.region, "failed", time.perf_counter() - started)
        raise
    except _BROKEN_CONNECTION as error:  # committed chunks stay; the next sync goes on from the cursor
        db.session.rollback()
        failure = classify(error)
        failed = StepResult("sync", False, (time.perf_counter() - started) * 1000, failure.category,
                            {"reason": failure.reason}, failure.server_response)
        record_attempt(mailbox, ConnectionKind.SYNC, "inbound", [failed], job_id=job_id)
        metrics.observe_sync(tenant.region, "interrupted", time.perf_counter() - started)
        raise MailError(failed, [failed]) from None
    elapsed = (time.perf_counter() - started) * 1000
    record_attempt(mailbox, ConnectionKind.SYNC, "inbound", [StepResult("sync", True, elapsed)], job_id=job_id)
    metrics.observe_sync(tenant.region, "ok", elapsed / 1000)
    current_app.logger.info("mailbox synced", extra={"mailbox_id": mailbox.id,
                                                     "stored": sum(r.stored for r in results)})
    return results


def _sync_imap(endpoint: Endpoint, mailbox: Mailbox, store: BlobStore, backfill: bool) -> list[FolderSync]:
    client = open_imap(endpoint)
    if client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
        client.enable("CONDSTORE")  # before any SELECT (RFC 5161), so SELECT reports HIGHESTMODSEQ
    each_folder = backfill_folder if backfill else sync_folder
    try:
        return [each_folder(client, mailbox, folder, store) for folder in mailbox.folders or ["INBOX"]]
    finally:
        try:
            client.logout()
        except Exception:  # the connection broke: LOGOUT cannot close the socket, so close it here
            with contextlib.suppress(Exception):
                client.shutdown()


def _sync_pop3(endpoint: Endpoint, mailbox: Mailbox, store: BlobStore, _backfill: bool) -> list[FolderSync]:
    client = open_pop3(endpoint)
    try:
        return [sync_pop3(client, mailbox, store)]  # it ends with QUIT, when the server applies its DELEs
    finally:
        # After a failure: closed without QUIT, so the server deletes nothing. After QUIT: already closed.
        with contextlib.suppress(OSError):
            client.close()


SYNC_JOB = "worker.jobs.sync.sync_mailbox_job"


def start_sync(mailbox: Mailbox):
    """"Sync now": enqueue a sync on the tenant's region poll queue; returns the RQ job."""
    from tenants.queues import enqueue

    tenant = db.session.get(Tenant, mailbox.tenant_id)
    return enqueue(tenant, SYNC_JOB, mailbox.id, kind="poll", meta={"kind": "sync", "mailbox_id": mailbox.id},
                   job_timeout=LOCK_TIMEOUT)


def sync_job_status(tenant: Tenant, job_id: str) -> dict | None:
    """A sync job of ``tenant`` (another tenant's job id is ``None``, like one that never existed)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from tenants.queues import region_redis

    try:
        job = Job.fetch(job_id, connection=region_redis(get_region(tenant.region)))
    except (NoSuchJobError, ValueError):  # ValueError: not even the shape of an RQ job id
        return None
    if job.meta.get("tenant_id") != tenant.id or job.meta.get("kind") != "sync":
        return None
    status = job.get_status(refresh=False)
    return {"job_id": job.id, "kind": "sync", "mailbox_id": job.meta.get("mailbox_id"),
            "status": status.value if status else "unknown", "result": job.return_value() or {},
            "created_at": job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)}


# Written by ``flask idle`` (worker.idle, worker.idle_poll): its liveness, and when it last checked each poll-mode
# mailbox it polls itself.
IDLE_HEARTBEAT_KEY = "postroom:idle:{region}:heartbeat"
POLL_CHECKED_KEY = "postroom:poll:{region}:checked"
# A check may come this much later than its interval (a back-off, a busy poller) before the scheduler steps in.
POLL_GRACE_SECONDS = 330


def mailboxes_due_for_poll(region: str) -> list[Mailbox]:
    """Polling mailboxes of ``region`` whose last sync attempt is older than their interval (or never happened),
    except those a live ``flask idle`` supervisor has checked within their interval (plus a grace)."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from app.connections.models import ConnectionLog
    from app.mailboxes.models import SyncMode
    from tenants.models import utcnow

    last_sync = (select(ConnectionLog.mailbox_id, func.max(ConnectionLog.started_at).label("at"))
                 .where(ConnectionLog.kind == ConnectionKind.SYNC).group_by(ConnectionLog.mailbox_id).subquery())
    rows = db.session.execute(
        select(Mailbox, last_sync.c.at).join(Tenant, Tenant.id == Mailbox.tenant_id)
        .outerjoin(last_sync, last_sync.c.mailbox_id == Mailbox.id)
        .where(Tenant.region == region, Mailbox.status.in_(SYNCABLE),
               # POP3 has no IDLE: a POP3 mailbox is polled whatever its sync mode says
               (Mailbox.sync_mode == SyncMode.POLL) | (Mailbox.inbound_protocol == Protocol.POP3))).all()
    now, checked = utcnow(), _checked_by_supervisor(region)
    return [mailbox for mailbox, at in rows
            if (at is None or now - at >= timedelta(seconds=mailbox.poll_interval))
            and time.time() - checked.get(mailbox.id, 0.0) >= mailbox.poll_interval + POLL_GRACE_SECONDS]


def _checked_by_supervisor(region: str) -> dict[int, float]:
    """``{mailbox_id: last check}`` while the supervisor's heartbeat lives; empty otherwise (or without Redis)."""
    from tenants.queues import region_redis

    try:
        with region_redis(get_region(region)).pipeline() as pipe:
            pipe.exists(IDLE_HEARTBEAT_KEY.format(region=region)).hgetall(POLL_CHECKED_KEY.format(region=region))
            heartbeat, checked = pipe.execute()
    except RedisError:
        return {}
    return {int(k): float(v) for k, v in checked.items()} if heartbeat else {}
