"""Poll-mode IMAP mailboxes checked by the IDLE supervisor against the real Dovecot: a STATUS per interval, a sync
pushed only when something changed, and the scheduler steps aside only while the supervisor lives.

Like test_idle.py, these tests commit for real (the supervisor's threads have their own sessions).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.connections.models import ConnectionLog
from app.extensions import db as _db
from app.inbound.services import mailboxes_due_for_poll
from app.mailboxes.models import Mailbox
from app.mailboxes.services import update_mailbox
from tenants.queues import region_redis
from tests.inbound import test_idle
from tests.inbound.test_idle import _change, _doveadm, _mail, _queued_push, _receipts, _sessions, wait_for
from worker.idle_poll import Poller, PollTarget

idle_mailbox, supervise, drain = test_idle.idle_mailbox, test_idle.supervise, test_idle.drain


@pytest.fixture
def poll_config(app, monkeypatch):
    """No safety-net syncs unless a test asks for them."""
    monkeypatch.setitem(app.config, "POLL_FULL_SYNC_EVERY", 10**9)  # its phase is random: make a hit unlikely


@pytest.fixture
def poll_mailbox(app, idle_mailbox, poll_config):
    """``make(interval=1, **settings)`` → a committed poll-mode mailbox polled every ``interval`` seconds (below
    what the forms allow, which is the point of a test)."""

    def make(interval: int = 1, **settings) -> int:
        mailbox_id = idle_mailbox(sync_mode="poll", **settings)
        with app.app_context():
            _db.session.get(Mailbox, mailbox_id).poll_interval = interval
            _db.session.commit()
            _db.session.remove()
        return mailbox_id

    return make


def _slot(supervisor, mailbox_id: int, checks: int = 1):
    slot = supervisor.poller.slots.get(mailbox_id)
    return slot if slot and slot.checks >= checks and not slot.busy else None


def _log_rows(app, mailbox_id: int) -> list[ConnectionLog]:
    with app.app_context():
        rows = _db.session.scalars(select(ConnectionLog).where(ConnectionLog.mailbox_id == mailbox_id)).all()
        _db.session.expunge_all()
        _db.session.remove()
    return rows


def _due(app) -> set[int]:
    with app.app_context():
        ids = {m.id for m in mailboxes_due_for_poll("default")}
        _db.session.remove()
    return ids


def test_new_mail_is_noticed_within_the_interval_and_nothing_is_pushed_without_it(app, poll_mailbox, supervise,
                                                                                    dovecot, mail_user, drain):
    mailbox_id = poll_mailbox(interval=1)
    supervisor = supervise()
    wait_for(lambda: _queued_push(app, mailbox_id), what="the first check to push a sync (never synced)")
    drain()
    slot = wait_for(lambda: _slot(supervisor, mailbox_id, checks=4), what="three quiet checks")
    assert not _queued_push(app, mailbox_id)
    assert slot.keep and supervisor.poller.connects == 1  # one kept connection for all the checks
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 1, what="one session at Dovecot")
    assert [r.ok for r in _log_rows(app, mailbox_id)] == [True]  # the sync; the quiet checks wrote nothing

    dovecot.append(mail_user.email, _mail("Polled"))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=2.5, what="a push within about the interval (1 s)")
    drain()
    assert _receipts(app, mailbox_id) == 1
    assert supervisor.poller.connects == 1


def test_without_a_kept_connection_each_check_logs_in_and_out(app, poll_mailbox, supervise, dovecot, mail_user,
                                                              drain, monkeypatch):
    monkeypatch.setitem(app.config, "POLL_KEEP_SECONDS", 0)
    mailbox_id = poll_mailbox(interval=1)
    supervisor = supervise()
    wait_for(lambda: _queued_push(app, mailbox_id), what="the first push")
    drain()
    wait_for(lambda: _slot(supervisor, mailbox_id, checks=3), what="quiet checks")
    assert supervisor.poller.connects >= 3 and not supervisor.poller.slots[mailbox_id].keep
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, what="no session between checks")
    dovecot.append(mail_user.email, _mail("Polled"))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=3, what="a push after the APPEND")


def test_a_kicked_connection_is_replaced_without_a_failure(app, poll_mailbox, supervise, dovecot, mail_user, drain):
    mailbox_id = poll_mailbox(interval=1)
    supervisor = supervise()
    wait_for(lambda: _queued_push(app, mailbox_id), what="the first push")
    drain()
    wait_for(lambda: _slot(supervisor, mailbox_id, checks=2), what="a quiet check")
    _doveadm(dovecot, "kick", mail_user.email)
    wait_for(lambda: supervisor.poller.connects == 2, what="a fresh connection")
    dovecot.append(mail_user.email, _mail("After the kick"))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=3, what="a push after the APPEND")
    assert supervisor.poller.slots[mailbox_id].failures == 0
    assert all(r.ok for r in _log_rows(app, mailbox_id))


def test_every_nth_check_pushes_a_sync_as_a_safety_net(app, poll_mailbox, supervise, drain, monkeypatch):
    mailbox_id = poll_mailbox(interval=1)
    monkeypatch.setitem(app.config, "POLL_FULL_SYNC_EVERY", 3)
    supervisor = supervise()
    wait_for(lambda: _queued_push(app, mailbox_id), what="the first push")
    drain()
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=5, what="a safety-net push within three checks")
    assert supervisor.poller.slots[mailbox_id].failures == 0


def test_the_scheduler_leaves_the_mailbox_alone_only_while_the_supervisor_lives(app, poll_mailbox, supervise,
                                                                                drain):
    mailbox_id = poll_mailbox(interval=1)
    assert mailbox_id in _due(app)  # never synced: due
    supervisor = supervise()
    wait_for(lambda: _queued_push(app, mailbox_id), what="the first push")
    drain()
    time.sleep(1.2)  # its last sync is older than its interval now
    wait_for(lambda: _slot(supervisor, mailbox_id, checks=2), what="a check")
    assert mailbox_id not in _due(app)

    supervisor.request_stop()
    supervisor.thread.join(10)
    assert mailbox_id in _due(app)  # the heartbeat went with the supervisor

    supervisor = supervise(reload_seconds=30)  # its next heartbeat is far off
    wait_for(lambda: _slot(supervisor, mailbox_id), what="a check by a new supervisor")
    assert mailbox_id not in _due(app)
    region_redis(supervisor.region).delete("postroom:idle:default:heartbeat")  # expired, as if killed hard
    assert mailbox_id in _due(app)


def test_a_refused_login_is_logged_and_backs_off_without_pushing(app, poll_mailbox, supervise):
    mailbox_id = poll_mailbox(interval=1, inbound_password="not the password")
    supervisor = supervise()
    slot = wait_for(lambda: (s := supervisor.poller.slots.get(mailbox_id)) and s.failures >= 2 and s, timeout=10,
                    what="two failed checks")
    rows = _log_rows(app, mailbox_id)
    assert rows and {(r.ok, r.category) for r in rows} == {(False, "auth_failed")}
    assert not _queued_push(app, mailbox_id) and slot.checks == 0
    with app.app_context():
        assert _db.session.get(Mailbox, mailbox_id).failure_streak == len(rows)
        _db.session.remove()
    assert mailbox_id not in _due(app)  # the supervisor owns it, failing or not: no second poller


def test_a_missing_folder_is_logged_as_such(app, poll_mailbox, supervise):
    mailbox_id = poll_mailbox(interval=1, folders=["INBOX", "Nowhere"])
    supervisor = supervise()
    wait_for(lambda: (s := supervisor.poller.slots.get(mailbox_id)) and s.failures >= 1, what="a failed check")
    assert {(r.ok, r.step, r.category) for r in _log_rows(app, mailbox_id)} == {(False, "folder", "folder_missing")}


def test_pausing_or_switching_to_idle_drops_the_poll_connection(app, poll_mailbox, supervise, dovecot, mail_user):
    mailbox_id = poll_mailbox(interval=1)
    supervisor = supervise()
    wait_for(lambda: _slot(supervisor, mailbox_id), what="a check")
    assert _sessions(dovecot, mail_user.email) == 1
    _change(app, mailbox_id, lambda mailbox: update_mailbox(mailbox, {"sync_mode": "idle", "poll_interval": 60}))
    wait_for(lambda: mailbox_id not in supervisor.poller.slots and mailbox_id in supervisor.watchers,
             what="the poll slot to make way for a watcher")
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 1, what="only the IDLE session")


def test_the_pool_keeps_the_shortest_intervals_first(app):
    from tenants.regions import get_region

    with app.app_context():
        poller = Poller(app, get_region("default"), pool_size=2, keep_seconds=300, full_sync_every=10, threads=0)
    poller.reconcile({i: PollTarget(i, 1, f"fp{i}", interval, ("INBOX",))
                      for i, interval in [(1, 120), (2, 30), (3, 600), (4, 60)]})
    assert {i for i, slot in poller.slots.items() if slot.keep} == {2, 4}
    poller.reconcile({i: PollTarget(i, 1, f"fp{i}", 120, ("INBOX",)) for i in (1, 3)})  # 3 now polls often
    assert {i for i, slot in poller.slots.items() if slot.keep} == {1, 3}


def test_sigterm_also_logs_out_of_kept_poll_connections(app, poll_mailbox, supervise, dovecot, mail_user):
    mailbox_id = poll_mailbox(interval=1)
    supervisor = supervise(reload_seconds=30)
    wait_for(lambda: _slot(supervisor, mailbox_id), what="a check")
    started = time.monotonic()
    supervisor.request_stop()
    supervisor.thread.join(5)
    assert not supervisor.thread.is_alive() and time.monotonic() - started < 5
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, what="Dovecot to see the session end")
    assert region_redis(supervisor.region).exists(supervisor.poller.key) == 0

