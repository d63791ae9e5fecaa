"""Routing (aliases, rules, VIPs), loops and noise, sender authenticity, sender domains and attachment limits."""

from __future__ import annotations

from sqlalchemy import func, select

from app.mailboxes.models import MailboxAlias
from app.queues.models import Queue
from app.routing.models import RoutingRule
from app.tickets.models import Message, Ticket, TicketEvent
from tests.inbound.conftest import make_mail


def _queue(db, tenant, name):
    queue = Queue(tenant_id=tenant.id, name=name)
    db.session.add(queue)
    db.session.commit()
    return queue


def _events(db, ticket, kind):
    return list(db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                             TicketEvent.kind == kind).order_by(TicketEvent.id)))


def test_delivered_to_beats_to_and_an_alias_routes_to_its_queue(db, inbox):
    billing = _queue(db, inbox.tenant, "Billing")
    db.session.add(MailboxAlias(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, address="billing@acme.test",
                                queue_id=billing.id))
    db.session.commit()
    via_header = inbox.message_of(inbox.deliver(make_mail(to="support@acme.test",
                                                          headers={"Delivered-To": "billing@acme.test"})))
    assert via_header.ticket.queue_id == billing.id
    routed = _events(db, via_header.ticket, "routed")[0].detail
    assert routed == {"by": "alias", "header": "Delivered-To", "address": "billing@acme.test", "queue_id": billing.id}
    via_cc = inbox.message_of(inbox.deliver(make_mail(to="someone@else.test", subject="Second",
                                                      headers={"Cc": "Billing <BILLING@acme.test>"})))
    assert via_cc.ticket.queue_id == billing.id
    plain = inbox.message_of(inbox.deliver(make_mail(to="nobody@else.test", subject="Third")))
    assert plain.ticket.queue_id == inbox.queue.id
    assert _events(db, plain.ticket, "routed")[0].detail["by"] == "receiving_mailbox"


def test_rules_set_queue_category_and_priority_in_order_and_are_logged(db, inbox):
    ops = _queue(db, inbox.tenant, "Operations")
    db.session.add_all([
        RoutingRule(tenant_id=inbox.tenant.id, name="Outages", position=1, field="subject", pattern=r"outage|down",
                    queue_id=ops.id, priority="urgent", category="incident"),
        RoutingRule(tenant_id=inbox.tenant.id, name="Invoices", position=2, field="body", pattern=r"invoice\s+\d+",
                    category="billing"),
        RoutingRule(tenant_id=inbox.tenant.id, name="Off", position=3, field="any", pattern=".", active=False,
                    priority="low"),
    ])
    db.session.commit()
    urgent = inbox.message_of(inbox.deliver(make_mail(subject="Website DOWN since 9:00"))).ticket
    assert (urgent.queue_id, urgent.priority.value, urgent.category) == (ops.id, "urgent", "incident")
    matched = _events(db, urgent, "rule_matched")
    assert [e.detail["rule"] for e in matched] == ["Outages"] and matched[0].detail["matched"] == "DOWN"
    billing = inbox.message_of(inbox.deliver(make_mail(subject="Question", body="About invoice 4711"))).ticket
    assert (billing.queue_id, billing.priority.value, billing.category) == (inbox.queue.id, "normal", "billing")


def test_a_catastrophic_rule_times_out_and_is_logged_instead_of_stalling(db, inbox):
    db.session.add(RoutingRule(tenant_id=inbox.tenant.id, name="Evil", field="body", pattern=r"(a+)+$",
                               priority="urgent"))
    db.session.commit()
    ticket = inbox.message_of(inbox.deliver(make_mail(body="a" * 5000 + "!"))).ticket
    assert ticket.priority.value == "normal"
    assert _events(db, ticket, "rule_error")[0].detail["error"] == "TimeoutError"


def test_vip_senders_skip_rules_and_start_high(db, inbox):
    inbox.tenant.vip_senders = ["@board.test"]
    db.session.add(RoutingRule(tenant_id=inbox.tenant.id, name="Low", field="any", pattern=".", priority="low"))
    db.session.commit()
    vip = inbox.message_of(inbox.deliver(make_mail(sender="ceo@board.test"))).ticket
    assert vip.priority.value == "high" and not _events(db, vip, "rule_matched")
    assert _events(db, vip, "vip")[0].detail["sender"] == "ceo@board.test"
    normal = inbox.message_of(inbox.deliver(make_mail(sender="someone@client.test"))).ticket
    assert normal.priority.value == "low"


def test_an_auto_reply_storm_is_attached_without_a_single_acknowledgement(db, inbox):
    first = inbox.message_of(inbox.deliver(make_mail(message_id="<storm-root@client.test>")))
    headers = {"Auto-Submitted": "auto-replied", "In-Reply-To": "<storm-root@client.test>"}
    for start in range(0, 500, 100):  # as syncs bring it in: a hundred at a time
        inbox.deliver_batch([make_mail(sender="robot@client.test", subject=f"Automatic reply {n}", headers=headers)
                             for n in range(start, start + 100)])
    storm = list(db.session.scalars(select(Message).where(Message.from_address == "robot@client.test")))
    assert len(storm) == 500 and {m.ticket_id for m in storm} == {first.ticket_id}
    assert not any(m.acknowledge for m in storm) and all(m.automatic_reason == "auto_submitted" for m in storm)
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_loop_headers_and_bulk_mail_open_tickets_without_acknowledgement(db, inbox):
    for headers in ({"Precedence": "bulk"}, {"List-Id": "<news.client.test>"}, {"X-Autoreply": "yes"}):
        message = inbox.message_of(inbox.deliver(make_mail(subject=str(headers), headers=headers)))
        assert message.automatic and not message.acknowledge
        assert _events(db, message.ticket, "acknowledgement")[0].detail == {"due": False, "suppressed": "automatic"}
    own = inbox.message_of(inbox.deliver(make_mail(message_id="<x1@mail.postroom.invalid>")))
    assert own.automatic_reason == "own_message_id"


def test_a_human_sender_over_the_rate_limit_gets_no_more_acknowledgements(db, inbox):
    inbox.tenant.sender_rate_limit = 3
    db.session.commit()
    acks = [inbox.message_of(inbox.deliver(make_mail(subject=f"Issue number {n}"))).acknowledge for n in range(5)]
    assert acks == [True, True, True, False, False]


def test_dmarc_failure_at_the_trusted_server_flags_the_ticket_and_never_threads_by_subject(db, inbox):
    inbox.tenant.trusted_authserv_ids = ["mx.acme.test"]
    db.session.commit()
    ticket = inbox.message_of(inbox.deliver(make_mail(subject="Payroll change"))).ticket
    failed = "mx.acme.test; spf=fail smtp.mailfrom=client.test; dkim=none; dmarc=fail header.from=client.test"
    spoof = inbox.message_of(inbox.deliver(make_mail(subject="Re: Payroll change",
                                                     headers={"Authentication-Results": failed})))
    assert spoof.ticket_id != ticket.id and spoof.sender_flagged and spoof.ticket.sender_flagged
    assert spoof.authenticity["dmarc"] == "fail" and not spoof.acknowledge  # no backscatter to a forged address
    assert _events(db, spoof.ticket, "sender_flagged")
    untrusted = "evil.test; dmarc=fail header.from=client.test"  # anyone can write this header: ignored
    ignored = inbox.message_of(inbox.deliver(make_mail(subject="Re: Payroll change",
                                                       headers={"Authentication-Results": untrusted})))
    assert ignored.thread_reason == "subject" and not ignored.sender_flagged and not ignored.authenticity


def test_dmarc_quarantine_policy_holds_the_mail_until_an_admin_accepts_it(db, inbox, run_jobs):
    from app.inbound.pipeline import replay

    inbox.tenant.trusted_authserv_ids = ["mx.acme.test"]
    inbox.tenant.dmarc_policy = "quarantine"
    db.session.commit()
    receipt = inbox.deliver(make_mail(headers={"Authentication-Results": "mx.acme.test; dmarc=fail"}))
    assert (receipt.status, receipt.quarantine_reason) == ("quarantined", "dmarc_failed")
    assert "dmarc=fail" in receipt.quarantine_detail
    replay(inbox.tenant, [receipt.id], accept=True)
    run_jobs()
    db.session.refresh(receipt)
    assert receipt.status == "ingested" and inbox.message_of(receipt).sender_flagged


def test_an_accepted_replay_whose_job_was_lost_is_still_accepted_by_the_reconcilers_rerun(db, inbox):
    from app.inbound.ingest import ingest_receipts
    from app.inbound.pipeline import replay

    inbox.tenant.trusted_authserv_ids = ["mx.acme.test"]
    inbox.tenant.dmarc_policy = "quarantine"
    db.session.commit()
    receipt = inbox.deliver(make_mail(headers={"Authentication-Results": "mx.acme.test; dmarc=fail"}))
    replay(inbox.tenant, [receipt.id], accept=True)  # its job is lost (worker killed): never run
    ingest_receipts([receipt.id])  # the reconciler's re-run knows nothing of the job's arguments
    db.session.refresh(receipt)
    assert receipt.status == "ingested" and receipt.accepted


def test_only_allowed_sender_domains_open_tickets_but_anyone_may_answer_one(db, inbox):
    inbox.tenant.allowed_sender_domains = ["client.test"]
    db.session.commit()
    ok = inbox.deliver(make_mail(sender="a@sub.client.test", message_id="<allowed@client.test>"))
    assert ok.status == "ingested"
    refused = inbox.deliver(make_mail(sender="a@stranger.test"))
    assert (refused.status, refused.quarantine_reason) == ("quarantined", "sender_not_allowed")
    answer = inbox.deliver(make_mail(sender="a@stranger.test", headers={"In-Reply-To": "<allowed@client.test>"}))
    assert answer.status == "ingested"


def test_attachments_over_the_limit_or_of_blocked_types_are_withheld(db, inbox):
    from email.message import EmailMessage

    from app.inbound.blobs import store_for_region
    from tenants.regions import get_region

    inbox.tenant.max_attachment_bytes = 1000
    inbox.tenant.blocked_attachment_types = ["exe"]
    db.session.commit()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = "a@client.test", "support@acme.test", "Files", \
        "<files@client.test>"
    mail.set_content("See attached.")
    mail.add_attachment(b"x" * 2000, maintype="application", subtype="pdf", filename="big.pdf")
    mail.add_attachment(b"MZ" * 10, maintype="application", subtype="octet-stream", filename="setup.exe")
    mail.add_attachment(b"fine", maintype="text", subtype="plain", filename="notes.txt")
    message = inbox.message_of(inbox.deliver(bytes(mail)))
    withheld = {a.filename: a.withheld_reason for a in message.attachments}
    assert withheld == {"big.pdf": "too_large", "setup.exe": "blocked_type", "notes.txt": None}
    store = store_for_region(get_region("default"))
    kept = next(a for a in message.attachments if a.filename == "notes.txt")
    assert store.get(kept.sha256) == b"fine"
    big = next(a for a in message.attachments if a.filename == "big.pdf")
    assert not store.exists(big.sha256)
    assert _events(db, message.ticket, "attachment_withheld")[0].detail["attachments"] == [
        ["big.pdf", "too_large"], ["setup.exe", "blocked_type"]]


def test_a_bounce_joins_the_ticket_of_the_mail_it_reports_on_and_marks_the_address(db, inbox):
    from app.tickets.models import Contact

    original = inbox.message_of(inbox.deliver(make_mail(sender="gone@client.test",
                                                        message_id="<orig-1@client.test>")))
    dsn = (
        b"From: MAILER-DAEMON@mx.client.test\r\nTo: support@acme.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn-1@mx.client.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.test\r\n\r\n"
        b"Final-Recipient: rfc822; gone@client.test\r\nAction: failed\r\n"  # no Status line: still permanent
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig-1@client.test>\r\nSubject: Printer jam\r\n"
        b"--B--\r\n")
    bounce = inbox.message_of(inbox.deliver(dsn))
    assert bounce.ticket_id == original.ticket_id and bounce.thread_reason == "bounce"
    assert bounce.bounce_of_id == original.id and bounce.automatic and not bounce.acknowledge
    assert db.session.scalar(select(Contact).where(Contact.email == "gone@client.test")).bouncing
    assert _events(db, original.ticket, "bounce")[0].detail["kind"] == "permanent"
