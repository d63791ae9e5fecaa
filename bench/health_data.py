"""The health-page benchmark's data set: one tenant with 200 mailboxes and 30 days of their communication log (a
sync every 10 minutes each, about 2 % failing), the hourly roll-ups made from that log, a day of mail in and out,
and 2,000 open or pending tickets over 10 queues. The log is written by COPY; the roll-ups by one INSERT … SELECT
that groups the log exactly as the live counting does."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bench.harness import Context
from bench.inbox_data import _copy, _timed

PASSWORD = secrets.token_urlsafe(16)  # the admin's password, new every run
MAILBOXES, DAYS, SYNC_MINUTES, QUEUES, TICKETS, MAIL_PER_DAY = 200, 30, 10, 10, 2000, 20
_BOUNDS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def load(ctx: Context) -> dict:
    rng = random.Random(20261123)
    now = datetime.now(UTC)
    account = _account(ctx, rng, now)
    url = make_url(ctx.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        with _timed(timings, "communication log (COPY)"):
            logs = _copy_log(conn, rng, account, now, ctx.scaled(DAYS))
        with _timed(timings, "hourly roll-ups"):
            conn.execute(_ROLLUP_SQL, {"tenant_id": account["id"]})
        with _timed(timings, "a day of mail in and out (COPY)"):
            _copy_mail(conn, rng, account, now)
        conn.execute("SELECT setval(pg_get_serial_sequence('connection_logs', 'id'), "
                     "(SELECT max(id) FROM connection_logs))")
        with _timed(timings, "VACUUM ANALYZE"):
            conn.execute("VACUUM ANALYZE")
        hours = conn.execute("SELECT count(*) FROM mailbox_hours").fetchone()[0]
    return {**account, "logs": logs, "hours": hours, "timings": timings}


def _account(ctx: Context, rng: random.Random, now: datetime) -> dict:
    """The tenant, its admin, mailboxes, queues and tickets, through the ORM (thousands of rows, not millions)."""
    from app.auth.models import User
    from app.extensions import db
    from app.mailboxes.models import Mailbox, MailboxStatus
    from app.queues.models import Queue
    from app.tickets.models import Ticket, TicketStatus
    from tenants.models import Membership, Role, Tenant

    with ctx.app.app_context():
        tenant = Tenant(slug="health", name="Health", region="default", ticket_prefix="HEALTH")
        admin = User(email="admin@health.bench.test", name="Admin")
        admin.set_password(PASSWORD)
        db.session.add_all([tenant, admin, Membership(tenant=tenant, user=admin, role=Role.ADMIN)])
        db.session.flush()
        queues = [Queue(tenant_id=tenant.id, name=f"Queue {n}") for n in range(QUEUES)]
        statuses = [MailboxStatus.FAILING] * 4 + [MailboxStatus.PAUSED] * 2 + [MailboxStatus.ACTIVE] * (MAILBOXES - 6)
        mailboxes = [Mailbox(tenant_id=tenant.id, name=f"Mailbox {n:03}", address=f"box{n:03}@health.bench.test",
                             inbound_host="imap.health.bench.test", inbound_port=993,
                             inbound_username=f"box{n:03}@health.bench.test", status=statuses[n],
                             failure_streak=5 if statuses[n] == MailboxStatus.FAILING else 0,
                             last_failure_category="auth_failed" if statuses[n] == MailboxStatus.FAILING else None,
                             last_synced_at=now - timedelta(minutes=rng.randint(0, SYNC_MINUTES)))
                     for n in range(MAILBOXES)]
        db.session.add_all(queues + mailboxes)
        db.session.flush()
        db.session.execute(insert(Ticket), [
            {"tenant_id": tenant.id, "number": n + 1, "reference": f"HEALTH-{n + 1}", "subject": f"Ticket {n + 1}",
             "status": TicketStatus.OPEN if n % 3 else TicketStatus.PENDING, "queue_id": queues[n % QUEUES].id,
             "mailbox_id": mailboxes[n % MAILBOXES].id, "updated_at": now - timedelta(minutes=rng.randint(1, 10_000))}
            for n in range(ctx.scaled(TICKETS))])
        db.session.commit()
        account = {"id": tenant.id, "slug": tenant.slug, "email": admin.email,
                   "mailboxes": [m.id for m in mailboxes]}
        db.session.remove()
    return account


def _copy_log(conn: psycopg.Connection, rng: random.Random, account: dict, now: datetime, days: int) -> int:
    start, step = now - timedelta(days=days), timedelta(minutes=SYNC_MINUTES)
    count = 0

    def rows():
        nonlocal count
        for mailbox_id in account["mailboxes"]:
            at = start + timedelta(seconds=rng.randint(0, SYNC_MINUTES * 60))
            while at < now:
                ok = rng.random() > 0.02
                count += 1
                yield (account["id"], mailbox_id, "sync", "inbound", at, round(rng.lognormvariate(4.5, 0.6), 1), ok,
                       None if ok else "timeout", None if ok else "login")
                at += step

    _copy(conn, "connection_logs", ["tenant_id", "mailbox_id", "kind", "direction", "started_at", "duration_ms", "ok",
                                    "category", "step"], rows())
    return count


def _copy_mail(conn: psycopg.Connection, rng: random.Random, account: dict, now: datetime) -> None:
    day = timedelta(days=1).total_seconds()
    receipts, outgoing = [], []
    for index, mailbox_id in enumerate(account["mailboxes"]):
        for n in range(MAIL_PER_DAY):
            at = now - timedelta(seconds=rng.uniform(0, day))
            receipts.append((account["id"], mailbox_id, "INBOX", 1, index * 1000 + n, f"{index:04}{n:060}", 2048,
                             "ingested", at, 0))
            if n % 2:
                outgoing.append((account["id"], mailbox_id, "notification", False, f"<{index}.{n}@bench>",
                                 "box@health.bench.test", "[]", "", "", b"x", "sent", at, 1))
    _copy(conn, "receipts", ["tenant_id", "mailbox_id", "folder", "uidvalidity", "uid", "sha256", "size", "status",
                             "received_at", "attempts"], receipts)
    _copy(conn, "outgoing_mails", ["tenant_id", "mailbox_id", "kind", "automatic", "rfc_message_id", "mail_from",
                                   "recipients", "recipient_key", "subject", "raw", "status", "created_at", "attempts"],
          outgoing)


_BUCKETS = ",\n".join(
    f"    sum(CASE WHEN duration_ms {'<= ' + str(b) if b else '> 30000'}"
    f"{' AND duration_ms > ' + str(_BOUNDS[i - 1]) if i and b else ''} THEN 1 ELSE 0 END) AS lat_{i}"
    for i, b in enumerate((*_BOUNDS, None)))
_ROLLUP_SQL = f"""
INSERT INTO mailbox_hours (tenant_id, mailbox_id, hour, attempts, ok, {", ".join(f"lat_{i}" for i in range(10))})
SELECT tenant_id, mailbox_id, date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*),
    sum(CASE WHEN ok THEN 1 ELSE 0 END),
{_BUCKETS}
FROM connection_logs WHERE tenant_id = %(tenant_id)s
GROUP BY tenant_id, mailbox_id, date_trunc('hour', started_at AT TIME ZONE 'UTC')
"""  # noqa: S608 (column names from this module, the tenant id a parameter)
