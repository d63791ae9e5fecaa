"""A corpus of broken and hostile mail, built here in code, through the real pipeline: appended to Dovecot, synced
and ingested by the real jobs. Nothing escapes as an exception, every receipt ends decided (``ingested``, or
``quarantined`` with a reason), mail without a Message-ID is deduplicated by its bytes, and a re-sync adds nothing.
"""

from __future__ import annotations

import base64
import random

import pytest
from imapclient import IMAPClient
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from app.inbound.models import Receipt
from app.inbound.services import start_sync
from app.mailboxes.services import create_mailbox
from app.tickets.models import Message, MessageAttachment
from tenants.queues import region_queue
from tenants.regions import get_region

pytestmark = pytest.mark.stack

HEAD = b"From: Ann <ann@customer.test>\r\nTo: support@acme.test\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n"


def _mail(name: str, headers: bytes = b"", body: bytes = b"Hello.\r\n", *, message_id: bool = True) -> bytes:
    ident = f"Message-ID: <{name}@customer.test>\r\n".encode() if message_id else b""
    return HEAD + ident + f"Subject: corpus {name}\r\n".encode() + headers + b"\r\n" + body


def _multipart(name: str, parts: list[bytes], boundary: str = "b1", closing: bool = True) -> bytes:
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    if closing:
        body += f"--{boundary}--\r\n".encode()
    headers = f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n'.encode()
    return _mail(name, headers, body)


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"


def _nested_rfc822(levels: int) -> bytes:
    """A forward of a forward of ...: each level a multipart with a text part and the previous level attached."""
    inner = b"From: deep@customer.test\r\nSubject: the innermost\r\n\r\nAt the bottom.\r\n"
    for level in range(levels):
        head = (f"From: level{level}@customer.test\r\nSubject: level {level}\r\nMIME-Version: 1.0\r\n"
                f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n')
        inner = (f"{head}--n{level}\r\n".encode() + TEXT_PART
                 + f"\r\n--n{level}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
                 + inner + f"\r\n--n{level}--\r\n".encode())
    return _mail("nested-rfc822", b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n", inner)


def _nesting_bomb(depth: int) -> bytes:
    opening = b"".join(f'Content-Type: multipart/mixed; boundary="z{i}"\r\n\r\n--z{i}\r\n'.encode()
                       for i in range(1, depth))
    closing = b"".join(f"\r\n--z{i}--\r\n".encode() for i in reversed(range(1, depth)))
    return _mail("nesting-bomb", b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="z0"\r\n',
                 b"--z0\r\n" + opening + TEXT_PART + closing + b"\r\n--z0--\r\n")


def _attachment(name: str, filename: str, content_type: str, payload: bytes) -> bytes:
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    part = (f'Content-Type: {content_type}; name="{filename}"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n').encode() + encoded
    return _multipart(name, [TEXT_PART, part])


def _corpus() -> dict[str, bytes]:
    garbage = bytes(b or 1 for b in random.Random(7).randbytes(4096))  # IMAP literals may not carry NUL
    return {
        "unknown-charset": _mail("unknown-charset", b"MIME-Version: 1.0\r\n"
                                 b'Content-Type: text/plain; charset="x-no-such-charset"\r\n'
                                 b"Content-Transfer-Encoding: 8bit\r\n", "Grüße, café".encode()),
        "mislabeled-charset": _mail("mislabeled-charset", b"MIME-Version: 1.0\r\n"
                                    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
                                    "Grüße aus Köln\r\n".encode("latin-1")),
        "missing-closing-boundary": _multipart("missing-closing-boundary", [TEXT_PART, TEXT_PART], closing=False),
        "boundary-never-appears": _mail("boundary-never-appears",
                                        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="nope"\r\n',
                                        b"--other\r\n" + TEXT_PART + b"--other--\r\n"),
        "8bit-headers": HEAD.replace(b"Ann <ann", "Jürgen Müller <ann".encode()) + b"Message-ID: <8bit@c.test>\r\n"
                        + "Subject: Caf\xe9 und Grüße\r\n".encode("latin-1")[:-2] + "  ünd utf-8\r\n".encode()
                        + b"\r\nHello.\r\n",
        "no-message-id": _mail("no-message-id", message_id=False),
        "nested-rfc822": _nested_rfc822(5),
        "tnef": _attachment("tnef", "winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22\x01\x06\x90\x08\x00"),
        "20mb-attachment": _attachment("20mb-attachment", "big.bin", "application/octet-stream",
                                       random.Random(20).randbytes(20 * 1024 * 1024)),
        "100kb-header": _mail("100kb-header", b"X-Long: " + b"a" * 100_000 + b"\r\n"),
        "nesting-bomb": _nesting_bomb(2000),
        "empty": b"\r\n",
        "binary-garbage": garbage,
        "only-headers": HEAD + b"Message-ID: <only-headers@customer.test>\r\nSubject: only headers\r\n",
    }


@pytest.fixture
def mailbox(db, create_tenant, dovecot, mail_user, mail_ca):
    tenant = create_tenant("acme")
    return create_mailbox(tenant, {
        "name": "Support", "address": "support@acme.test", "inbound_host": dovecot.host,
        "inbound_port": dovecot.imaps_port, "inbound_security": "tls", "inbound_username": mail_user.email,
        "inbound_password": mail_user.password, "ca_pem": mail_ca.read_text(), "outbound_mode": "none"})


# Mail that is broken but readable must become a ticket message; only what cannot be read safely is held back.
QUARANTINED = {"100kb-header": "header_too_long", "nesting-bomb": "too_deep", "binary-garbage": "not_a_message",
               "empty": "not_a_message"}


def test_a_corpus_of_broken_mail_is_ingested_or_quarantined_and_never_stuck(app, db, mailbox, dovecot, mail_user,
                                                                             run_jobs):
    corpus = _corpus()
    appended = [*corpus, "no-message-id"]  # the same bytes twice: one message, by their hash
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=60) as client:
        client.login(mail_user.email, mail_user.password)
        for name in appended:
            client.append("INBOX", corpus[name])
    start_sync(mailbox)
    run_jobs()
    for kind in ("poll", "ingest"):  # no job raised
        assert FailedJobRegistry(queue=region_queue(get_region("default"), kind)).get_job_ids() == []

    receipts = db.session.scalars(select(Receipt).order_by(Receipt.uid)).all()
    outcomes = [(name, r.status, r.quarantine_reason) for name, r in zip(appended, receipts, strict=True)]
    assert outcomes == [(name, "quarantined", QUARANTINED[name]) if name in QUARANTINED else (name, "ingested", None)
                        for name in corpus] + [("no-message-id", "duplicate", None)]
    assert all(r.quarantine_detail for r in receipts if r.status == "quarantined")

    by_subject = {m.subject.removeprefix("corpus "): m for m in db.session.scalars(select(Message))}
    assert len(by_subject) == len(corpus) - len(QUARANTINED)
    assert by_subject["no-message-id"].dedupe_key == f"sha256:{receipts[appended.index('no-message-id')].sha256}"
    assert by_subject["unknown-charset"].text == "Grüße, café"  # decoded as UTF-8, the defect recorded
    assert by_subject["mislabeled-charset"].text.startswith("Grüße aus Köln")
    assert any(s.startswith("Café und Grüße") for s in by_subject) and "Jürgen Müller" in {
        m.from_name for m in by_subject.values()}
    assert [(a.filename, a.content_type) for a in by_subject["tnef"].attachments] == [
        ("winmail.dat", "application/ms-tnef")]
    assert [a.content_type for a in by_subject["nested-rfc822"].attachments] == ["message/rfc822"]
    (big,) = by_subject["20mb-attachment"].attachments
    assert big.size == 20 * 1024 * 1024 and big.withheld_reason is None

    job = start_sync(mailbox)  # a re-sync finds nothing new
    run_jobs()
    assert job.latest_result().return_value == {"INBOX": {"stored": 0, "duplicates": 0}}
    assert db.session.scalar(select(func.count()).select_from(Receipt)) == len(appended)
    assert db.session.scalar(select(func.count()).select_from(Message)) == len(by_subject)
    assert db.session.scalar(select(func.count()).select_from(MessageAttachment)) == 4


def test_an_empty_message_is_quarantined(db, inbox):
    """Dovecot refuses to store zero bytes (so the corpus above sends a lone CRLF); a POP3 server might serve them."""
    receipt = inbox.deliver(b"")
    assert (receipt.status, receipt.quarantine_reason) == ("quarantined", "not_a_message")
