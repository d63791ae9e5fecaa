"""app.mail.dsn: RFC 3464 reports (Postfix, Exchange/Office 365, Sendmail), qmail and Exim text bounces, and the
messages that only look like bounces."""

from __future__ import annotations

import base64
import textwrap

import pytest

from app.mail.dsn import Bounce, BounceRecipient, parse_bounce
from app.mail.parse import Limits, parse_message


def eml(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode("utf-8")


def bounce_of(raw: bytes) -> Bounce | None:
    return parse_bounce(raw, parse_message(raw))


ORIGINAL = """\
    Return-Path: <desk@postroom.example>
    From: Acme Support <desk@postroom.example>
    To: nobody@customer.example
    Subject: [#ACME-1042] Your printer request
    Date: Tue, 03 Jun 2025 10:15:00 +0000
    Message-ID: <ticket-1042.5@postroom.example>
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8

    Hello, we are looking into it.
"""

POSTFIX_DSN = eml(f"""
    Return-Path: <>
    Delivered-To: desk@postroom.example
    Date: Tue,  3 Jun 2025 10:15:03 +0000 (UTC)
    From: MAILER-DAEMON@mx.postroom.example (Mail Delivery System)
    Subject: Undelivered Mail Returned to Sender
    To: desk@postroom.example
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
    \tboundary="4bHx2Q0mZ.1748945703/mx.postroom.example"
    Content-Transfer-Encoding: 8bit
    Message-Id: <20250603101503.4bHx2Q0mZ@mx.postroom.example>

    This is a MIME-encapsulated message.

    --4bHx2Q0mZ.1748945703/mx.postroom.example
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    This is the mail system at host mx.postroom.example.

    I'm sorry to have to inform you that your message could not
    be delivered to one or more recipients. It's attached below.

                       The mail system

    <nobody@customer.example>: host mx.customer.example[203.0.113.25] said: 550
        5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown
        in virtual mailbox table (in reply to RCPT TO command)

    --4bHx2Q0mZ.1748945703/mx.postroom.example
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.postroom.example
    X-Postfix-Queue-ID: 4bHx2Q0mZ
    X-Postfix-Sender: rfc822; desk@postroom.example
    Arrival-Date: Tue,  3 Jun 2025 10:15:01 +0000 (UTC)

    Final-Recipient: rfc822; nobody@customer.example
    Original-Recipient: rfc822;nobody@customer.example
    Action: failed
    Status: 5.1.1
    Remote-MTA: dns; mx.customer.example
    Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.example>: Recipient address
        rejected: User unknown in virtual mailbox table

    --4bHx2Q0mZ.1748945703/mx.postroom.example
    Content-Description: Undelivered Message
    Content-Type: message/rfc822

{ORIGINAL}
    --4bHx2Q0mZ.1748945703/mx.postroom.example--
""")

POSTFIX_DELAYED = eml("""
    From: MAILER-DAEMON@mx.postroom.example (Mail Delivery System)
    Subject: Delayed Mail (still being retried)
    To: desk@postroom.example
    Auto-Submitted: auto-replied
    Message-Id: <20250603141503.9Qa@mx.postroom.example>
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status; boundary="9Qa/mx"

    --9Qa/mx
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    This is the mail system at host mx.postroom.example.

    ####################################################################
    # THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
    ####################################################################

    Your message could not be delivered for more than 4 hour(s).
    It will be retried until it is 5 day(s) old.

    --9Qa/mx
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.postroom.example

    Final-Recipient: rfc822; ops@slow.example
    Action: delayed
    Status: 4.4.1
    Diagnostic-Code: X-Postfix; connect to mx.slow.example[198.51.100.7]:25:
        Connection timed out
    Will-Retry-Until: Sun,  8 Jun 2025 10:15:01 +0000 (UTC)

    --9Qa/mx
    Content-Description: Undelivered Message Headers
    Content-Type: text/rfc822-headers

    From: Acme Support <desk@postroom.example>
    To: ops@slow.example
    Subject: [#ACME-1043] Outage
    Message-ID: <ticket-1043.1@postroom.example>

    --9Qa/mx--
""")

EXCHANGE_NDR = eml("""
    From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>
    To: <desk@postroom.example>
    Date: Tue, 3 Jun 2025 10:16:12 +0000
    Content-Type: multipart/report; report-type=delivery-status;
    \tboundary="f2a0c1b8-7e3d-4a6b-9c2e-5d1f0a9b8c7d"
    X-MS-Exchange-Message-Is-Ndr:
    Content-Language: en-US
    Message-ID: <3a1b2c3d-4e5f-6789-abcd-ef0123456789@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>
    In-Reply-To: <ticket-1044.2@postroom.example>
    References: <ticket-1044.2@postroom.example>
    Subject: Undeliverable: [#ACME-1044] Invoice question
    Auto-Submitted: auto-replied
    MIME-Version: 1.0

    --f2a0c1b8-7e3d-4a6b-9c2e-5d1f0a9b8c7d
    Content-Type: multipart/alternative; boundary="alt-7e3d"

    --alt-7e3d
    Content-Type: text/plain; charset="us-ascii"
    Content-Transfer-Encoding: quoted-printable

    Your message to j.doe@contoso.com couldn't be delivered.
    j.doe wasn't found at contoso.com.

    --alt-7e3d
    Content-Type: text/html; charset="us-ascii"

    <html><body><p>Your message to j.doe@contoso.com couldn't be delivered.</p></body></html>
    --alt-7e3d--

    --f2a0c1b8-7e3d-4a6b-9c2e-5d1f0a9b8c7d
    Content-Type: message/delivery-status

    Reporting-MTA: dns;DB9PR01MB1234.eurprd01.prod.exchangelabs.com
    Received-From-MTA: dns;mail.postroom.example
    Arrival-Date: Tue, 3 Jun 2025 10:16:10 +0000

    Final-Recipient: rfc822;j.doe@contoso.com
    Action: failed
    Status: 5.1.10
    Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
     found by SMTP address lookup
    X-Display-Name: John Doe

    Final-Recipient: rfc822;accounts@contoso.com
    Action: delivered
    Status: 2.0.0
    X-Display-Name: Accounts

    --f2a0c1b8-7e3d-4a6b-9c2e-5d1f0a9b8c7d
    Content-Type: message/rfc822

    From: Acme Support <desk@postroom.example>
    To: j.doe@contoso.com, accounts@contoso.com
    Subject: [#ACME-1044] Invoice question
    Message-ID: <ticket-1044.3@postroom.example>
    In-Reply-To: <ticket-1044.2@postroom.example>
    MIME-Version: 1.0
    Content-Type: text/plain; charset="utf-8"

    Please find the invoice attached.

    --f2a0c1b8-7e3d-4a6b-9c2e-5d1f0a9b8c7d--
""")

QMAIL_BOUNCE = eml("""
    Return-Path: <>
    Date: 3 Jun 2025 10:17:41 -0000
    From: MAILER-DAEMON@mail.example.net
    To: desk@postroom.example
    Subject: failure notice
    Message-ID: <20250603101741.31337.qmail@mail.example.net>

    Hi. This is the qmail-send program at mail.example.net.
    I'm afraid I wasn't able to deliver your message to the following addresses.
    This is a permanent error; I've given up. Sorry it didn't work out.

    <olduser@example.net>:
    Sorry, no mailbox here by that name. (#5.1.1)

    <full@example.net>:
    198.51.100.20 does not like recipient.
    Remote host said: 552 5.2.2 Mailbox full
    Giving up on 198.51.100.20.

    --- Below this line is a copy of the message.

    Return-Path: <desk@postroom.example>
    Received: (qmail 31335 invoked from network); 3 Jun 2025 10:17:40 -0000
    From: Acme Support <desk@postroom.example>
    To: olduser@example.net, full@example.net
    Subject: [#ACME-1045] Your order
    Message-ID:
     <ticket-1045.1@postroom.example>

    Your order has shipped.
""")

EXIM_TEXT_BOUNCE = eml("""
    Return-path: <>
    From: Mail Delivery System <Mailer-Daemon@mail.example.org>
    To: desk@postroom.example
    Subject: Mail delivery failed: returning message to sender
    Message-Id: <E1uMq0b-0004xY-2k@mail.example.org>
    Date: Tue, 03 Jun 2025 10:18:02 +0000

    This message was created automatically by mail delivery software.

    A message that you sent could not be delivered to one or more of its
    recipients. This is a permanent error. The following address(es) failed:

      nobody@example.org
        host mx.example.org [192.0.2.10]
        SMTP error from remote mail server after RCPT TO:<nobody@example.org>:
        550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown

      gone@example.org
        Unrouteable address

    ------ This is a copy of the message, including all the headers. ------

    Return-path: <desk@postroom.example>
    Received: from [203.0.113.5] by mail.example.org with esmtp (Exim 4.96)
    From: Acme Support <desk@postroom.example>
    To: nobody@example.org, gone@example.org
    Subject: [#ACME-1046] Re: Login problem
    Message-ID: <ticket-1046.4@postroom.example>

    We have reset your password.
""")

EXIM_DELAY_WARNING = eml("""
    From: Mail Delivery System <Mailer-Daemon@mail.example.org>
    To: desk@postroom.example
    Subject: Warning: message 1uMq0b-0004xY-2k delayed 24 hours
    Message-Id: <E1uNaaa-0001Ab-9z@mail.example.org>

    This message was created automatically by mail delivery software.
    A message that you sent has not yet been delivered to one or more of its
    recipients after more than 24 hours on the queue on mail.example.org.

    The message identifier is:     1uMq0b-0004xY-2k
    The subject of the message is: [#ACME-1047] Quote

    The address to which the message has not yet been delivered is:

      buyer@slow.example.com
        host mx.slow.example.com [198.51.100.9]
        Delay reason: SMTP error from remote mail server after RCPT TO:<buyer@slow.example.com>:
        451 4.7.1 Greylisted, please try again later

    No action is required on your part. Delivery attempts will continue for
    some time, and this warning may be repeated at intervals if the message
    remains undelivered. Eventually the mail delivery software will give up,
    and when that happens, the message will be returned to you.
""")


def test_postfix_dsn_is_a_permanent_rfc3464_bounce_with_the_original_message_id():
    bounce = bounce_of(POSTFIX_DSN)
    assert bounce == Bounce(
        original_message_id="ticket-1042.5@postroom.example",
        recipients=[BounceRecipient(
            "nobody@customer.example", "failed", "5.1.1",
            "550 5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown in virtual mailbox table")],
        kind="permanent", format="rfc3464")


def test_delayed_only_dsn_is_transient_and_takes_the_id_from_rfc822_headers():
    bounce = bounce_of(POSTFIX_DELAYED)
    assert bounce is not None
    assert (bounce.kind, bounce.format, bounce.original_message_id) == (
        "transient", "rfc3464", "ticket-1043.1@postroom.example")
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.action, recipient.status) == ("ops@slow.example", "delayed", "4.4.1")
    assert recipient.diagnostic.startswith("connect to mx.slow.example[198.51.100.7]:25: Connection timed out")


def test_exchange_ndr_reads_three_digit_status_details_and_keeps_delivered_recipients():
    bounce = bounce_of(EXCHANGE_NDR)
    assert bounce is not None
    assert (bounce.kind, bounce.format) == ("permanent", "rfc3464")
    # The original's own Message-ID, not the NDR's In-Reply-To (which is the original's parent).
    assert bounce.original_message_id == "ticket-1044.3@postroom.example"
    assert [(r.address, r.action, r.status) for r in bounce.recipients] == [
        ("j.doe@contoso.com", "failed", "5.1.10"), ("accounts@contoso.com", "delivered", "2.0.0")]
    assert bounce.recipients[0].diagnostic == (
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
    assert bounce.recipients[1].diagnostic is None


def test_qmail_bounce_reads_each_recipient_paragraph_and_the_folded_quoted_message_id():
    bounce = bounce_of(QMAIL_BOUNCE)
    assert bounce is not None
    assert (bounce.kind, bounce.format, bounce.original_message_id) == (
        "permanent", "qmail", "ticket-1045.1@postroom.example")
    assert [(r.address, r.action, r.status) for r in bounce.recipients] == [
        ("olduser@example.net", "failed", "5.1.1"), ("full@example.net", "failed", "5.2.2")]
    assert bounce.recipients[0].diagnostic == "Sorry, no mailbox here by that name. (#5.1.1)"
    assert "Remote host said: 552 5.2.2 Mailbox full" in bounce.recipients[1].diagnostic


def test_exim_text_bounce_reads_indented_recipients_and_the_quoted_original():
    bounce = bounce_of(EXIM_TEXT_BOUNCE)
    assert bounce is not None
    assert (bounce.kind, bounce.format, bounce.original_message_id) == (
        "permanent", "text", "ticket-1046.4@postroom.example")
    assert [(r.address, r.action, r.status) for r in bounce.recipients] == [
        ("nobody@example.org", "failed", "5.1.1"), ("gone@example.org", "failed", "5.0.0")]
    assert bounce.recipients[1].diagnostic == "Unrouteable address"


def test_exim_delay_warning_is_transient_and_ignores_the_ip_address_when_reading_the_status():
    bounce = bounce_of(EXIM_DELAY_WARNING)
    assert bounce is not None
    assert (bounce.kind, bounce.format, bounce.original_message_id) == ("transient", "text", None)
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.action, recipient.status) == ("buyer@slow.example.com", "delayed", "4.7.1")


POSTFIX_TEXT_BOUNCE = eml("""
    From: MAILER-DAEMON@legacy.example.org (Mail Delivery System)
    To: desk@postroom.example
    Subject: Undelivered Mail Returned to Sender
    Message-ID: <20250603.AB12@legacy.example.org>
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="pf"

    --pf
    Content-Type: text/plain; charset=us-ascii

    This is the mail system at host legacy.example.org.

    I'm sorry to have to inform you that your message could not
    be delivered to one or more recipients. It's attached below.

    If you do so, please include this problem report. You can
    delete your own text from the attached returned message.

                       The mail system

    <sales@example.org>: host mx.example.org[192.0.2.33] said: 554 5.7.1
        <sales@example.org>: Relay access denied (in reply to RCPT TO command)

    --pf
    Content-Type: message/rfc822

    From: Acme Support <desk@postroom.example>
    To: sales@example.org
    Subject: [#ACME-1048] Re: Offer
    Message-ID: <ticket-1048.2@postroom.example>

    Thanks!
    --pf--
""")


def test_text_bounce_with_the_original_attached_and_a_misleading_returned_message_line():
    bounce = bounce_of(POSTFIX_TEXT_BOUNCE)
    assert bounce is not None
    assert (bounce.kind, bounce.format, bounce.original_message_id) == (
        "permanent", "text", "ticket-1048.2@postroom.example")
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.action, recipient.status) == ("sales@example.org", "failed", "5.7.1")
    assert recipient.diagnostic == (
        "host mx.example.org[192.0.2.33] said: 554 5.7.1 <sales@example.org>: Relay access denied "
        "(in reply to RCPT TO command)")


def test_status_falls_back_to_the_smtp_reply_code_then_to_the_bounce_kind():
    raw = eml("""
        From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.org>
        To: desk@postroom.example
        Subject: Returned mail: User unknown
        Message-ID: <bounce.1@relay.example.org>

        The original message was received at Tue, 3 Jun 2025 10:15:00 +0000
        ----- The following addresses had permanent fatal errors -----
        <someone@example.org>: 550 Requested action not taken: mailbox unavailable
        <other@example.org>: no such user here
    """)
    bounce = bounce_of(raw)
    assert bounce is not None
    assert [(r.address, r.status) for r in bounce.recipients] == [
        ("someone@example.org", "5.0.0"), ("other@example.org", "5.0.0")]
    assert bounce.kind == "permanent"


def test_dsn_without_status_field_takes_it_from_the_diagnostic_code():
    raw = eml("""
        From: postmaster@mail.example.com
        To: desk@postroom.example
        Subject: Delivery Status Notification (Failure)
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

        --b1
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mail.example.com

        Final-Recipient: RFC822; <Someone@Example.com>
        Action: Failed
        Diagnostic-Code: smtp; 550-5.7.26 Unauthenticated email from postroom.example is not accepted
        --b1--
    """)
    bounce = bounce_of(raw)
    assert bounce is not None
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.action, recipient.status) == ("Someone@Example.com", "failed", "5.7.26")
    assert (bounce.kind, bounce.original_message_id) == ("permanent", None)


def test_failed_with_a_temporary_status_is_transient():
    """The sender gave up (queue lifetime), but nothing says the address is bad."""
    raw = POSTFIX_DSN.replace(b"Status: 5.1.1", b"Status: 4.4.7").replace(b"550 5.1.1", b"451 4.4.7")
    bounce = bounce_of(raw)
    assert bounce is not None
    assert (bounce.recipients[0].action, bounce.recipients[0].status, bounce.kind) == ("failed", "4.4.7", "transient")


def test_base64_encoded_status_part_and_global_headers_are_read():
    status = (b"Reporting-MTA: dns; mx.example.jp\r\n\r\nFinal-Recipient: rfc822; user@example.jp\r\n"
              b"Action: failed\r\nStatus: 5.2.1\r\n")
    raw = eml(f"""
        From: MAILER-DAEMON@mx.example.jp
        To: desk@postroom.example
        Subject: Returned mail
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="b2"

        --b2
        Content-Type: text/plain

        Mailbox disabled.
        --b2
        Content-Type: message/delivery-status
        Content-Transfer-Encoding: base64

        {base64.b64encode(status).decode()}
        --b2
        Content-Type: message/global-headers

        Message-ID: <ticket-9.1@postroom.example>
        Subject: hi

        --b2--
    """)
    bounce = bounce_of(raw)
    assert bounce is not None
    assert [(r.address, r.status) for r in bounce.recipients] == [("user@example.jp", "5.2.1")]
    assert bounce.original_message_id == "ticket-9.1@postroom.example"


def test_global_delivery_status_with_an_internationalized_address():
    raw = eml("""
        From: MAILER-DAEMON@mx.example.de
        To: desk@postroom.example
        Subject: Undelivered Mail Returned to Sender
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=global-delivery-status; boundary="b3"

        --b3
        Content-Type: message/global-delivery-status

        Reporting-MTA: dns; mx.example.de

        Final-Recipient: utf-8; jürgen@bücher.example
        Action: failed
        Status: 5.1.1

        --b3--
    """)
    bounce = bounce_of(raw)
    assert bounce is not None
    assert [(r.address, r.action, r.status) for r in bounce.recipients] == [
        ("jürgen@bücher.example", "failed", "5.1.1")]


def test_success_reports_are_not_bounces():
    raw = POSTFIX_DELAYED.replace(b"Action: delayed", b"Action: relayed").replace(b"Status: 4.4.1", b"Status: 2.0.0")
    assert bounce_of(raw) is None


NORMAL = eml("""
    From: Jane Customer <jane@customer.example>
    To: desk@postroom.example
    Subject: Delivery failure of my order
    Message-ID: <CAF=abc123@mail.customer.example>
    Date: Tue, 03 Jun 2025 11:00:00 +0200
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8

    Hi, my parcel <12345@tracking.example>: was returned to sender.
    Could you check the address?
""")


def test_a_customers_message_about_a_failed_delivery_is_not_a_bounce():
    assert bounce_of(NORMAL) is None


def test_a_forwarded_bounce_is_not_read_as_a_bounce():
    raw = eml("""
        From: Jane Customer <jane@customer.example>
        To: desk@postroom.example
        Subject: Fwd: Undelivered Mail Returned to Sender
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="fw"

        --fw
        Content-Type: text/plain

        Why did this bounce?
        --fw
        Content-Type: message/rfc822

    """) + POSTFIX_DSN + b"\r\n--fw--\r\n"
    assert bounce_of(raw) is None


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage \r\n\r\n\r\n",
    b"Content-Type: multipart/report; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n",
    POSTFIX_DSN[: len(POSTFIX_DSN) // 2],
])
def test_never_raises_on_broken_input(raw):
    result = bounce_of(raw)
    assert result is None or isinstance(result, Bounce)


def test_not_bytes_and_quarantined_messages_give_none():
    assert parse_bounce("not bytes", parse_message(POSTFIX_DSN)) is None  # type: ignore[arg-type]
    quarantined = parse_message(POSTFIX_DSN, limits=Limits(max_bytes=100))
    assert not quarantined.ok
    assert parse_bounce(POSTFIX_DSN, quarantined) is None


def test_recipient_count_is_capped():
    blocks = "".join(f"Final-Recipient: rfc822; u{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n"
                     for i in range(150))
    raw = eml("""
        From: MAILER-DAEMON@mx.example.org
        To: desk@postroom.example
        Subject: Undelivered Mail Returned to Sender
        Content-Type: multipart/report; report-type=delivery-status; boundary="b4"

        --b4
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.org

    """) + blocks.replace("\n", "\r\n").encode() + b"--b4--\r\n"
    bounce = bounce_of(raw)
    assert bounce is not None
    assert len(bounce.recipients) == 100


def test_text_bounce_recipients_are_capped_and_deduplicated():
    lines = "\n".join(f"<u{i % 150}@example.org>: 550 5.1.1 unknown" for i in range(300))
    raw = eml("""
        From: MAILER-DAEMON@relay.example.org
        To: desk@postroom.example
        Subject: Returned mail: see transcript for details

    """) + lines.replace("\n", "\r\n").encode() + b"\r\n"
    bounce = bounce_of(raw)
    assert bounce is not None
    assert [r.address for r in bounce.recipients] == [f"u{i}@example.org" for i in range(100)]


def test_text_bounce_without_readable_recipients_still_names_the_original():
    raw = POSTFIX_TEXT_BOUNCE.replace(b"<sales@example.org>: host", b"The host")
    bounce = bounce_of(raw)
    assert bounce is not None
    assert (bounce.recipients, bounce.kind, bounce.format, bounce.original_message_id) == (
        [], "permanent", "text", "ticket-1048.2@postroom.example")
