"""Receipt → ticket: threading, dedupe across mailboxes, closed-ticket policy, quarantine and replay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.inbound.models import Receipt
from app.tickets.models import Contact, Message, Ticket, TicketEvent, TicketStatus
from tests.inbound.conftest import make_mail


def _events(db, ticket, kind=None):
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    if kind:
        query = query.where(TicketEvent.kind == kind)
    return list(db.session.scalars(query))


def test_a_new_mail_opens_a_ticket_with_its_requester_and_an_acknowledgement_due(db, inbox):
    receipt = inbox.deliver(make_mail(subject="Printer jam", sender="Ann Lee <ann@client.test>"))
    assert receipt.status == "ingested" and receipt.processed_at is not None
    message = inbox.message_of(receipt)
    ticket = message.ticket
    assert ticket.reference == "ACME-1" and ticket.subject == "Printer jam" and ticket.status == TicketStatus.OPEN
    assert ticket.queue_id == inbox.queue.id and ticket.requester.email == "ann@client.test"
    assert ticket.requester.name == "Ann Lee"
    assert message.thread_reason == "new" and message.acknowledge and not message.automatic
    assert "floor 3" in message.text and message.raw_sha256 == receipt.sha256
    kinds = [e.kind for e in _events(db, ticket)]
    assert kinds[:2] == ["threaded", "routed"] and "acknowledgement" in kinds
    second = inbox.message_of(inbox.deliver(make_mail(subject="Another thing", sender="ann@client.test")))
    assert second.ticket.reference == "ACME-2"
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1


def test_replies_thread_by_in_reply_to_references_token_and_thread_index(db, inbox):
    first = inbox.message_of(inbox.deliver(make_mail(message_id="<root@client.test>",
                                                     headers={"Thread-Index": "AdnU1PFf7p0xq0XYSmKWpZQ7bKyN5A=="})))
    ticket = first.ticket
    by_reply = inbox.message_of(inbox.deliver(make_mail(subject="Re: Printer jam",
                                                        headers={"In-Reply-To": "<root@client.test>"})))
    by_refs = inbox.message_of(inbox.deliver(make_mail(subject="totally different", headers={
        "References": "<unknown@x.test> <root@client.test> <other@x.test>"})))
    by_token = inbox.message_of(inbox.deliver(make_mail(sender="someone@else.test",
                                                        subject=f"Status? [#{ticket.reference}]")))
    by_index = inbox.message_of(inbox.deliver(make_mail(sender="colleague@client.test", subject="RE: jam", headers={
        "Thread-Index": "AdnU1PFf7p0xq0XYSmKWpZQ7bKyN5AAAAAGC"})))
    reasons = [m.thread_reason.value for m in (by_reply, by_refs, by_token, by_index)]
    assert reasons == ["in_reply_to", "references", "subject_token", "thread_index"]
    assert {m.ticket_id for m in (by_reply, by_refs, by_token, by_index)} == {ticket.id}
    threaded = _events(db, ticket, "threaded")
    assert threaded[1].detail == {"reason": "in_reply_to", "evidence": "root@client.test"}


def test_subject_fallback_needs_the_same_requester_within_the_window(db, inbox):
    ticket = inbox.message_of(inbox.deliver(make_mail(subject="VPN does not connect"))).ticket
    same = inbox.message_of(inbox.deliver(make_mail(subject="AW: Re: VPN does not connect")))
    assert same.ticket_id == ticket.id and same.thread_reason == "subject"
    stranger = inbox.message_of(inbox.deliver(make_mail(sender="other@client.test",
                                                        subject="Re: VPN does not connect")))
    assert stranger.ticket_id != ticket.id and stranger.thread_reason == "new"
    ticket.last_message_at -= timedelta(hours=inbox.tenant.subject_window_hours + 1)
    db.session.commit()
    late = inbox.message_of(inbox.deliver(make_mail(subject="Re: VPN does not connect")))
    assert late.ticket_id != ticket.id


def test_the_same_mail_in_two_mailboxes_makes_one_message(db, inbox, new_mailbox):
    sales = new_mailbox(inbox.tenant, "sales@acme.test")
    raw = make_mail(to="support@acme.test, sales@acme.test", message_id="<both@client.test>")
    first = inbox.deliver(raw)
    second = inbox.deliver(raw.replace(b"Subject:", b"Delivered-To: sales@acme.test\nSubject:"), mailbox=sales)
    assert first.status == "ingested" and second.status == "duplicate" and second.message_id == first.message_id
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1
    again = inbox.deliver(raw)  # the very same bytes fetched again (e.g. a UIDVALIDITY reset) are no new message
    assert again.status == "duplicate"


def test_a_reply_to_a_closed_ticket_reopens_it_or_opens_a_linked_one_by_policy(db, inbox):
    ticket = inbox.message_of(inbox.deliver(make_mail(message_id="<c1@client.test>"))).ticket
    ticket.status = TicketStatus.CLOSED
    db.session.commit()
    inbox.deliver(make_mail(subject="Re: Printer jam", headers={"In-Reply-To": "<c1@client.test>"}))
    assert ticket.status == TicketStatus.OPEN
    assert _events(db, ticket, "reopened")[0].detail["from"] == "closed"

    ticket.status = TicketStatus.CLOSED
    inbox.tenant.reopen_policy = "new_linked"
    db.session.commit()
    reply = inbox.message_of(inbox.deliver(make_mail(subject="Re: again", headers={"In-Reply-To": "<c1@client.test>"})))
    assert ticket.status == TicketStatus.CLOSED
    assert reply.ticket_id != ticket.id and reply.thread_reason == "linked"
    assert reply.ticket.linked_ticket_id == ticket.id


def test_an_auto_reply_to_a_closed_ticket_does_not_reopen_it(db, inbox):
    ticket = inbox.message_of(inbox.deliver(make_mail(message_id="<c2@client.test>"))).ticket
    ticket.status = TicketStatus.CLOSED
    db.session.commit()
    oof = inbox.message_of(inbox.deliver(make_mail(subject="Out of office", headers={
        "In-Reply-To": "<c2@client.test>", "Auto-Submitted": "auto-replied"})))
    assert oof.ticket_id == ticket.id and oof.automatic and ticket.status == TicketStatus.CLOSED


def _nested(depth: int) -> bytes:
    lines = ["From: a@client.test", "Subject: deep", "Content-Type: multipart/mixed; boundary=b0", ""]
    for i in range(1, depth):
        lines += [f"--b{i - 1}", f"Content-Type: multipart/mixed; boundary=b{i}", ""]
    lines += [f"--b{depth - 1}", "Content-Type: text/plain", "", "leaf"]
    lines += [f"--b{i}--" for i in reversed(range(depth))]
    return "\r\n".join([*lines, ""]).encode()


def test_unparseable_mail_is_quarantined_with_its_reason_and_replayable(db, inbox, run_jobs):
    from app.inbound.pipeline import replay

    receipt = inbox.deliver(_nested(40))
    assert receipt.status == "quarantined" and receipt.quarantine_reason == "too_deep"
    assert "30" in receipt.quarantine_detail and receipt.message_id is None
    assert replay(inbox.tenant, [receipt.id]) == [receipt.id]
    db.session.refresh(receipt)
    assert receipt.status == "stored" and receipt.quarantine_reason is None
    run_jobs()  # the replay runs through the ingest queue: still too deep, so held again, with its reason
    db.session.refresh(receipt)
    assert (receipt.status, receipt.quarantine_reason) == ("quarantined", "too_deep")


def test_a_processing_error_quarantines_that_message_only(db, inbox, monkeypatch):
    import app.inbound.ingest as ingest

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(ingest, "build_message", broken)
    bad = inbox.deliver(make_mail(subject="one"))
    assert (bad.status, bad.quarantine_reason) == ("quarantined", "processing_error")
    assert "ValueError: boom" in bad.quarantine_detail
    monkeypatch.undo()
    good = inbox.deliver(make_mail(subject="two"))
    assert good.status == "ingested"


def test_a_race_between_two_workers_ends_as_one_message_and_one_duplicate(db, inbox, monkeypatch):
    import app.inbound.ingest as ingest

    raw = make_mail(message_id="<race@client.test>")
    first = inbox.deliver(raw)
    looks: list[list[str]] = []

    def blind(tenant_id, keys):  # the look happens before the other worker's commit is visible
        looks.append(list(keys))
        return {}

    monkeypatch.setattr(ingest, "_existing_messages", blind)
    second = inbox.deliver(raw.replace(b"Subject: Printer jam", b"Subject: Printer jam (copy)"))
    assert second.status == "duplicate" and second.message_id == first.message_id
    assert looks == [["race@client.test"]]  # then the unique key refused the insert, and it became a duplicate
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_the_reconciler_re_enqueues_stored_receipts_and_gives_up_on_poison(db, inbox, app):
    from app.extensions import db as _db
    from app.inbound.blobs import blob_key, store_for_region
    from app.inbound.pipeline import reconcile
    from tenants.models import utcnow
    from tenants.queues import region_queue
    from tenants.regions import get_region

    raws = [make_mail(subject=f"r{n}") for n in range(4)]
    receipts = []
    for n, raw in enumerate(raws):
        store_for_region(get_region("default")).put(raw)
        receipts.append(Receipt(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, folder="INBOX", uidvalidity=9,
                                uid=n + 1, sha256=blob_key(raw), size=len(raw), attempts=n,
                                received_at=utcnow() - timedelta(hours=1)))
    fresh = Receipt(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id, folder="INBOX", uidvalidity=9, uid=9,
                    sha256=blob_key(raws[0]), size=1)
    _db.session.add_all([*receipts, fresh])
    _db.session.commit()
    outcome = reconcile("default")
    assert outcome == {"enqueued": 3, "quarantined": 1}
    jobs = region_queue(get_region("default"), "ingest").jobs
    # tried at most once: batched again; its batch died twice: alone; out of attempts: quarantined; fresh: left
    assert sorted(job.args[0] for job in jobs) == [[receipts[0].id, receipts[1].id], [receipts[2].id]]
    assert receipts[3].status == "quarantined" and receipts[3].quarantine_reason == "processing_failed"


def test_the_newest_known_reference_decides_and_in_reply_to_beats_references(db, inbox):
    old = inbox.message_of(inbox.deliver(make_mail(subject="Old topic", message_id="<old@client.test>")))
    new = inbox.message_of(inbox.deliver(make_mail(subject="New topic", sender="b@client.test",
                                                   message_id="<new@client.test>")))
    by_refs = inbox.message_of(inbox.deliver(make_mail(subject="x", sender="c@client.test", headers={
        "References": "<old@client.test> <new@client.test> <unknown@client.test>"})))
    assert by_refs.ticket_id == new.ticket_id and by_refs.thread_reason == "references"
    by_reply = inbox.message_of(inbox.deliver(make_mail(subject="y", sender="c@client.test", headers={
        "In-Reply-To": "<old@client.test>", "References": "<new@client.test>"})))
    assert by_reply.ticket_id == old.ticket_id and by_reply.thread_reason == "in_reply_to"


def test_values_a_database_refuses_are_cleaned_not_fatal(db, inbox):
    raw = (b"From: =?utf-8?q?A=00nn?= <ann@client.test>\r\nTo: support@acme.test\r\n"
           b"Subject: =?utf-8?q?nul=00here?= =?utf-7?q?+2AA-?=\r\nMessage-ID: <nul@client.test>\r\n"
           b"Date: Fri, 31 Dec 9999 23:59:59 -1200\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\x00text\r\n")
    receipt = inbox.deliver(raw)
    assert receipt.status == "ingested", receipt.quarantine_detail
    message = inbox.message_of(receipt)
    assert "\x00" not in message.subject + message.text + message.from_name and message.subject.startswith("nulhere")
    assert message.sent_at is None and "Date out of range" in message.defects


def test_a_linked_ticket_is_routed_and_its_routing_logged(db, inbox):
    ticket = inbox.message_of(inbox.deliver(make_mail(message_id="<l1@client.test>"))).ticket
    ticket.status = TicketStatus.CLOSED
    inbox.tenant.reopen_policy = "new_linked"
    db.session.commit()
    linked = inbox.message_of(inbox.deliver(make_mail(subject="Re: x", headers={"In-Reply-To": "<l1@client.test>"})))
    assert linked.ticket.queue_id == inbox.queue.id and _events(db, linked.ticket, "routed")
