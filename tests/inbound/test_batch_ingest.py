"""A batch of receipts in one transaction: the same outcome as one at a time, in a bounded number of statements,
and a failure of one mail stays that mail's."""

from __future__ import annotations

from sqlalchemy import event, func, select

from app.tickets.models import Message, ThreadReason, Ticket, TicketEvent
from bench.corpus import generate
from tests.inbound.conftest import make_mail

ROOT_INDEX = "AdnU1PFf7p0xq0XYSmKWpZQ7bKyN5A=="
CHILD_INDEX = "AdnU1PFf7p0xq0XYSmKWpZQ7bKyN5AAAAAGC"  # the same conversation, one reply deeper


def _message(db, receipt) -> Message:
    return db.session.get(Message, receipt.message_id)


def test_a_batch_threads_mail_onto_tickets_opened_earlier_in_the_same_batch(db, inbox):
    ticket_reference = f"{inbox.tenant.slug.upper()}-1"
    receipts = inbox.deliver_batch([
        make_mail(subject="VPN broken", message_id="<orig@client.test>"),
        make_mail(subject="Re: VPN broken", headers={"In-Reply-To": "<orig@client.test>"}),
        make_mail(sender="other@client.test", subject="more", headers={"References": "<x@y> <orig@client.test>"}),
        make_mail(sender="third@client.test", subject=f"Update [#{ticket_reference}]"),
        make_mail(sender="outlook@client.test", subject="Laptop", headers={"Thread-Index": ROOT_INDEX}),
        make_mail(sender="outlook2@client.test", subject="RE: Laptop", headers={"Thread-Index": CHILD_INDEX}),
        make_mail(subject="AW: VPN broken"),  # same requester, same subject, no headers
        make_mail(subject="VPN broken", message_id="<orig@client.test>"),  # the same mail once more
    ])
    messages = [_message(db, r) for r in receipts]
    reasons = [m.thread_reason for m in messages]
    assert reasons[:7] == [ThreadReason.NEW, ThreadReason.IN_REPLY_TO, ThreadReason.REFERENCES,
                           ThreadReason.SUBJECT_TOKEN, ThreadReason.NEW, ThreadReason.THREAD_INDEX,
                           ThreadReason.SUBJECT]
    first = messages[0].ticket
    assert first.reference == ticket_reference
    assert {m.ticket_id for m in messages[:4] + messages[6:7]} == {first.id}
    assert messages[5].ticket_id == messages[4].ticket_id != first.id
    assert receipts[7].status == "duplicate" and receipts[7].message_id == messages[0].id
    assert [r.status for r in receipts[:7]] == ["ingested"] * 7
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 2
    assert first.last_message_at >= messages[6].created_at  # touched by the replies of its batch


def test_bad_mail_in_a_batch_is_held_and_the_rest_is_ingested(db, inbox):
    from tests.inbound.test_ingest import _nested

    inbox.tenant.allowed_sender_domains = ["client.test"]
    db.session.commit()
    receipts = inbox.deliver_batch([make_mail(subject="one"), _nested(40),
                                    make_mail(sender="stranger@elsewhere.test", subject="two"),
                                    make_mail(subject="three")])
    assert [(r.status, r.quarantine_reason) for r in receipts] == [
        ("ingested", None), ("quarantined", "too_deep"), ("quarantined", "sender_not_allowed"), ("ingested", None)]
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2


def test_an_error_on_one_mail_falls_back_to_one_at_a_time_and_quarantines_only_it(db, inbox, monkeypatch):
    import app.inbound.ingest as ingest

    real = ingest.build_message

    def broken_on_two(batch, mailbox, receipt, parsed, *args, **kwargs):
        if parsed.subject == "two":
            raise ValueError("boom")
        return real(batch, mailbox, receipt, parsed, *args, **kwargs)

    monkeypatch.setattr(ingest, "build_message", broken_on_two)
    receipts = inbox.deliver_batch([make_mail(subject=s) for s in ("one", "two", "three")])
    assert [r.status for r in receipts] == ["ingested", "quarantined", "ingested"]
    assert receipts[1].quarantine_reason == "processing_error" and "ValueError: boom" in receipts[1].quarantine_detail
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2  # the rolled-back batch left nothing
    assert db.session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "threaded")) == 2


def test_a_receipt_decided_elsewhere_meanwhile_is_not_written_twice(db, inbox, monkeypatch):
    import app.inbound.ingest as ingest

    claims: list[list[int]] = []
    real = ingest._record

    def lost_first(prepared, messages, outcomes):  # another worker decided one of them while this batch worked
        claims.append([item.receipt.id for item in prepared])
        return False if len(claims) == 1 else real(prepared, messages, outcomes)

    monkeypatch.setattr(ingest, "_record", lost_first)
    receipts = inbox.deliver_batch([make_mail(subject=s) for s in ("one", "two")])
    assert [r.status for r in receipts] == ["ingested", "ingested"]
    assert len(claims[0]) == 2 and claims[1:] == [[receipts[0].id], [receipts[1].id]]  # then one at a time
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 2


def _shape(db, tenant_id: int, receipts) -> list[tuple]:
    """Per mail, in order: thread reason, which ticket (by first appearance), acknowledgement, timeline kinds."""
    order: dict[int, int] = {}
    shape = []
    for receipt in receipts:
        message = db.session.get(Message, receipt.message_id)
        kinds = tuple(db.session.scalars(select(TicketEvent.kind).where(
            TicketEvent.tenant_id == tenant_id, TicketEvent.message_id == message.id).order_by(TicketEvent.id)))
        shape.append((receipt.status, message.thread_reason, order.setdefault(message.ticket_id, len(order)),
                      message.acknowledge, message.automatic, kinds))
    return shape


def test_a_batch_gives_the_same_tickets_as_one_mail_at_a_time(db, inbox, create_tenant, new_mailbox):
    from tests.fixtures.inbox import Inbox

    corpus = generate(120, senders=15).messages  # few senders: many replies, subject matches and rate counts
    other = create_tenant("other")
    other_inbox = Inbox(other, new_mailbox(other, "support@other.test"), None)
    one_by_one = [inbox.deliver(raw) for raw in corpus]
    batched = other_inbox.deliver_batch(corpus)
    expected = _shape(db, inbox.tenant.id, one_by_one)
    assert _shape(db, other.id, batched) == expected
    assert {reason for _s, reason, *_rest in expected} >= {ThreadReason.NEW, ThreadReason.IN_REPLY_TO}


def test_a_batch_is_written_in_a_bounded_number_of_statements(db, inbox):
    raws = [make_mail(sender=f"c{i % 7}@client.test", subject=f"Issue {i % 13}") for i in range(60)]
    receipt_ids = [receipt.id for receipt in inbox.store(raws)]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        from app.inbound.ingest import ingest_receipts

        assert ingest_receipts(receipt_ids) == {"ingested": 60}
    finally:
        event.remove(engine, "before_cursor_execute", count)
    if engine.dialect.name == "sqlite":  # it hands back new ids one row at a time; the look-ups are what counts here
        statements = [s for s in statements if not s.startswith("INSERT")]
    # Not a few per mail: about one per kind of row and look-up.
    assert len(statements) <= 30, "\n".join(s.split("\n")[0][:90] for s in statements)



def test_recording_outcomes_claims_only_receipts_still_stored(db, inbox):
    """The one statement that records a batch's outcomes also claims its receipts: when one was decided by
    another worker meanwhile, nothing of that receipt is overwritten and the caller learns it (and rolls back)."""
    from app.inbound.ingest import Prepared, _record
    from app.inbound.models import Receipt

    decided = inbox.deliver(make_mail(subject="one"))
    (stored,) = inbox.store([make_mail(subject="two")])
    assert _record([Prepared(decided), Prepared(stored)], {}, {decided.id: "duplicate", stored.id: "duplicate"}) \
        is False
    db.session.rollback()
    assert db.session.get(Receipt, decided.id).status == "ingested"
    assert _record([Prepared(stored)], {}, {stored.id: "duplicate"}) is True
    db.session.expire_all()
    assert db.session.get(Receipt, stored.id).status == "duplicate"
