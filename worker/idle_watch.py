"""One IMAP IDLE connection per mailbox, each in its own thread, turning the server's pushes into sync jobs.

A watcher connects (fresh endpoints every time: OAuth access tokens rotate), selects the mailbox's first folder
read-only, pushes once for mail that arrived while it was away, then idles: every ``EXISTS``/``RECENT`` is a push
(``worker.jobs.push``). It re-issues IDLE before servers drop it, and on any failure closes, backs off (1 s doubling
to 5 min, with jitter) and reconnects, until it is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass

from flask import Flask
from imapclient import IMAPClient

from app.connections.models import ConnectionKind
from app.connections.services import endpoints, record_attempt
from app.extensions import db
from app.mail.imap import close
from app.mail.sessions import MailError, open_imap
from app.mailboxes.models import Mailbox
from tenants.regions import Region
from worker.jobs.push import ensure_push_job, mark_dirty

log = logging.getLogger(__name__)

STACK_SIZE = 512 * 1024  # a watcher needs little stack; thousands of default 8 MB stacks would not fit
TICK = 1.0  # how long one wait for the server lasts before the watcher looks at its stop flag again
BACKOFF_START, BACKOFF_CAP = 1.0, 300.0
STABLE_AFTER = 60.0  # a connection that lived this long was not part of an outage: the back-off starts over
NEW_MAIL = (b"EXISTS", b"RECENT")


@dataclass(frozen=True)
class Target:
    """What a watcher needs to know about its mailbox; ``fingerprint`` changes when the connection would."""

    mailbox_id: int
    tenant_id: int
    fingerprint: str


class ConnectionLost(Exception):
    """The server ended the session, or the mailbox can no longer be connected to."""


def backoff_delay(failures: int, rng: random.Random | None = None) -> float:
    """Half the doubled delay plus up to as much again at random, so a server's comeback is not stampeded."""
    base = min(BACKOFF_CAP, BACKOFF_START * 2 ** max(failures - 1, 0))
    return base / 2 + (rng or random).uniform(0, base / 2)


class Watcher:
    """Holds one mailbox's IDLE connection in a daemon thread; ``state`` and the counters are for the supervisor's
    heartbeat and for tests."""

    def __init__(self, app: Flask, region: Region, target: Target, *, renew_seconds: float) -> None:
        self.app, self.region, self.target, self.renew_seconds = app, region, target, renew_seconds
        self.state, self.last_event = "starting", time.time()
        self.connects = self.renewals = self.pushes = 0
        self._stop = threading.Event()
        self._idling = False
        self._thread = threading.Thread(target=self._run, name=f"idle-{target.mailbox_id}", daemon=True)

    def start(self) -> Watcher:
        previous = threading.stack_size(STACK_SIZE)  # process-wide: set only while creating our own thread
        try:
            self._thread.start()
        finally:
            threading.stack_size(previous)
        return self

    def stop(self) -> None:
        """Ask the thread to end (IDLE done, LOGOUT) within about ``TICK``; does not wait."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _event(self, state: str) -> None:
        self.state, self.last_event = state, time.time()

    def _run(self) -> None:
        with self.app.app_context():  # its own context, hence its own database session
            failures = 0
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._session()
                except Exception as error:  # whatever broke, the cure is the same: close, wait, reconnect
                    failures = 1 if time.monotonic() - started >= STABLE_AFTER else failures + 1
                    self._back_off(error, failures)
            self._event("stopped")

    def _session(self) -> None:
        client = self._connect()
        try:
            self.connects += 1
            self._push()  # mail that arrived while we were not connected
            self._watch(client)
        finally:
            self._close(client)

    def _connect(self) -> IMAPClient:
        self._event("connecting")
        try:
            mailbox = db.session.get(Mailbox, self.target.mailbox_id)
            if mailbox is None:
                raise ConnectionLost("the mailbox was deleted")
            _direction, endpoint = endpoints(mailbox)[0]
            try:
                client = open_imap(endpoint)
            except MailError as error:
                _record_failure(mailbox, error)
                raise
        finally:
            db.session.remove()  # no session may outlive the connect: the thread idles for hours
        try:
            client.select_folder(endpoint.folder, readonly=True)
            if not client.has_capability("IDLE"):
                raise ConnectionLost("the server does not support IDLE")
        except BaseException:
            close(client)
            raise
        return client

    def _watch(self, client: IMAPClient) -> None:
        while not self._stop.is_set():
            client.idle()
            self._idling = True
            self._event("idling")
            self._idle_until(client, time.monotonic() + self.renew_seconds)
            self._idling = False
            self._handle(client.idle_done()[1])  # DONE fails on a closed connection: that is how we notice one
            self.renewals += 1

    def _idle_until(self, client: IMAPClient, deadline: float) -> None:
        while not self._stop.is_set():
            wait = min(TICK, deadline - time.monotonic())
            if wait <= 0:
                return
            started = time.monotonic()
            responses = client.idle_check(timeout=wait)
            self._handle(responses)
            if not responses and time.monotonic() - started < wait / 2:
                return  # readable yet nothing to read: likely end of file, which idle_check does not report

    def _handle(self, responses: list) -> None:
        if any(r and r[0] == b"BYE" for r in responses):
            raise ConnectionLost("the server said BYE")
        if any(len(r) > 1 and r[1] in NEW_MAIL for r in responses):
            self._push()

    def _push(self) -> None:
        mark_dirty(self.region, self.target.mailbox_id)
        ensure_push_job(self.region, self.target.tenant_id, self.target.mailbox_id)
        self.pushes += 1
        self.last_event = time.time()

    def _close(self, client: IMAPClient) -> None:
        if self._idling:
            self._idling = False
            with contextlib.suppress(Exception):  # a broken connection cannot end IDLE; LOGOUT falls back too
                client.idle_done()
        close(client)

    def _back_off(self, error: Exception, failures: int) -> None:
        delay = backoff_delay(failures)
        self._event("backoff")
        log.warning("IDLE connection lost, reconnecting", extra={
            "mailbox_id": self.target.mailbox_id, "error": f"{type(error).__name__}: {error}", "failures": failures,
            "retry_in": round(delay, 1)})
        self._stop.wait(delay)


def _record_failure(mailbox: Mailbox, error: MailError) -> None:
    """Like a failed sync: the mailbox's health shows that its server cannot be reached, not only our logs."""
    try:
        record_attempt(mailbox, ConnectionKind.SYNC, "inbound", error.results)
    except Exception:
        db.session.rollback()
        log.exception("could not record a failed IDLE connection", extra={"mailbox_id": mailbox.id})
