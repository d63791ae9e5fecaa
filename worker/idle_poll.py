"""Cheap polling of poll-mode IMAP mailboxes inside the IDLE supervisor: a STATUS instead of a full sync.

The scheduler's poll is a full sync job per mailbox and interval (fork, login, SELECT, SEARCH, LOGOUT and a
communication-log row). Here one thread keeps a heap of next-due times and a few check threads ask the server
``STATUS <folder> (UIDNEXT UIDVALIDITY MESSAGES)`` for each folder. A sync is pushed (``worker.jobs.push``, as for
IDLE) only when UIDNEXT or UIDVALIDITY moved since the last answer -- on the first check, compared with the folder
cursor --, at every ``full_sync_every``-th check as a safety net, on the first success after failures and while the
mailbox is marked failing (its health is read from the sync log, which a cheap check does not write).

Mailboxes polled at least every ``keep_seconds`` keep their logged-in connection between checks, at most
``pool_size`` of them: the shortest intervals first, where a login per check costs most. (Not least-recently-used:
every mailbox is checked in turn, so an LRU pool smaller than the set would evict each connection just before its
next use.) The others connect, STATUS and LOG OUT. Every check is stamped in ``postroom:poll:<region>:checked``, so
the scheduler's ``mailboxes_due_for_poll`` leaves these mailboxes alone while the supervisor lives. Failed checks
back off per mailbox and go to the communication log like a failed sync; successful ones write nothing.
"""

from __future__ import annotations

import contextlib
import heapq
import imaplib
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import select

from app.connections.models import ConnectionKind
from app.connections.services import endpoints, record_attempt
from app.extensions import db
from app.inbound.models import FolderCursor
from app.inbound.services import POLL_CHECKED_KEY
from app.mail.imap import close
from app.mail.sessions import MailError, open_imap
from app.mail.steps import StepResult, classify, response_text
from app.mailboxes.models import Mailbox
from tenants.queues import region_redis
from tenants.regions import Region
from worker.idle_watch import STACK_SIZE, ConnectionLost, backoff_delay
from worker.jobs.push import ensure_push_job, mark_dirty

log = logging.getLogger(__name__)

TICK = 1.0  # the dispatcher looks at its stop flag at least this often
SPREAD = 60.0  # newly adopted mailboxes are first checked at random within this (or their interval), not at once
STATUS_ITEMS = ("UIDNEXT", "UIDVALIDITY", "MESSAGES")
Signature = tuple[int, int | None, int | None]  # UIDVALIDITY, UIDNEXT, MESSAGES (only when there is no UIDNEXT)


@dataclass(frozen=True)
class PollTarget:
    """A poll-mode IMAP mailbox; ``fingerprint`` changes when its connection, folders or interval would."""

    mailbox_id: int
    tenant_id: int
    fingerprint: str
    interval: int
    folders: tuple[str, ...]
    failing: bool = False


@dataclass(eq=False)
class _Slot:
    target: PollTarget
    keep: bool = False  # may hold its connection between checks
    client: IMAPClient | None = None
    seen: dict[str, Signature] | None = None
    checks: int = 0
    phase: int = 0  # spreads the safety-net syncs: not every mailbox on the same check
    failures: int = 0
    busy: bool = False  # a check thread owns it (and its client)
    retired: bool = False


class Poller:
    """``start()`` the threads, ``reconcile()`` with the wanted mailboxes (from the supervisor's thread), ``stop()``."""

    def __init__(self, app: Flask, region: Region, *, pool_size: int, keep_seconds: int, full_sync_every: int,
                 threads: int) -> None:
        self.app, self.region = app, region
        self.pool_size, self.keep_seconds, self.threads = pool_size, keep_seconds, threads
        self.full_sync_every = max(1, full_sync_every)
        self.slots: dict[int, _Slot] = {}
        self.checks = self.connects = self.pushes = 0  # for tests and benchmarks
        self.key = POLL_CHECKED_KEY.format(region=region.name)
        self._heap: list[tuple[float, int, _Slot]] = []
        self._order = itertools.count()  # heap tie-breaker: slots do not compare
        self._cond = threading.Condition()
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Poller:
        with contextlib.suppress(Exception):  # a previous run's stamps are not ours to vouch for
            region_redis(self.region).delete(self.key)
        previous = threading.stack_size(STACK_SIZE)
        try:
            self._threads = [threading.Thread(target=self._dispatch, name="poll-dispatch", daemon=True)]
            self._threads += [threading.Thread(target=self._serve, name=f"poll-{n}", daemon=True)
                              for n in range(self.threads)]
            for thread in self._threads:
                thread.start()
        finally:
            threading.stack_size(previous)
        return self

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def reconcile(self, wanted: dict[int, PollTarget]) -> None:
        """Adopt new mailboxes, drop gone or changed ones, and choose which may keep their connection."""
        closing, adopted = [], []
        with self._cond:
            for mailbox_id, slot in list(self.slots.items()):
                target = wanted.get(mailbox_id)
                if target is None or target.fingerprint != slot.target.fingerprint:
                    closing.append(self._retire(self.slots.pop(mailbox_id)))
                else:
                    slot.target = target  # e.g. its failing flag
            for mailbox_id, target in wanted.items():
                if mailbox_id not in self.slots:
                    self.slots[mailbox_id] = slot = _Slot(target, phase=random.randrange(self.full_sync_every))
                    self._schedule(slot, random.uniform(0, min(target.interval, SPREAD)))
                    adopted.append(mailbox_id)
            keepers = self._keepers()
            for slot in self.slots.values():
                slot.keep = slot.target.mailbox_id in keepers
                if not slot.keep and not slot.busy:
                    closing.append(self._take_client(slot))
            self._cond.notify()
        for client in filter(None, closing):
            self._work.put(partial(close, client))
        self._update_stamps(adopted, [i for i in self._stamped_ids() if i not in wanted])

    def stats(self) -> dict[str, int]:
        """Counters since start, for the heartbeat (operators, benchmarks)."""
        with self._cond:
            kept = sum(1 for slot in self.slots.values() if slot.client is not None)
            return {"mailboxes": len(self.slots), "kept": kept, "checks": self.checks, "connects": self.connects,
                    "pushes": self.pushes}

    def healthy(self) -> dict[int, int]:
        """``{mailbox_id: tenant_id}`` of the mailboxes whose last check succeeded (the sweep re-pushes those).
        Not failing ones: every check pushes for those already, and a sync that keeps failing should not be retried
        more often than their interval."""
        with self._cond:
            return {i: s.target.tenant_id for i, s in self.slots.items()
                    if s.checks and not s.failures and not s.target.failing}

    def stop(self, deadline: float) -> None:
        """End the threads and log out of every kept connection, giving up at ``deadline`` (monotonic)."""
        with self._cond:
            self._stop.set()  # checks still queued only close their connection now
            clients = [self._retire(slot) for slot in self.slots.values()]
            self.slots, self._heap = {}, []
            self._cond.notify()
        for client in filter(None, clients):
            self._work.put(partial(close, client))
        for _serving in range(self.threads):
            self._work.put(None)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- scheduling (under self._cond) ----------------------------------------------------------------------------
    def _schedule(self, slot: _Slot, delay: float) -> None:
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), slot))

    def _retire(self, slot: _Slot) -> IMAPClient | None:
        slot.retired = True
        return None if slot.busy else self._take_client(slot)  # a busy slot's check thread closes it

    @staticmethod
    def _take_client(slot: _Slot) -> IMAPClient | None:
        client, slot.client = slot.client, None
        return client

    def _keepers(self) -> set[int]:
        short = sorted((s.target.interval, i) for i, s in self.slots.items() if s.target.interval <= self.keep_seconds)
        return {i for _interval, i in short[:self.pool_size]}

    def _dispatch(self) -> None:
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    slot = heapq.heappop(self._heap)[2]
                    if not slot.retired:
                        slot.busy = True
                        self._work.put(partial(self._check, slot))
                self._cond.wait(min(self._heap[0][0] - now, TICK) if self._heap else TICK)

    def _serve(self) -> None:
        with self.app.app_context():  # its own context, hence its own database session
            while (task := self._work.get()) is not None:
                try:
                    task()
                except Exception:  # only a bug gets here; the thread must live on
                    log.exception("poll task failed")
                finally:
                    db.session.remove()

    # -- one check (in a check thread) ----------------------------------------------------------------------------
    def _check(self, slot: _Slot) -> None:
        if self._stop.is_set():
            self._done(slot, 0)
            return
        target, delay = slot.target, float(slot.target.interval)
        try:
            values = self._status(slot)
            recovered = slot.failures > 0
            slot.checks += 1
            if (self._changed(slot, values) or recovered or target.failing
                    or (slot.checks + slot.phase) % self.full_sync_every == 0):
                self._push(target)
            slot.seen, slot.failures = values, 0  # only after the push: a failed push is retried next time
        except Exception as error:  # whatever broke, the cure is the same: wait longer, try again
            slot.failures += 1
            delay = max(delay, backoff_delay(slot.failures))
            log.warning("poll check failed", extra={
                "mailbox_id": target.mailbox_id, "error": f"{type(error).__name__}: {error}",
                "failures": slot.failures, "retry_in": round(delay, 1)})
        finally:
            self._update_stamps([target.mailbox_id], [])
            self._done(slot, delay)

    def _done(self, slot: _Slot, delay: float) -> None:
        with self._cond:
            slot.busy = False
            self.checks += 1
            client = self._take_client(slot) if slot.retired or not slot.keep else None
            if not slot.retired:
                self._schedule(slot, delay)
                self._cond.notify()
        if client is not None:
            close(client)

    def _status(self, slot: _Slot) -> dict[str, Signature]:
        if slot.client is not None:
            try:
                return folder_status(slot.client, slot.target.folders)
            except Exception:  # a kept connection may have gone stale (server restart, timeout): one fresh try
                with contextlib.suppress(Exception):
                    slot.client.shutdown()
                slot.client = None
        client = self._connect(slot.target)
        started = time.perf_counter()
        try:
            values = folder_status(client, slot.target.folders)
        except Exception as error:
            close(client)
            _record_status_failure(slot.target.mailbox_id, error, started)
            raise
        slot.client = client  # ``_done`` closes it unless the slot may keep it
        return values

    def _connect(self, target: PollTarget) -> IMAPClient:
        try:
            mailbox = db.session.get(Mailbox, target.mailbox_id)
            if mailbox is None:
                raise ConnectionLost("the mailbox was deleted")
            _direction, endpoint = endpoints(mailbox)[0]
            try:
                client = open_imap(endpoint)
            except MailError as error:
                _record(mailbox, error.results)
                raise
        finally:
            db.session.remove()
        with self._cond:
            self.connects += 1
        return client

    def _changed(self, slot: _Slot, values: dict[str, Signature]) -> bool:
        if slot.seen is not None:
            return values != slot.seen
        target = slot.target
        cursors = {c.folder: c for c in db.session.scalars(select(FolderCursor).where(
            FolderCursor.tenant_id == target.tenant_id, FolderCursor.mailbox_id == target.mailbox_id))}
        return any(folder not in cursors or cursors[folder].uidvalidity != validity or uidnext is None
                   or uidnext - 1 > cursors[folder].last_uid for folder, (validity, uidnext, _) in values.items())

    def _push(self, target: PollTarget) -> None:
        mark_dirty(self.region, target.mailbox_id)
        ensure_push_job(self.region, target.tenant_id, target.mailbox_id)
        with self._cond:
            self.pushes += 1

    # -- the scheduler's view ---------------------------------------------------------------------------------------
    def _update_stamps(self, checked: list[int], dropped: list[int]) -> None:
        if self._stop.is_set() or not (checked or dropped):
            return
        try:
            with region_redis(self.region).pipeline(transaction=False) as pipe:
                if checked:
                    pipe.hset(self.key, mapping=dict.fromkeys(checked, time.time()))
                if dropped:
                    pipe.hdel(self.key, *dropped)
                pipe.execute()
        except Exception:  # Redis hiccup: at worst the scheduler polls these mailboxes once too
            log.warning("could not stamp poll checks", extra={"region": self.region.name})

    def _stamped_ids(self) -> list[int]:
        with contextlib.suppress(Exception):
            return [int(i) for i in region_redis(self.region).hkeys(self.key)]
        return []


def folder_status(client: IMAPClient, folders: tuple[str, ...]) -> dict[str, Signature]:
    """``STATUS`` of each folder (no SELECT): what tells whether new mail may have arrived."""
    signatures = {}
    for folder in folders:
        status = client.folder_status(folder, STATUS_ITEMS)
        uidnext = int(status[b"UIDNEXT"]) if b"UIDNEXT" in status else None
        messages = int(status[b"MESSAGES"]) if uidnext is None else None  # no UIDNEXT: fall back on the count
        signatures[folder] = (int(status[b"UIDVALIDITY"]), uidnext, messages)
    return signatures


def _record(mailbox: Mailbox, results: list[StepResult]) -> None:
    """Like a failed sync: the mailbox's health shows that its server cannot be checked, not only our logs."""
    try:
        record_attempt(mailbox, ConnectionKind.SYNC, "inbound", results)
    except Exception:
        db.session.rollback()
        log.exception("could not record a failed poll check", extra={"mailbox_id": mailbox.id})


def _record_status_failure(mailbox_id: int, error: Exception, started: float) -> None:
    if isinstance(error, imaplib.IMAP4.error) and not isinstance(error, imaplib.IMAP4.abort):
        category, reason = "folder_missing", "the server refused STATUS for a configured folder"
    else:
        failure = classify(error)
        if failure is None:
            return  # a bug, not the server: logged by the caller
        category, reason = failure.category, failure.reason
    result = StepResult("folder", False, (time.perf_counter() - started) * 1000, category, {"reason": reason},
                        response_text(error))
    try:
        mailbox = db.session.get(Mailbox, mailbox_id)
        if mailbox is not None:
            _record(mailbox, [result])
    finally:
        db.session.remove()
