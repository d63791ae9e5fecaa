"""1,000 notifications through the outbox to an SMTP server, against a connection-per-message ``smtplib`` loop.

Server: the dev stack's SMTP server (aiosmtpd, STARTTLS with a certificate of the benchmark's CA, AUTH required) in
its own process, the same for both.

Baseline: what a simple integration does: for each of 1,000 messages, connect, EHLO, STARTTLS, EHLO, AUTH,
MAIL/RCPT/DATA, QUIT, one after another in one process.

Postroom: a tenant with one mailbox sending through that server (password AUTH after STARTTLS). 1,000 status
notices to 1,000 different requesters are rendered from the built-in template and queued as outbox rows in one
transaction (timed apart: "queued in"); its commit enqueues the mailbox's delivery job, and one real ``flask worker
--queues deliver`` process sends them: one job claims batch after batch of ``OUTBOUND_BATCH`` mails and sends them
over ``OUTBOUND_CONNECTIONS`` (3) SMTP sessions that stay open, recording outcomes and attempts in groups as they
come. Measured: from the commit to the moment no row is left to send, looked at every
20 ms from another connection. The per-mailbox per-minute limit is lifted for the run (it would cap the rate by
design); everything else is as configured by default. Three rounds, each side in turn (so a busy moment of the
machine hits both alike); the figures are the medians.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import statistics
import subprocess
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import func, select

from bench.harness import ROOT, Context, Figure, Result

TITLE = "Outbound: 1,000 notifications through the outbox"
TARGET = "≥ 5 x the rate of a connection-per-message smtplib loop"
RATIO_MIN = 5.0
MESSAGES = 1_000
ROUNDS = 3
SENDER, PASSWORD = "desk@bench.test", "bench-smtp-password"


def run(ctx: Context) -> Result:
    count = max(50, ctx.scaled(MESSAGES))
    server, (host, port), ca = _smtp_server(ctx)
    baselines, rates, queueing = [], [], []
    try:
        with ctx.app.app_context():
            tenant_id, tickets = _desk(ctx, host, port, ca, count)
        for _round in range(ROUNDS):  # alternating, so a busy moment of the machine hits both alike
            baselines.append(_smtplib_loop(host, port, ca, count))
            rate, queued = _outbox(ctx, tenant_id, tickets)
            rates.append(rate)
            queueing.append(queued)
    finally:
        server.terminate()
        server.wait()
    baseline, postroom, queued = (statistics.median(values) for values in (baselines, rates, queueing))
    result = Result.against(Figure(baseline, "msgs/s", "smtplib, a connection per message"),
                            Figure(postroom, "msgs/s", "outbox → delivery worker"), at_least=RATIO_MIN)
    result.details += [
        ("baseline: connection per message", f"{baseline:,.0f} msgs/s ({count / baseline:.1f} s)"),
        ("Postroom: queued (render, compose, rows)", f"{count:,} in {queued:.2f} s ({count / queued:,.0f}/s)"),
        ("Postroom: delivered by one worker", f"{postroom:,.0f} msgs/s ({count / postroom:.1f} s)"),
    ]
    result.details.append(("rounds (baseline / Postroom msgs/s)", "; ".join(
        f"{b:,.0f} / {r:,.0f}" for b, r in zip(baselines, rates, strict=True))))
    result.notes.append(f"{count:,} messages each, {ROUNDS} rounds, medians; STARTTLS and AUTH on every connection; "
                        "one worker process with OUTBOUND_CONNECTIONS (3) sessions.")
    return result


def _smtp_server(ctx: Context) -> tuple[subprocess.Popen, tuple[str, int], str]:
    from scripts.devstack.certs import issue_server_cert

    cert, key = issue_server_cert(ctx.dovecot.ca(), ctx.workdir, ["localhost"], ["127.0.0.1"], name="bench-smtp")
    users = ctx.workdir / "smtp-users"
    users.write_text(f"{SENDER}:{PASSWORD}\n")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "scripts.devstack.smtp", "--cert", str(cert), "--key", str(key),
         "--users-file", str(users)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    address = json.loads(process.stdout.readline())
    return process, (address["host"], address["port"]), ctx.dovecot.ca_path.read_text()


def _message(n: int) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = f"Support <{SENDER}>", f"requester{n}@customer.test"
    message["Subject"] = f"Resolved: Printer jam [#BENCH-{n}]"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("Hello,\n\nthe status of your request is now: Resolved.\n\nKind regards\nSupport\n")
    return message.as_bytes(policy=SMTP)


def _smtplib_loop(host: str, port: int, ca: str, count: int) -> float:
    context = ssl.create_default_context(cadata=ca)
    messages = [_message(n) for n in range(count)]
    started = time.perf_counter()
    for n, raw in enumerate(messages):
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login(SENDER, PASSWORD)
            smtp.sendmail(SENDER, [f"requester{n}@customer.test"], raw)
    return count / (time.perf_counter() - started)


def _outbox(ctx: Context, tenant_id: int, tickets: list[int]) -> tuple[float, float]:
    count = len(tickets)
    ctx.env["POSTROOM_OUTBOUND_RATE_PER_MINUTE"] = "0"
    ctx.app.config["OUTBOUND_RATE_PER_MINUTE"] = 0
    ctx.app.config["OUTBOUND_NOTIFY_DELAY"] = 0  # each notice due at once (no gathering of rapid changes)
    with ctx.workers(1, "deliver") as workers:
        workers.wait_ready()
        with ctx.app.app_context():
            queued = _queue(tenant_id, tickets)  # committing it enqueues the delivery job
            started = time.perf_counter()
            _wait_all_sent(count)
            elapsed = time.perf_counter() - started
    return count / elapsed, queued


def _desk(ctx: Context, host: str, port: int, ca: str, count: int) -> tuple[int, list[int]]:
    from app.extensions import db
    from app.mailboxes.models import Mailbox
    from app.tickets.models import Contact, Ticket
    from tenants.models import Tenant

    tenant = Tenant(slug="bench", name="Bench", region="default")
    db.session.add(tenant)
    db.session.flush()
    mailbox = Mailbox(tenant_id=tenant.id, name="Support", address=SENDER, inbound_host="127.0.0.1",
                      inbound_port=993, inbound_username=SENDER, outbound_mode="own", outbound_host=host,
                      outbound_port=port, outbound_security="starttls", outbound_username=SENDER,
                      outbound_password=PASSWORD, ca_pem=ca)
    db.session.add(mailbox)
    db.session.flush()
    tickets = []
    for n in range(count):
        contact = Contact(tenant_id=tenant.id, email=f"requester{n}@customer.test", name=f"Requester {n}",
                          locale="en")
        ticket = Ticket(tenant_id=tenant.id, number=n + 1, reference=f"BENCH-{n + 1}", subject="Printer jam",
                        normalized_subject="printer jam", requester=contact, mailbox_id=mailbox.id,
                        status="resolved")
        db.session.add_all([contact, ticket])
        tickets.append(ticket)
    db.session.commit()
    return tenant.id, [t.id for t in tickets]


def _queue(tenant_id: int, ticket_ids: list[int]) -> float:
    """Every notice as the app makes it (template, requester's language, outbox row), committed at once."""
    from app.extensions import db
    from app.outbound import notifications
    from app.tickets.models import Ticket
    from tenants.models import Tenant

    tenant = db.session.get(Tenant, tenant_id)
    started = time.perf_counter()
    for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))):
        notifications.status_changed(tenant, ticket)
    db.session.commit()
    return time.perf_counter() - started


def _wait_all_sent(count: int, timeout: float = 600) -> None:
    from app.extensions import db
    from app.outbound.models import OutgoingMail, OutgoingStatus

    deadline = time.monotonic() + timeout
    while True:
        sent = db.session.scalar(select(func.count()).select_from(OutgoingMail)
                                 .where(OutgoingMail.status.in_([OutgoingStatus.QUEUED, OutgoingStatus.SENDING])))
        db.session.rollback()
        if sent == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sent} of {count} notifications still unsent after {timeout} s")
        time.sleep(0.02)
