"""app.mail.automatic: which messages are machine-made, why, and which signal wins when several are present."""

from __future__ import annotations

import textwrap

import pytest

from app.mail.automatic import REASONS, classify_automatic
from app.mail.parse import parse_message

OWN = ("postroom.example",)


def eml(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode("utf-8")


def person(*extra_headers: str, sender: str = "Jane Customer <jane@customer.example>",
           message_id: str = "<CAF=q8xyz@mail.customer.example>") -> bytes:
    headers = [f"From: {sender}", "To: Acme Support <desk@postroom.example>", "Subject: Printer on floor 3",
               "Date: Tue, 03 Jun 2025 09:12:44 +0200", f"Message-ID: {message_id}",
               "In-Reply-To: <ticket-1042.5@postroom.example>", "References: <ticket-1042.5@postroom.example>",
               *extra_headers, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(headers) + "\r\n\r\nIt is still jammed.\r\n").encode()


def classify(raw: bytes, own_domains=OWN) -> str | None:
    parsed = parse_message(raw)
    assert parsed.ok
    return classify_automatic(parsed, own_domains=own_domains)


def test_a_persons_reply_to_our_ticket_is_not_automatic():
    # Our own ids in In-Reply-To/References are what a reply should carry; they are no loop signal.
    assert classify(person()) is None


def test_a_persons_mail_with_explicit_auto_submitted_no():
    assert classify(person("Auto-Submitted: no", "X-Autoreply: no")) is None


OUT_OF_OFFICE = eml("""
    From: Max Mustermann <max@kunde.example>
    To: desk@postroom.example
    Subject: Automatische Antwort: [#ACME-1042] Printer on floor 3
    Date: Tue, 03 Jun 2025 09:13:02 +0200
    Message-ID: <a1b2c3d4e5@EXCH01.kunde.example>
    In-Reply-To: <ticket-1042.5@postroom.example>
    Auto-Submitted: auto-replied
    X-Auto-Response-Suppress: All
    X-MS-Exchange-Inbox-Rules-Loop: max@kunde.example
    Thread-Index: AQHb1Hx2abcdefghijklmnopqrstuvwxyz
    Content-Type: text/plain; charset=utf-8

    Ich bin bis 10. Juni nicht im Büro.
""")


def test_exchange_out_of_office_reply_is_auto_submitted():
    assert classify(OUT_OF_OFFICE) == "auto_submitted"


@pytest.mark.parametrize(("header", "reason"), [
    ("Auto-Submitted: auto-generated", "auto_submitted"),
    ("Auto-Submitted: Auto-Replied (vacation)", "auto_submitted"),
    ("Auto-Submitted: auto-notified; owner-email=\"ops@example.org\"", "auto_submitted"),
    ("X-Autoreply: yes", "x_autoreply"),
    ("X-Autorespond: Re: Printer on floor 3", "x_autorespond"),
    ("X-Autorespond: 1", "x_autorespond"),
    ("Precedence: bulk", "precedence_bulk"),
    ("Precedence: JUNK", "precedence_junk"),
    ("Precedence: list", "precedence_list"),
    ("List-Id: Acme users <users.lists.acme.example>", "list_id"),
    ("X-Auto-Response-Suppress: All", "auto_response_suppress"),
    ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "auto_response_suppress"),
    ("X-Auto-Response-Suppress: oof", "auto_response_suppress"),
])
def test_each_header_signal(header, reason):
    assert classify(person(header)) == reason


@pytest.mark.parametrize("header", [
    "X-Auto-Response-Suppress: DR, RN, NRN",  # only about receipts, which we never send
    "X-Auto-Response-Suppress: None",
    "Precedence: first-class",
    "X-Autorespond: false",
    "List-Id: ",
    "Auto-Submitted: ",
])
def test_headers_that_do_not_make_a_message_automatic(header):
    assert classify(person(header)) is None


def test_our_own_message_id_means_our_mail_came_back():
    raw = person(sender="Acme Support <desk@postroom.example>", message_id="<ticket-1042.6@Postroom.Example.>")
    assert classify(raw) == "own_message_id"
    assert classify(raw, own_domains=()) is None
    assert classify(raw, own_domains=["other.example"]) is None


def test_subdomains_of_own_domains_are_not_ours():
    assert classify(person(message_id="<x.1@mail.postroom.example>")) is None


POSTFIX_DSN = eml("""
    From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)
    To: desk@postroom.example
    Subject: Undelivered Mail Returned to Sender
    Message-Id: <20250603101503.4bHx2Q0mZ@mx.customer.example>
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
    \tboundary="4bHx2Q0mZ.1748945703/mx.customer.example"

    --4bHx2Q0mZ.1748945703/mx.customer.example
    Content-Type: text/plain; charset=us-ascii

    I'm sorry to have to inform you that your message could not be delivered.

    --4bHx2Q0mZ.1748945703/mx.customer.example
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.customer.example

    Final-Recipient: rfc822; nobody@customer.example
    Action: failed
    Status: 5.1.1

    --4bHx2Q0mZ.1748945703/mx.customer.example--
""")


def test_delivery_status_notification_is_dsn_before_mailer_daemon_and_auto_submitted():
    assert classify(POSTFIX_DSN) == "dsn"


def test_report_wrapped_in_multipart_mixed_by_a_gateway_is_found_by_its_headers_part():
    raw = eml("""
        From: Quarantine Gateway <gateway@mx.customer.example>
        To: desk@postroom.example
        Subject: Delivery Status Notification (Delay)
        Message-ID: <gw.5@mx.customer.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="gw"

        --gw
        Content-Type: text/plain

        The attached report was released from quarantine.
        --gw
        Content-Type: multipart/report; report-type=delivery-status; boundary="r"

        --r
        Content-Type: message/delivery-status

        Final-Recipient: rfc822; ops@slow.example
        Action: delayed
        Status: 4.4.1

        --r
        Content-Type: text/rfc822-headers

        Message-ID: <ticket-1043.1@postroom.example>

        --r--
        --gw--
    """)
    assert classify(raw) == "dsn"


def test_read_receipt_is_a_report_too():
    raw = eml("""
        From: Jane Customer <jane@customer.example>
        To: desk@postroom.example
        Subject: Read: Printer on floor 3
        Message-ID: <mdn.77@customer.example>
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=disposition-notification; boundary="r"

        --r
        Content-Type: text/plain

        Your message was read on Tuesday.
        --r
        Content-Type: message/disposition-notification

        Final-Recipient: rfc822; jane@customer.example
        Disposition: manual-action/MDN-sent-manually; displayed
        --r--
    """)
    assert classify(raw) == "dsn"


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mail.example.net", "Postmaster <postmaster@example.org>",
                                    "Mail Delivery System <Mailer-Daemon@mail.example.org>"])
def test_text_bounces_from_mailer_daemon(sender):
    raw = eml(f"""
        From: {sender}
        To: desk@postroom.example
        Subject: failure notice
        Message-ID: <20250603101741.31337.qmail@mail.example.net>

        Hi. This is the qmail-send program at mail.example.net.
    """)
    assert classify(raw) == "mailer_daemon"


def test_the_strongest_signal_wins():
    # A Google Group in front of the desk address: list headers, but an auto-reply marker outranks them.
    raw = person("List-Id: <support.acme.example>", "Precedence: list", "X-Autoreply: yes",
                 "X-Auto-Response-Suppress: All")
    assert classify(raw) == "x_autoreply"
    assert classify(person("List-Id: <support.acme.example>", "Precedence: list")) == "precedence_list"
    # Our own mail coming back beats everything else it carries.
    raw = person("Auto-Submitted: auto-replied", sender="MAILER-DAEMON@postroom.example",
                 message_id="<ticket-1.1@postroom.example>")
    assert classify(raw) == "own_message_id"


def test_every_reason_returned_is_documented():
    raws = [OUT_OF_OFFICE, POSTFIX_DSN, person("Precedence: bulk"), person("X-Auto-Response-Suppress: All")]
    assert {classify(raw) for raw in raws} <= set(REASONS)


def test_message_without_headers_of_interest_or_message_id():
    raw = b"From: someone@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    assert classify(raw) is None
