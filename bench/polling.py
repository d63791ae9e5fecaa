"""CPU cost of polling 1,000 quiet IMAP mailboxes every 60 s: the IDLE supervisor's STATUS checks against a full
sync job per mailbox and interval.

Set-up: 1,000 Dovecot users and 1,000 poll-mode IMAPS mailboxes (60 s interval, nothing new arrives), two real
``flask --app wsgi worker --queues poll,ingest,default`` processes and a ``flask --app wsgi scheduler``. Measured:
CPU time (user + system, from ``/proc/<pid>/stat``) of these processes -- including the work horses RQ forks per
job, reaped or alive -- over a window of 180 s after a warm-up, as a share of one core.

Baseline: the old path, no supervisor: the scheduler's ``poll_due_mailboxes`` (every 15 s) enqueues a full sync per
due mailbox -- fork, TLS login, SELECT, SEARCH, LOGOUT and a communication-log row.

Postroom: the same processes plus ``flask --app wsgi idle``, which checks each mailbox with STATUS at its interval
(200 kept connections by default, ``POSTROOM_POLL_POOL_SIZE``; the others log in and out) and pushes a sync only on
change or as the safety net (every 15th check), while the scheduler skips the mailboxes it checks. A second run
with a pool of 1,000 shows the cost with every connection kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select

from bench.harness import Context, Figure, Result
from bench.processes import Role, cpu_seconds, rss_mib, wait_until

TITLE = "Polling 1,000 mailboxes every 60 s"
TARGET = "≤ 25% of one core in the pollers (supervisor, scheduler and workers)"
MAX_SHARE = 25.0
MAILBOXES = 1_000
INTERVAL = 60
WINDOW = 180.0
SETTLE = 30.0  # after the first round of syncs or checks, before the window opens
WORKERS = 2
QUEUES = "poll,ingest,default"


@dataclass
class Phase:
    name: str
    share: float  # % of one core
    cpu: float
    syncs: int  # sync attempts in the window (communication-log rows)
    checks: int | None = None  # STATUS checks in the window (supervisor only)
    connects: int | None = None
    dovecot: float = 0.0  # % of one core, Dovecot's processes (approximate)
    rss: float | None = None  # supervisor, MiB

    def row(self) -> str:
        parts = [f"{self.share:.1f}% of a core ({self.cpu:.1f} CPU-s in {WINDOW:.0f} s)",
                 f"{self.syncs * 60 / WINDOW:,.0f} syncs/min"]
        if self.checks is not None:
            parts.append(f"{self.checks * 60 / WINDOW:,.0f} STATUS checks/min, {self.connects * 60 / WINDOW:,.0f} "
                         "logins/min")
        if self.rss is not None:
            parts.append(f"supervisor RSS {self.rss:,.0f} MiB")
        parts.append(f"Dovecot ≈ {self.dovecot:.0f}% of a core")
        return "; ".join(parts)


def run(ctx: Context) -> Result:
    count = ctx.scaled(MAILBOXES)
    mailbox_ids = _set_up(ctx, count)
    baseline = _scheduler_only(ctx, mailbox_ids)
    postroom = _with_supervisor(ctx, mailbox_ids, pool=None)
    whole_pool = _with_supervisor(ctx, mailbox_ids, pool=count)
    per_sync = baseline.cpu / baseline.syncs if baseline.syncs else 0.0  # CPU-s per full sync job
    needed = count * WINDOW / INTERVAL  # syncs the baseline owes in the window
    return Result(
        postroom=Figure(postroom.share, "% of a core", "supervisor STATUS checks (pool of 200) + scheduler + workers"),
        baseline=Figure(baseline.share, "% of a core", "a full sync job per mailbox and interval"),
        ratio=postroom.share / baseline.share if baseline.share else None, passed=postroom.share <= MAX_SHARE,
        details=[
            ("baseline: scheduler + full sync jobs", baseline.row()),
            ("- a full sync job costs (baseline CPU ÷ syncs)", f"{per_sync * 1000:.0f} ms of CPU"),
            (f"- baseline projected to all {count:,} mailboxes every {INTERVAL} s (computed)",
             f"{100 * per_sync * needed / WINDOW:.0f}% of a core" + (
                 "; it fell behind in this run" if baseline.syncs < 0.95 * needed else "")),
            ("Postroom: supervisor (pool 200) + scheduler + workers", postroom.row()),
            ("- of which safety-net syncs (computed: syncs times the cost of a sync)",
             f"{100 * per_sync * postroom.syncs / WINDOW:.1f}% of a core"),
            (f"Postroom with a pool of {count:,} (every connection kept)", whole_pool.row()),
            ("mailboxes", f"{count:,} quiet IMAPS mailboxes polled every {INTERVAL} s; {WORKERS} forking workers"),
        ],
        notes=[
            "CPU time is user + system from /proc/<pid>/stat of the poller processes, their threads and every "
            "process they forked (RQ work horses), measured over the window; the share is of one core.",
            "Dovecot's share is the server side (imap and imap-login processes), approximate, and not part of the "
            "target; PostgreSQL and Redis are not counted either.",
            "The ratio is Postroom ÷ baseline (lower is better); the target is absolute.",
        ])


def _set_up(ctx: Context, count: int) -> list[int]:
    from app.extensions import db
    from app.mailboxes.services import create_mailbox
    from tenants.models import Tenant

    users = [ctx.mail_user(f"poll{n:04d}@bench.test") for n in range(count)]
    with ctx.app.app_context():
        tenant = Tenant(slug="bench-polling", name="Bench Polling", region="default")
        db.session.add(tenant)
        db.session.commit()
        ca_pem = ctx.dovecot.ca_path.read_text()
        ids = [create_mailbox(tenant, {
            "name": f"Support {n}", "address": f"support{n:04d}@bench.example.com", "inbound_host": ctx.dovecot.host,
            "inbound_port": ctx.dovecot.imaps_port, "inbound_security": "tls", "inbound_username": email,
            "inbound_password": password, "ca_pem": ca_pem, "outbound_mode": "none", "sync_mode": "poll",
            "poll_interval": INTERVAL}).id for n, (email, password) in enumerate(users)]
        db.session.remove()
    return ids


def _scheduler_only(ctx: Context, mailbox_ids: list[int]) -> Phase:
    with ctx.workers(WORKERS, QUEUES) as workers, Role(ctx, "scheduler-baseline", "scheduler") as scheduler:
        workers.wait_ready()
        wait_until(lambda: _synced_mailboxes(ctx) >= len(mailbox_ids), 600, "every mailbox's first sync",
                   every=1, roles=(scheduler,))
        time.sleep(SETTLE)
        phase = _window(ctx, "baseline", [scheduler.pid, *(p.pid for p in workers.processes)])
    _empty_queues(ctx)  # a backlog the baseline left must not run in the next phase's window
    return phase


def _with_supervisor(ctx: Context, mailbox_ids: list[int], pool: int | None) -> Phase:
    env = {"POSTROOM_POLL_POOL_SIZE": str(pool)} if pool else {}
    with Role(ctx, f"idle-{pool or 'default'}", "idle", env=env) as idle:
        # Adopted first, so the scheduler starting next finds them stamped instead of all due at once.
        wait_until(lambda: ctx.redis.hlen("postroom:poll:default:checked") >= len(mailbox_ids), 120,
                   "the supervisor to adopt every mailbox", roles=(idle,))
        with ctx.workers(WORKERS, QUEUES) as workers, Role(ctx, "scheduler", "scheduler") as scheduler:
            workers.wait_ready()
            wait_until(lambda: int(_stats(ctx).get("checks", 0)) >= len(mailbox_ids), 300,
                       "a first check of every mailbox", every=1, roles=(scheduler, idle))
            time.sleep(SETTLE)
            before = _stats(ctx)
            phase = _window(ctx, "supervisor", [idle.pid, scheduler.pid, *(p.pid for p in workers.processes)])
            after = _stats(ctx)
            phase.checks = int(after["checks"]) - int(before["checks"])
            phase.connects = int(after["connects"]) - int(before["connects"])
            phase.rss = rss_mib(idle.pid)
    _empty_queues(ctx)
    return phase


def _empty_queues(ctx: Context) -> None:
    from tenants.queues import region_queue
    from tenants.regions import get_region

    with ctx.app.app_context():
        for kind in QUEUES.split(","):
            region_queue(get_region("default"), kind).empty()


def _window(ctx: Context, name: str, pids: list[int]) -> Phase:
    dovecot = _dovecot_pid(ctx)
    started_at, cpu_before, dovecot_before = time.time(), cpu_seconds(pids), cpu_seconds([dovecot])
    syncs_before = _sync_attempts(ctx)
    time.sleep(WINDOW)
    cpu = cpu_seconds(pids) - cpu_before
    dovecot_cpu = cpu_seconds([dovecot]) - dovecot_before
    elapsed = time.time() - started_at
    return Phase(name, share=100 * cpu / elapsed, cpu=cpu, syncs=_sync_attempts(ctx) - syncs_before,
                 dovecot=100 * dovecot_cpu / elapsed)


def _stats(ctx: Context) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in ctx.redis.hgetall("postroom:poll:default:stats").items()}


def _dovecot_pid(ctx: Context) -> int:
    return int((ctx.dovecot.state_dir / "run" / "master.pid").read_text().strip())


def _synced_mailboxes(ctx: Context) -> int:
    from app.connections.models import ConnectionKind, ConnectionLog
    from app.extensions import db

    with ctx.app.app_context():
        done = db.session.scalar(select(func.count(func.distinct(ConnectionLog.mailbox_id)))
                                 .where(ConnectionLog.kind == ConnectionKind.SYNC, ConnectionLog.ok))
        db.session.remove()
    return done


def _sync_attempts(ctx: Context) -> int:
    from app.connections.models import ConnectionKind, ConnectionLog
    from app.extensions import db

    with ctx.app.app_context():
        done = db.session.scalar(select(func.count()).select_from(ConnectionLog)
                                 .where(ConnectionLog.kind == ConnectionKind.SYNC))
        db.session.remove()
    return done
