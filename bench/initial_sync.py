"""Initial sync of 10,000 messages from Dovecot into tickets, against bare imapclient + stdlib parsing.

Baseline: one IMAPClient connection (IMAPS, the same Dovecot and TLS as the mailbox), UID SEARCH ALL, FETCH
BODY.PEEK[] in chunks of 200, each message parsed with ``BytesParser(policy=compat32)`` and its subject, sender and
body text read; nothing stored. Median of three runs, after one warm-up pass that lets Dovecot build its index.

Postroom: a tenant (three queues, an alias, three routing rules, a VIP list) and an IMAP mailbox on that Dovecot
user; two ``flask --app wsgi worker --queues poll,ingest`` processes, already running, as in production (one on SQLite,
which has a single writer, as ``make run`` runs it). The clock runs from enqueueing the sync ("Sync now") until every
receipt is processed and all messages are committed ticket messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import statistics
import time
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import func, select, text

from bench.corpus import SALES, SUPPORT, generate, load_maildir
from bench.harness import Context, Figure, Result, stopwatch
from bench.processes import cpu_seconds

TITLE = "Initial sync of 10,000 messages"
TARGET = "≥ 0.5 x the speed of bare imapclient chunked fetch + stdlib parsing with no storage"
AT_LEAST = 0.5
MESSAGES = 10_000
CHUNK = 200
BASELINE_RUNS = 3
USER = "bench-initial@bench.test"
TIMEOUT = 1_800  # seconds for the pipeline to finish before the run counts as failed


def run(ctx: Context) -> Result:
    count = ctx.scaled(MESSAGES)
    corpus = generate(count)
    email, password = ctx.mail_user(USER)
    load_maildir(ctx.maildir(email), corpus)
    _warm_up(ctx, email, password, count)
    runs = [_bare_fetch_and_parse(ctx, email, password) for _ in range(BASELINE_RUNS)]
    baseline = count / statistics.median(runs)
    mailbox_id = _set_up_tenant(ctx, email, password)
    workers = 1 if ctx.backend == "sqlite" else 2
    timings = _pipeline(ctx, mailbox_id, count, workers)
    postroom = count / timings["total"]
    sizes = sorted(len(m) for m in corpus.messages)
    details = [
        ("corpus", f"{count:,} messages, {corpus.total_bytes / 1e6:.1f} MB, {sizes[0] / 1e3:.1f} to "
                   f"{sizes[-1] / 1e3:.1f} kB (median {statistics.median(sizes) / 1e3:.1f} kB); "
                   f"{corpus.replies:,} replies, {corpus.with_attachments:,} with attachments, "
                   f"{corpus.automatic:,} auto-replies"),
        ("baseline runs", ", ".join(f"{count / r:,.0f} msgs/s ({r:.2f} s)" for r in runs)),
        ("Postroom end to end", f"{timings['total']:.1f} s for {count:,} messages"),
        ("- enqueue → sync job started", f"{timings['pickup']:.2f} s"),
        ("- sync job (fetch, blobs, receipts; ingest runs alongside)",
         f"{timings['sync']:.1f} s → {count / timings['sync']:,.0f} msgs/s"),
        ("- ingest still running after the sync ended", f"{timings['tail']:.1f} s"),
        ("ingest jobs, summed durations",
         f"{timings['ingest_busy']:.1f} worker-s in {timings['ingest_jobs']} jobs → "
         f"{count / timings['ingest_busy']:,.0f} msgs per worker-second"),
        ("ingest batches, summed worker time per phase", _phases(ctx)),
        ("CPU time during the Postroom run", _cpu_line(timings["cpu"], timings["total"], count)),
        ("outcome", timings["outcome"]),
    ]
    label = f"sync + ingest into tickets, {workers} worker{'s' if workers > 1 else ''}"
    return Result.against(Figure(baseline, "msgs/s", "bare imapclient fetch + stdlib parse, no storage"),
                          Figure(postroom, "msgs/s", label), at_least=AT_LEAST, details=details, notes=[
        "The baseline is the median of its runs; Postroom runs once (it starts from an empty database).",
        "Sync and ingest share the machine's cores with PostgreSQL and Dovecot, as they would in production.",
        "The baseline stores nothing. Postroom fsyncs every raw mail before its receipt commits, runs the same "
        "stdlib parser plus sanitizing, threads and routes each mail, and writes a ticket, a message, its "
        "attachments and 3 to 5 timeline entries. The CPU line above is the budget: at 0.5 x a baseline of about "
        "2,000 msgs/s, two cores allow about 2 CPU-ms a message for all of it, and PostgreSQL's share plus the "
        "parse alone take about 1.4 ms of that.",
    ])


def _client(ctx: Context, email: str, password: str) -> IMAPClient:
    context = ssl.create_default_context(cafile=str(ctx.dovecot.ca_path))
    client = IMAPClient(ctx.dovecot.host, port=ctx.dovecot.imaps_port, ssl=True, ssl_context=context, timeout=60)
    client.login(email, password)
    return client


def _warm_up(ctx: Context, email: str, password: str, count: int) -> None:
    """First SELECT indexes the Maildir; one full fetch fills Dovecot's cache and the page cache for both sides."""
    client = _client(ctx, email, password)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        if len(uids) != count:
            raise RuntimeError(f"Dovecot shows {len(uids)} messages, expected {count}")
        for start in range(0, len(uids), CHUNK):
            client.fetch(uids[start:start + CHUNK], ["BODY.PEEK[]"])
    finally:
        client.logout()


def _body_text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _bare_fetch_and_parse(ctx: Context, email: str, password: str) -> float:
    parser = BytesParser(policy=compat32)
    seen = 0
    with stopwatch() as elapsed:
        client = _client(ctx, email, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        for start in range(0, len(uids), CHUNK):
            fetched = client.fetch(uids[start:start + CHUNK], ["BODY.PEEK[]"])
            for data in fetched.values():
                message = parser.parsebytes(data[b"BODY[]"])
                subject, sender, body = message["Subject"], message["From"], _body_text(message)
                seen += bool(subject or sender or body)
        client.logout()
    if seen != len(uids):
        raise RuntimeError(f"baseline read {seen} of {len(uids)} messages")
    return elapsed[0]


def _set_up_tenant(ctx: Context, email: str, password: str) -> int:
    from app.extensions import db
    from app.mailboxes.models import MailboxAlias
    from app.mailboxes.services import create_mailbox
    from app.queues.models import Queue
    from app.routing.models import RoutingRule
    from tenants.models import Tenant

    with ctx.app.app_context():
        tenant = Tenant(slug="bench", name="Bench Corp", region="default")
        db.session.add(tenant)
        db.session.flush()
        queues = {name: Queue(tenant_id=tenant.id, name=name) for name in ("Support", "Billing", "Sales")}
        db.session.add_all(queues.values())
        db.session.flush()
        mailbox = create_mailbox(tenant, {
            "name": "Support", "address": SUPPORT, "default_queue_id": queues["Support"].id,
            "inbound_host": ctx.dovecot.host, "inbound_port": ctx.dovecot.imaps_port, "inbound_security": "tls",
            "inbound_username": email, "inbound_password": password, "ca_pem": ctx.dovecot.ca_path.read_text(),
            "outbound_mode": "none"}, aliases=[SALES])
        db.session.scalar(select(MailboxAlias).where(MailboxAlias.address == SALES)).queue_id = queues["Sales"].id
        db.session.add_all([
            RoutingRule(tenant_id=tenant.id, name="Billing", position=1, field="subject",
                        pattern=r"\b(invoice|billing|refund|pricing)\b", queue_id=queues["Billing"].id,
                        category="billing"),
            RoutingRule(tenant_id=tenant.id, name="Outages", position=2, field="any",
                        pattern=r"\b(down|outage|urgent|502)\b", priority="high", category="incident"),
            RoutingRule(tenant_id=tenant.id, name="Access", position=3, field="body",
                        pattern=r"password (reset|expired)|cannot log ?in", category="access"),
        ])
        tenant.vip_senders = ["@stark.test"]
        db.session.commit()
        return mailbox.id


def _pipeline(ctx: Context, mailbox_id: int, count: int, workers: int) -> dict:
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from app.extensions import db
    from app.inbound.services import start_sync
    from app.mailboxes.models import Mailbox
    from tenants.queues import region_queue
    from tenants.regions import get_region

    with ctx.app.app_context(), ctx.workers(workers) as processes:
        processes.wait_ready()
        wall_start = datetime.now(UTC)
        queues = [region_queue(get_region("default"), kind) for kind in ("poll", "ingest")]
        failed = [FailedJobRegistry(queue=queue) for queue in queues]
        roles = _cpu_roles(ctx, [process.pid for process in processes.processes])
        cpu_before = {role: cpu_seconds(pids) for role, pids in roles.items()}
        with stopwatch() as elapsed:
            job = start_sync(db.session.get(Mailbox, mailbox_id))
            db.session.remove()
            _wait_processed(ctx, count, failed)
        cpu = {role: cpu_seconds(pids) - cpu_before[role] for role, pids in roles.items()}
        finished = [Job.fetch(i, connection=ctx.redis) for i in FinishedJobRegistry(queue=queues[1]).get_job_ids()]
        job.refresh()
        outcome = _outcome(count)
    sync_started, sync_ended = job.started_at.replace(tzinfo=UTC), job.ended_at.replace(tzinfo=UTC)
    total = elapsed[0]
    return {
        "total": total, "pickup": (sync_started - wall_start).total_seconds(),
        "sync": (sync_ended - sync_started).total_seconds(),
        "tail": total - (sync_ended - wall_start).total_seconds(),
        "ingest_busy": sum((j.ended_at - j.started_at).total_seconds() for j in finished),
        "ingest_jobs": len(finished), "outcome": outcome, "cpu": cpu,
    }


def _cpu_roles(ctx: Context, worker_pids: list[int]) -> dict[str, list[int]]:
    """The process trees whose CPU time the run reports: the workers, PostgreSQL's postmaster (all its backends
    and helpers) and Dovecot's master (its imap and login processes)."""
    from app.extensions import db

    roles = {"workers": worker_pids}
    if ctx.backend == "postgresql":
        with db.engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        roles["PostgreSQL"] = [int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])]
    roles["Dovecot"] = [int((ctx.dovecot.state_dir / "run" / "master.pid").read_text().split()[0])]
    return roles


def _cpu_line(cpu: dict[str, float], wall: float, count: int) -> str:
    cores = os.cpu_count() or 1
    used = sum(cpu.values())
    parts = "; ".join(f"{role} {seconds:.1f} s" for role, seconds in cpu.items())
    return (f"{parts} -- {used:.1f} CPU-s in {wall:.1f} s on {cores} cores ({used / (wall * cores):.0%} busy), "
            f"{used / count * 1000:.2f} CPU-ms a message")


def _wait_processed(ctx: Context, count: int, failed: list) -> None:
    """Until every receipt has left ``stored`` (ingested, duplicate or quarantined) — committed, seen from outside."""
    from rq.job import Job

    from app.extensions import db

    deadline = time.monotonic() + TIMEOUT
    query = text("SELECT count(*) FILTER (WHERE status <> 'stored'), count(*) FROM receipts")
    if ctx.backend == "sqlite":
        query = text("SELECT sum(status <> 'stored'), count(*) FROM receipts")
    while True:
        with db.engine.connect() as conn:
            processed, received = conn.execute(query).one()
        if received >= count and (processed or 0) >= count:
            return
        for registry in failed:
            for job_id in registry.get_job_ids():
                error = Job.fetch(job_id, connection=ctx.redis).latest_result()
                raise RuntimeError(f"job {job_id} failed: {error.exc_string if error else '?'}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {TIMEOUT} s: {received} receipts, {processed} processed")
        time.sleep(0.1)


def _phases(ctx: Context) -> str:
    """From the workers' ``ingest batch`` log lines: where ingest time went (lock waits count in the second)."""
    totals: dict[str, int] = {}
    for log in ctx.workdir.glob("worker-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"ingest batch"' not in line:
                continue
            with contextlib.suppress(ValueError):
                for key, value in json.loads(line).items():
                    if key.endswith("_ms"):
                        totals[key] = totals.get(key, 0) + value
    names = {"parse_ms": "parse and screen", "lock_and_read_ms": "lock wait and reads", "decide_ms": "decide",
             "write_ms": "write and commit"}
    return "; ".join(f"{names.get(k, k)} {v / 1000:.1f} s" for k, v in totals.items()) or "no batch logged"


def _outcome(count: int) -> str:
    from app.extensions import db
    from app.inbound.models import Receipt
    from app.tickets.models import Message, Ticket

    statuses = dict(db.session.execute(select(Receipt.status, func.count()).group_by(Receipt.status)).all())
    reasons = dict(db.session.execute(select(Message.thread_reason, func.count())
                                      .group_by(Message.thread_reason)).all())
    messages = db.session.scalar(select(func.count()).select_from(Message))
    tickets = db.session.scalar(select(func.count()).select_from(Ticket))
    if messages != count:
        raise RuntimeError(f"{messages} ticket messages for {count} mails (receipts: {statuses})")
    threading = ", ".join(f"{getattr(k, 'value', k)} {v:,}" for k, v in sorted(reasons.items(), key=lambda i: -i[1]))
    receipts = ", ".join(f"{k} {v:,}" for k, v in statuses.items())
    return f"{messages:,} messages in {tickets:,} tickets; threaded: {threading}; receipts: {receipts}"
