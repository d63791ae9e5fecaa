"""The IMAP IDLE supervisor against the real Dovecot: pushes become sync jobs, connections follow the mailboxes'
settings, survive a kick and a renewal, and end on SIGTERM.

The supervisor's threads use their own database sessions, so these tests commit for real (no per-test
transaction) and delete their tenant afterwards.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from app.extensions import db as _db
from app.inbound.models import Receipt
from app.mailboxes.models import Mailbox
from app.mailboxes.services import create_mailbox, pause_mailbox, resume_mailbox, update_mailbox
from tenants.models import Tenant
from tenants.queues import region_queue, region_redis
from tenants.regions import get_region
from worker.idle import IdleSupervisor, install_signal_handlers
from worker.jobs.push import dirty_key, push_job_id


def _mail(subject: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ada@customer.test", "support@acme.test", subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@customer.test>"
    message.set_content("The printer is jammed again.")
    return bytes(message)


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    """Poll ``predicate``; a state Dovecot reports through ``doveadm`` (a process per look) gets longer under load:
    those waits pass their own timeout."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return result


@pytest.fixture
def idle_mailbox(app, dovecot, mail_user, mail_ca):
    """``make(**settings)`` → the id of a committed IDLE-mode mailbox on Dovecot, in a fresh tenant."""
    tenant_ids = []

    def make(**settings) -> int:
        with app.app_context():
            tenant = Tenant(slug=f"idle-{secrets.token_hex(4)}", name="Idle", region="default",
                            default_locale="en", timezone="UTC")
            _db.session.add(tenant)
            _db.session.commit()
            tenant_ids.append(tenant.id)
            mailbox = create_mailbox(tenant, {
                "name": "Support", "address": "support@acme.test", "inbound_host": dovecot.host,
                "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
                "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none",
                "sync_mode": "idle", **settings})
            mailbox_id = mailbox.id
            _db.session.remove()
        return mailbox_id

    yield make
    with app.app_context():
        _db.session.execute(delete(Tenant).where(Tenant.id.in_(tenant_ids)))
        _db.session.commit()
        _db.session.remove()


@pytest.fixture
def supervise(app):
    """``start(reload_seconds=0.2)`` → a supervisor for region ``default`` running in a background thread."""
    running = []

    def start(reload_seconds: float = 0.2) -> IdleSupervisor:
        supervisor = IdleSupervisor(app, "default", reload_seconds=reload_seconds)
        thread = threading.Thread(target=supervisor.run, name="idle-supervisor", daemon=True)
        thread.start()
        running.append((supervisor, thread))
        supervisor.thread = thread
        return supervisor

    yield start
    for supervisor, thread in running:
        supervisor.request_stop()
        thread.join(10)
        assert not thread.is_alive()


@pytest.fixture
def drain(app, run_jobs):
    """Run the queued jobs as a worker would (the suite's ``run_jobs`` wants an app context)."""

    def run() -> None:
        with app.app_context():
            run_jobs()

    return run


def _doveadm(dovecot, *args: str) -> str:
    return subprocess.run(["doveadm", "-c", str(dovecot.conf_path), *args], capture_output=True, text=True,
                          check=True, timeout=10).stdout


def _sessions(dovecot, email: str) -> int:
    """IMAP connections Dovecot holds for ``email`` (its own view, not the client's)."""
    return sum(1 for line in _doveadm(dovecot, "who", "-1", email).splitlines() if line.split()[:1] == [email])


def _queued_push(app, mailbox_id: int) -> bool:
    with app.app_context():
        return push_job_id(mailbox_id) in region_queue(get_region("default"), "poll").get_job_ids()


def _idling(supervisor: IdleSupervisor, mailbox_id: int, connects: int = 1):
    watcher = supervisor.watchers.get(mailbox_id)
    return watcher if watcher and watcher.state == "idling" and watcher.connects >= connects else None


def _default_region(app):
    with app.app_context():
        return get_region("default")


def _receipts(app, mailbox_id: int) -> int:
    with app.app_context():
        count = len(_db.session.scalars(select(Receipt).where(Receipt.mailbox_id == mailbox_id)).all())
        _db.session.remove()
    return count


def _thread(app, mailbox_id: int) -> list[tuple[str, str]]:
    """(subject, thread_reason) of the mailbox's messages, if they all belong to one ticket."""
    from app.tickets.models import Message

    with app.app_context():
        messages = _db.session.scalars(select(Message).where(Message.mailbox_id == mailbox_id)
                                       .order_by(Message.id)).all()
        tickets = {m.ticket_id for m in messages}
        result = [(m.subject, m.thread_reason.value) for m in messages] if len(tickets) == 1 else []
        _db.session.remove()
    return result


def test_new_mail_is_pushed_as_a_sync_job_and_the_job_stores_it(app, idle_mailbox, supervise, dovecot, mail_user,
                                                                drain):
    mailbox_id = idle_mailbox()
    supervisor = supervise()
    watcher = wait_for(lambda: _idling(supervisor, mailbox_id), what="the watcher to idle")
    assert _queued_push(app, mailbox_id)  # one sync right after connecting, for mail that came meanwhile
    drain()
    assert not _queued_push(app, mailbox_id) and _receipts(app, mailbox_id) == 0

    pushed = message_from_bytes(_mail("Pushed"))
    dovecot.append(mail_user.email, bytes(pushed))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=2, what="a push sync job")
    drain()
    assert _receipts(app, mailbox_id) == 1
    reply = message_from_bytes(_mail("Re: Pushed"))
    reply["In-Reply-To"] = pushed["Message-ID"]
    dovecot.append(mail_user.email, bytes(reply))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=2, what="a push sync job for the reply")
    drain()
    assert _thread(app, mailbox_id) == [("Pushed", "new"), ("Re: Pushed", "in_reply_to")]  # one ticket, two messages
    assert region_redis(supervisor.region).get(dirty_key(mailbox_id)) is None  # the sync cleared the push
    assert (watcher.connects, watcher.renewals) == (1, 0)

    beat = region_redis(supervisor.region)
    assert beat.ttl("postroom:idle:default:heartbeat") > 0
    assert beat.hget("postroom:idle:default:states", str(mailbox_id)) == b"idling"
    assert float(beat.hget("postroom:idle:default:mailboxes", str(mailbox_id))) <= time.time()


def test_a_push_during_a_running_sync_is_not_lost(app, idle_mailbox, dovecot, mail_user, monkeypatch):
    """The sync's SEARCH ran before the new mail arrived: the job sees the push counter moved and syncs again."""
    import worker.jobs.push as push
    from app.inbound import services

    mailbox_id = idle_mailbox()
    region = _default_region(app)
    real_sync = services.sync_mailbox
    calls = []

    def sync_then_mail_arrives(mailbox, **kwargs):
        result = real_sync(mailbox, **kwargs)
        if not calls:
            dovecot.append(mail_user.email, _mail("During the sync"))
            push.mark_dirty(region, mailbox_id)  # what the watcher does on the EXISTS that follows
        calls.append(result)
        return result

    monkeypatch.setattr(push, "sync_mailbox", sync_then_mail_arrives)
    with app.app_context():
        push.mark_dirty(region, mailbox_id)
        assert push.push_sync_job(mailbox_id) == {"INBOX": {"stored": 1, "duplicates": 0}}
    assert len(calls) == 2 and _receipts(app, mailbox_id) == 1
    assert region_redis(region).get(dirty_key(mailbox_id)) is None


def test_pausing_or_switching_to_polling_drops_the_connection(app, idle_mailbox, supervise, dovecot, mail_user):
    mailbox_id = idle_mailbox()
    supervisor = supervise()
    wait_for(lambda: _idling(supervisor, mailbox_id), what="the watcher to idle")
    assert wait_for(lambda: _sessions(dovecot, mail_user.email) == 1, what="Dovecot to see one session")

    _change(app, mailbox_id, pause_mailbox)
    wait_for(lambda: mailbox_id not in supervisor.watchers, what="the watcher to be dropped")
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, 15, what="Dovecot to see the session end")

    _change(app, mailbox_id, resume_mailbox)
    wait_for(lambda: _idling(supervisor, mailbox_id), what="a watcher after resuming")
    _change(app, mailbox_id, lambda mailbox: update_mailbox(mailbox, {"sync_mode": "poll"}))
    wait_for(lambda: mailbox_id not in supervisor.watchers, what="the watcher to be dropped")
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, 15, what="Dovecot to see the session end")


def _change(app, mailbox_id: int, action) -> None:
    with app.app_context():
        action(_db.session.get(Mailbox, mailbox_id))
        _db.session.remove()


def _kill_session(dovecot, email: str) -> None:
    """The server process dies without a word (no BYE): the client only sees the socket close."""
    (line,) = [line for line in _doveadm(dovecot, "who", "-1", email).splitlines() if line.split()[:1] == [email]]
    os.kill(int(line.split()[2]), signal.SIGKILL)


@pytest.mark.parametrize("breakage", ["kick", "kill"])
def test_a_broken_connection_comes_back_and_still_sees_new_mail(app, idle_mailbox, supervise, dovecot, mail_user,
                                                                drain, breakage):
    mailbox_id = idle_mailbox()
    supervisor = supervise()
    wait_for(lambda: _idling(supervisor, mailbox_id), what="the watcher to idle")
    drain()

    if breakage == "kick":
        _doveadm(dovecot, "kick", mail_user.email)  # the server ends the session with a BYE, as on a restart
    else:
        _kill_session(dovecot, mail_user.email)
    watcher = wait_for(lambda: _idling(supervisor, mailbox_id, connects=2), what="a reconnect")
    drain()  # the sync after reconnecting
    dovecot.append(mail_user.email, _mail("After the kick"))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=2, what="a push sync job")
    drain()
    assert _receipts(app, mailbox_id) == 1 and watcher is supervisor.watchers[mailbox_id]


def test_idle_is_renewed_and_still_sees_mail(app, idle_mailbox, supervise, dovecot, mail_user, drain,
                                             monkeypatch):
    monkeypatch.setitem(app.config, "IDLE_RENEW_SECONDS", 1)
    mailbox_id = idle_mailbox()
    supervisor = supervise()
    watcher = wait_for(lambda: _idling(supervisor, mailbox_id), what="the watcher to idle")
    drain()
    wait_for(lambda: watcher.renewals >= 2, what="two renewals")
    dovecot.append(mail_user.email, _mail("After renewing"))
    wait_for(lambda: _queued_push(app, mailbox_id), timeout=2, what="a push sync job")
    assert watcher.connects == 1


def test_sigterm_closes_every_connection_within_seconds(app, idle_mailbox, supervise, dovecot, mail_user):
    mailbox_id = idle_mailbox()
    supervisor = supervise(reload_seconds=30)  # the stop must not wait for the next reload
    wait_for(lambda: _idling(supervisor, mailbox_id), what="the watcher to idle")
    watcher = supervisor.watchers[mailbox_id]
    previous = install_signal_handlers(supervisor)
    try:
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        supervisor.thread.join(5)
        assert not supervisor.thread.is_alive() and time.monotonic() - started < 5
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert watcher.state == "stopped"
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, 15, what="Dovecot to see the session end")
    assert region_redis(supervisor.region).exists("postroom:idle:default:heartbeat") == 0


def test_a_refused_login_is_logged_like_a_failed_sync_and_retried_with_backoff(app, idle_mailbox, supervise):
    from app.connections.models import ConnectionKind, ConnectionLog

    mailbox_id = idle_mailbox(inbound_password="not the password")
    supervisor = supervise()
    watcher = wait_for(lambda: supervisor.watchers.get(mailbox_id), what="a watcher")
    wait_for(lambda: watcher.state == "backoff", what="the watcher to back off")
    with app.app_context():
        entries = _db.session.scalars(select(ConnectionLog).where(ConnectionLog.mailbox_id == mailbox_id)).all()
        assert entries
        assert {(e.kind, e.ok, e.category) for e in entries} == {(ConnectionKind.SYNC, False, "auth_failed")}
        assert _db.session.get(Mailbox, mailbox_id).failure_streak == len(entries)
        _db.session.remove()
    assert watcher.connects == 0 and not _queued_push(app, mailbox_id)


def test_flask_idle_refuses_an_unknown_region(app):
    from flask.cli import FlaskGroup

    result = app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: app), ["idle", "--region", "mars"])
    assert result.exit_code == 1 and "unknown region 'mars'" in result.output


def test_flask_idle_as_operators_run_it_holds_the_connection_and_stops_on_sigterm(app, idle_mailbox, dovecot,
                                                                                  mail_user, tmp_path):
    import sys

    mailbox_id = idle_mailbox()
    config = app.config
    env = {**os.environ, "POSTROOM_ENV": "testing", "POSTROOM_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
           "POSTROOM_REDIS_URL": config["REDIS_URL"], "POSTROOM_REGIONS": config["REGIONS"],
           "POSTROOM_ENCRYPTION_KEYS": ",".join(config["ENCRYPTION_KEYS"]), "POSTROOM_ALLOW_PRIVATE_HOSTS": "1",
           "POSTROOM_IDLE_RELOAD_SECONDS": "1"}
    log = tmp_path / "idle.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "idle", "--region", "default"],
                                   env=env, stdout=out, stderr=out, cwd=Path(__file__).resolve().parents[2])
    redis = region_redis(_default_region(app))
    try:
        wait_for(lambda: redis.hget("postroom:idle:default:states", str(mailbox_id)) == b"idling"
                 or process.poll() is not None, timeout=20, what="the process's heartbeat")
        assert process.poll() is None, log.read_text()
        assert _sessions(dovecot, mail_user.email) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert redis.exists("postroom:idle:default:heartbeat") == 0
    wait_for(lambda: _sessions(dovecot, mail_user.email) == 0, 15, what="Dovecot to see the session end")
