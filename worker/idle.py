"""The IMAP IDLE supervisor (``flask idle``): a push connection for every IDLE-mode mailbox of one region.

Every ``IDLE_RELOAD_SECONDS`` it re-reads which mailboxes want a connection (IMAP, IDLE mode, active or failing),
starts a watcher (``worker.idle_watch``) for each new one, replaces those whose connection settings changed and
stops those paused, switched to polling or deleted. It hands the region's poll-mode IMAP mailboxes to the poller
(``worker.idle_poll``: a cheap STATUS per interval, a sync only on change), re-enqueues pushes that no sync has
cleared yet and writes a heartbeat, which also tells the scheduler to leave the polled mailboxes alone. POP3
mailboxes stay with the scheduler (``poll_due_mailboxes``), and so does everything while no supervisor runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.inbound.services import IDLE_HEARTBEAT_KEY, SYNCABLE
from app.mailboxes.models import Mailbox, MailboxStatus, Protocol, SyncMode
from tenants.models import Tenant
from tenants.queues import region_redis
from tenants.regions import get_region
from worker.idle_poll import Poller, PollTarget
from worker.idle_watch import Target, Watcher
from worker.jobs.push import dirty_mailboxes, ensure_push_job

log = logging.getLogger(__name__)

IDLE_LIMIT = 29 * 60  # RFC 2177: servers may end an IDLE after 30 minutes of silence
STOP_SECONDS = 5.0  # how long shutdown waits for watchers to say DONE and LOGOUT


def fingerprint(mailbox: Mailbox) -> str:
    """Changes when the connection would. Not ``updated_at``: failure streaks move it too, and replacing a watcher
    that is backing off from a failing server would start its back-off over."""
    parts = [mailbox.inbound_host, mailbox.inbound_port, mailbox.inbound_security.value, mailbox.inbound_username,
             mailbox.inbound_password, mailbox.oauth_grant_id, mailbox.ca_pem, (mailbox.folders or ["INBOX"])[0]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()  # the password only ever as part of a hash


def idle_targets(region: str) -> dict[int, Target]:
    """The mailboxes of ``region`` that want a push connection now."""
    mailboxes = db.session.scalars(
        select(Mailbox).join(Tenant, Tenant.id == Mailbox.tenant_id)
        .where(Tenant.region == region, Mailbox.status.in_(SYNCABLE), Mailbox.sync_mode == SyncMode.IDLE,
               Mailbox.inbound_protocol == Protocol.IMAP))
    return {m.id: Target(m.id, m.tenant_id, fingerprint(m)) for m in mailboxes}


def poll_targets(region: str) -> dict[int, PollTarget]:
    """The poll-mode IMAP mailboxes of ``region`` (POP3 has no STATUS: the scheduler keeps those)."""
    mailboxes = db.session.scalars(
        select(Mailbox).join(Tenant, Tenant.id == Mailbox.tenant_id)
        .where(Tenant.region == region, Mailbox.status.in_(SYNCABLE), Mailbox.sync_mode == SyncMode.POLL,
               Mailbox.inbound_protocol == Protocol.IMAP))
    return {m.id: _poll_target(m) for m in mailboxes}


def _poll_target(mailbox: Mailbox) -> PollTarget:
    folders = tuple(mailbox.folders or ["INBOX"])
    key = hashlib.sha256(json.dumps([fingerprint(mailbox), folders, mailbox.poll_interval]).encode()).hexdigest()
    return PollTarget(mailbox.id, mailbox.tenant_id, key, mailbox.poll_interval, folders,
                      failing=mailbox.status == MailboxStatus.FAILING)


class IdleSupervisor:
    """``run()`` blocks until ``request_stop()`` (safe to call from a signal handler), then closes every
    connection."""

    def __init__(self, app: Flask, region: str, *, reload_seconds: float | None = None) -> None:
        self.app = app
        with app.app_context():
            self.region = get_region(region)
        self.reload_seconds = reload_seconds or app.config["IDLE_RELOAD_SECONDS"]
        self.renew_seconds = max(1, min(app.config["IDLE_RENEW_SECONDS"], IDLE_LIMIT))
        self.watchers: dict[int, Watcher] = {}
        self._retired: list[Watcher] = []  # stopped, possibly still saying goodbye to their server
        self._stop = threading.Event()
        self._key = f"postroom:idle:{self.region.name}"
        self._poll_stats = f"postroom:poll:{self.region.name}:stats"
        config = app.config
        self.poller = Poller(app, self.region, pool_size=config["POLL_POOL_SIZE"],
                             keep_seconds=config["POLL_KEEP_SECONDS"],
                             full_sync_every=config["POLL_FULL_SYNC_EVERY"], threads=config["POLL_THREADS"])

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        log.info("IDLE supervisor started", extra={"region": self.region.name})
        with self.app.app_context():
            try:
                if self.poller.threads:
                    self.poller.start()
                while True:
                    self._tick()
                    if self._stop.wait(self.reload_seconds):
                        break
            finally:
                self._shutdown()
        log.info("IDLE supervisor stopped", extra={"region": self.region.name})

    def _tick(self) -> None:
        for step in (self.reconcile, self.reconcile_polls, self.sweep, self.heartbeat):
            try:
                step()
            except Exception:  # a database or Redis hiccup must not end the supervisor: the next tick retries
                log.exception("IDLE supervisor step failed", extra={"step": step.__name__})
            finally:
                db.session.remove()

    def reconcile(self) -> None:
        """Start, replace and stop watchers so that they match ``idle_targets``."""
        wanted = idle_targets(self.region.name)
        for mailbox_id, watcher in list(self.watchers.items()):
            target = wanted.get(mailbox_id)
            if target is None or target.fingerprint != watcher.target.fingerprint or not watcher.alive:
                self._retire(mailbox_id)
        for mailbox_id, target in wanted.items():
            if mailbox_id not in self.watchers:
                self.watchers[mailbox_id] = Watcher(self.app, self.region, target,
                                                    renew_seconds=self.renew_seconds).start()
        self._retired = [w for w in self._retired if w.alive]

    def reconcile_polls(self) -> None:
        if self.poller.threads:
            self.poller.reconcile(poll_targets(self.region.name))

    def _retire(self, mailbox_id: int) -> None:
        watcher = self.watchers.pop(mailbox_id)
        watcher.stop()
        self._retired.append(watcher)

    def sweep(self) -> None:
        """Re-enqueue pushes that a sync could not clear (the mailbox lock was taken, the job failed)."""
        reachable = self.poller.healthy()  # {mailbox_id: tenant_id}: the last check got an answer
        reachable.update((w.target.mailbox_id, w.target.tenant_id) for w in self.watchers.values()
                         if w.state == "idling")
        for mailbox_id in dirty_mailboxes(self.region, list(reachable)):
            ensure_push_job(self.region, reachable[mailbox_id], mailbox_id)

    def heartbeat(self) -> None:
        """``<key>:heartbeat`` (expires unless renewed), per watched mailbox its last event and state, and the
        poller's counters (``postroom:poll:<region>:stats``)."""
        ttl = max(30, round(3 * self.reload_seconds))
        watchers = list(self.watchers.values())
        with region_redis(self.region).pipeline() as pipe:  # MULTI: readers never see half a heartbeat
            pipe.set(IDLE_HEARTBEAT_KEY.format(region=self.region.name), time.time(), ex=ttl)
            pipe.expire(self.poller.key, ttl)
            pipe.hset(self._poll_stats, mapping=self.poller.stats()).expire(self._poll_stats, ttl)
            pipe.delete(f"{self._key}:mailboxes", f"{self._key}:states")
            if watchers:
                pipe.hset(f"{self._key}:mailboxes", mapping={w.target.mailbox_id: w.last_event for w in watchers})
                pipe.hset(f"{self._key}:states", mapping={w.target.mailbox_id: w.state for w in watchers})
                pipe.expire(f"{self._key}:mailboxes", ttl).expire(f"{self._key}:states", ttl)
            pipe.execute()

    def _shutdown(self) -> None:
        watchers = [*self.watchers.values(), *self._retired]
        for watcher in watchers:
            watcher.stop()
        deadline = time.monotonic() + STOP_SECONDS
        self.poller.stop(deadline)
        for watcher in watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        self.watchers, self._retired = {}, []
        try:
            region_redis(self.region).delete(f"{self._key}:heartbeat", f"{self._key}:mailboxes",
                                             f"{self._key}:states", self.poller.key, self._poll_stats)
        except Exception:  # Redis gone too: the keys expire by themselves
            log.warning("could not remove the IDLE heartbeat", extra={"region": self.region.name})


def install_signal_handlers(supervisor: IdleSupervisor) -> dict[int, object]:
    """SIGTERM and SIGINT stop ``supervisor``; returns the previous handlers (main thread only)."""
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, lambda _signum, _frame: supervisor.request_stop())
    return previous
