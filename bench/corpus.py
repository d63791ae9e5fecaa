"""A seeded corpus of realistic service-desk mail, and loading it into a Dovecot user without IMAP.

The mix: ~500 senders (some with non-ASCII names), plain text, text + HTML and a few attachments; a third of the
mail replies to an earlier message of its thread (In-Reply-To and References); some Outlook Thread-Index, some
auto-replies, DKIM and Authentication-Results headers; 2 to 30 kB each (median ~6 kB). Same seed, same bytes.
"""

from __future__ import annotations

import base64
import math
import os
import pwd
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

SEED = 20261123
SUPPORT = "support@bench.example.com"
SALES = "sales@bench.example.com"

_FIRST = ["Ann", "Ben", "Chloé", "David", "Emma", "François", "Grace", "Hiro", "Ines", "Jürgen", "Kate", "Liam",
          "María", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Victor", "Wei", "Yusuf", "Zoë"]
_LAST = ["Lee", "Meyer", "García", "Smith", "Dubois", "Kowalski", "Tanaka", "Rossi", "Novak", "Jensen", "Silva",
         "Brown", "Müller", "Moreau", "Okafor", "Ivanova", "Chen", "Larsen", "Costa", "O'Neill"]
_DOMAINS = ["client.test", "acme-industries.test", "globex.test", "initech.test", "umbrella.test", "hooli.test",
            "example-shop.test", "contoso.test", "fabrikam.test", "wayne-ent.test", "stark.test", "mail.test"]
_TOPICS = ["Printer on floor {n} is jammed", "VPN does not connect from home", "Invoice {n} looks wrong",
           "Password reset for my account", "Order #{n} has not arrived", "Refund for order #{n}",
           "Cannot log in since this morning", "Question about the new pricing", "Laptop battery drains fast",
           "Shared drive is read-only", "Outlook keeps asking for my password", "Badge does not open door {n}",
           "Request: new monitor for desk {n}", "Billing address change", "Server down? Site returns 502",
           "Urgent: payroll export fails", "Meeting room {n} projector broken", "License renewal quote",
           "Wi-Fi in building {n} drops every hour", "Delivery damaged, photos attached"]
_SENTENCES = [
    "Since yesterday afternoon the problem comes back every time I restart the machine.",
    "I already tried switching it off and on again, which did not help.",
    "Could you please have a look at this as soon as possible?",
    "Our team of twelve people depends on this for the monthly report.",
    "The error message says that the connection was reset by the peer.",
    "I have attached a screenshot of what I see on my screen.",
    "This is the third time this month that it happens, so it is getting frustrating.",
    "Please let me know if you need any further details from my side.",
    "We were told last week that the issue had been fixed, but it is still there.",
    "The order number and the delivery address are in the original message below.",
    "I would appreciate a call back; my number is in the signature.",
    "Nothing changed on our side as far as I know, no new software was installed.",
    "It works fine from the office but not from the home network.",
    "Can you confirm whether the invoice includes the discount we agreed on?",
    "Le problème persiste malgré la mise à jour d'hier soir.",
    "Das Problem tritt seit dem letzten Update täglich auf.",
    "Thanks a lot for your quick help last time, it was really appreciated.",
    "Our contract number is listed in the footer of this message.",
]
_SIGNATURE = "\n\n--\n{name}\n{title}\n{company}\nPhone +1 555 01{n:02d} | www.{domain}\n"
_TITLES = ["Office Manager", "Accountant", "Sales Lead", "Engineer", "Head of Operations", "Assistant"]
_ATTACHMENTS = [("application/pdf", "invoice.pdf"), ("image/png", "screenshot.png"), ("image/jpeg", "photo.jpg"),
                ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "report.docx")]


@dataclass
class _Thread:
    subject: str
    sender: tuple[str, str]
    message_ids: list[str] = field(default_factory=list)
    thread_index: bytes | None = None  # Outlook's 22-byte conversation header; replies append 5 bytes


@dataclass
class Corpus:
    messages: list[bytes]  # LF line endings, as an MDA writes them into a Maildir
    dates: list[datetime]
    replies: int = 0
    with_attachments: int = 0
    automatic: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(len(m) for m in self.messages)


def _senders(rng: random.Random, count: int) -> list[tuple[str, str]]:
    senders = []
    for n in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode().replace("'", "") or "user"
        senders.append((f"{first} {last}", f"{local}{n}@{rng.choice(_DOMAINS)}"))
    return senders


def _address(name: str, email: str) -> str:
    try:
        name.encode("ascii")
        return f'"{name}" <{email}>'
    except UnicodeEncodeError:
        return f"{Header(name, 'utf-8').encode()} <{email}>"


def _paragraphs(rng: random.Random, size: int) -> str:
    text, out = 0, []
    while text < max(size, 100):
        paragraph = " ".join(rng.choice(_SENTENCES) for _ in range(rng.randint(2, 6)))
        out.append(paragraph)
        text += len(paragraph) + 2
    return "\n\n".join(out)


def _target_size(rng: random.Random) -> int:
    return int(min(29_000, max(2_000, rng.lognormvariate(math.log(6_000), 0.6))))


def _headers(rng: random.Random, *, sender: tuple[str, str], to: str, subject: str, date: datetime, message_id: str,
             parent: list[str], thread_index: str | None, automatic: bool) -> list[str]:
    domain = sender[1].rpartition("@")[2]
    stamp = format_datetime(date)
    lines = [
        f"Return-Path: <{sender[1]}>",
        f"Delivered-To: {to}",
        f"Received: from mx.bench.test (mx.bench.test [192.0.2.10])\n\tby imap.bench.test with LMTP id "
        f"{rng.getrandbits(64):016x}\n\tfor <{to}>; {stamp}",
        f"Received: from mail.{domain} (mail.{domain} [198.51.100.{rng.randint(1, 254)}])\n\tby mx.bench.test "
        f"(Postfix) with ESMTPS id {rng.getrandbits(40):010X}\n\tfor <{to}>; {stamp}",
        f"Authentication-Results: mx.bench.test; dkim=pass header.d={domain}; spf=pass smtp.mailfrom={domain}; "
        f"dmarc=pass header.from={domain}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\n\th=from:to:subject:date:"
        f"message-id;\n\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n\tb="
        f"{base64.b64encode(rng.randbytes(128)).decode()}",
        f"From: {_address(*sender)}",
        f"To: {to}",
        f"Subject: {Header(subject, 'utf-8').encode() if not subject.isascii() else subject}",
        f"Date: {stamp}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"X-Mailer: {rng.choice(['Microsoft Outlook 16.0', 'Apple Mail (2.3731)', 'Thunderbird 115.4', 'Gmail'])}",
    ]
    if parent:
        lines += [f"In-Reply-To: {parent[-1]}", "References: " + "\n ".join(parent[-10:])]
    if thread_index:
        lines.append(f"Thread-Index: {thread_index}")
    if automatic:
        lines += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
    return lines


def _body(rng: random.Random, text: str, html: bool, attachment: tuple[str, str] | None, size: int) -> list[str]:
    if not html and attachment is None:
        return ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", text]
    boundary = f"=_bench_{rng.getrandbits(48):012x}"
    parts = [f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}"]
    if html:
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        parts.append(f"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                     f"<html><body style=\"font-family:Calibri\">{paragraphs}</body></html>")
    content = f"multipart/alternative; boundary=\"{boundary}\""
    if attachment is not None:
        content = f"multipart/mixed; boundary=\"{boundary}\""
        mime, name = attachment
        payload = base64.encodebytes(rng.randbytes(max(1_000, size // 3))).decode()
        parts.append(f"Content-Type: {mime}; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\""
                     f"\nContent-Transfer-Encoding: base64\n\n{payload}")
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--"
    return [f"Content-Type: {content}", "", "This is a multi-part message in MIME format.", "", body]


def generate(count: int, *, seed: int = SEED, senders: int = 500) -> Corpus:
    """``count`` messages in arrival order; replies always come after the message they answer."""
    rng = random.Random(seed)
    people = _senders(rng, senders)
    threads: list[_Thread] = []
    corpus = Corpus(messages=[], dates=[])
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for n in range(count):
        date = start + timedelta(seconds=n * 37 + rng.randint(0, 30))
        reply = bool(threads) and rng.random() < 0.33
        if reply:
            thread = rng.choice(threads[-400:])
            subject = rng.choice(["Re: ", "RE: ", "AW: ", "Re: Re: "]) + thread.subject
        else:
            thread = _Thread(rng.choice(_TOPICS).format(n=rng.randint(2, 9999)), rng.choice(people))
            thread.thread_index = rng.randbytes(22) if rng.random() < 0.15 else None
            threads.append(thread)
            subject = thread.subject
        automatic = reply and rng.random() < 0.06
        if automatic:
            subject = f"Automatic reply: {thread.subject}"
        message_id = f"<{rng.getrandbits(80):020x}.{n}@{thread.sender[1].rpartition('@')[2]}>"
        index = None
        if thread.thread_index:
            index = base64.b64encode(thread.thread_index + (rng.randbytes(5) if reply else b"")).decode()
        size = _target_size(rng)
        attachment = rng.choice(_ATTACHMENTS) if rng.random() < 0.05 else None
        html = rng.random() < 0.4
        # Headers and signature take ~1.7 kB; an HTML alternative doubles the text; an attachment ~45% of the size.
        budget = max(400, (size - 1_700) * (0.55 if attachment else 1) / (2.1 if html else 1))
        first = thread.sender[0].split()[0]
        text = (f"Hello,\n\n{_paragraphs(rng, int(budget))}\n\nBest regards,\n{first}"
                + _SIGNATURE.format(name=thread.sender[0], title=rng.choice(_TITLES), n=n % 100,
                                    company=thread.sender[1].rpartition("@")[2].split(".")[0].title(),
                                    domain=thread.sender[1].rpartition("@")[2]))
        if reply:
            text += "\n> " + "\n> ".join(_paragraphs(rng, 300).splitlines())
        lines = _headers(rng, sender=thread.sender, to=SALES if rng.random() < 0.1 else SUPPORT, subject=subject,
                         date=date, message_id=message_id, parent=list(thread.message_ids), thread_index=index,
                         automatic=automatic)
        lines += _body(rng, text, html=html, attachment=attachment, size=size)
        thread.message_ids.append(message_id)
        corpus.messages.append(("\n".join(lines) + "\n").encode())
        corpus.dates.append(date)
        corpus.replies += reply
        corpus.with_attachments += attachment is not None
        corpus.automatic += automatic
    return corpus


def load_maildir(maildir: Path, corpus: Corpus) -> None:
    """Write the corpus straight into a Maildir (owned by ``vmail``, as Dovecot's userdb says).

    File names start with increasing timestamps, so Dovecot assigns UIDs in corpus order on the first SELECT;
    ``S=``/``W=`` give it the sizes without reading the files.
    """
    owner = pwd.getpwnam("vmail")
    for sub in ("", "cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
        os.chown(maildir / sub, owner.pw_uid, owner.pw_gid)
    base = int(time.time()) - len(corpus.messages) - 60
    for n, (raw, date) in enumerate(zip(corpus.messages, corpus.dates, strict=True)):
        crlf_size = len(raw) + raw.count(b"\n")
        name = f"{base + n}.M{n:06d}P{os.getpid()}.bench,S={len(raw)},W={crlf_size}:2,"
        path = maildir / "cur" / name
        path.write_bytes(raw)
        os.chown(path, owner.pw_uid, owner.pw_gid)
        stamp = date.timestamp()
        os.utime(path, (stamp, stamp))
    for parent in maildir.parents:  # Dovecot creates the home folders itself when it logs in first
        if parent.name == "mail":
            break
        os.chown(parent, owner.pw_uid, owner.pw_gid)
