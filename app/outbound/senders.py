"""The network side of a delivery batch: its mails split over up to ``OUTBOUND_CONNECTIONS`` SMTP sessions, each in
its own thread. No database here: every outcome goes back to the job's thread, which records it (``delivery``).

Why several connections: one session sends a mail in three round trips (MAIL, RCPT, DATA) and waits for each
answer; two or three sessions keep the line busy while one waits. Providers allow a few at once (Microsoft 365
three per mailbox), so the default is three.
"""

from __future__ import annotations

import queue
import smtplib
import threading
import time
from dataclasses import dataclass

from app.mail.sessions import MailError, PinnedSMTP, open_smtp
from app.mail.smtp import close
from app.mail.steps import Endpoint

_NETWORK = (smtplib.SMTPServerDisconnected, OSError, TimeoutError)
DONE = object()  # a sender thread's last word


@dataclass(frozen=True)
class Envelope:
    id: int
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int = 0  # before this one (the row is claimed: nobody else changes it meanwhile)
    reply_message_id: int | None = None  # a reply's message on the thread, whose delivery status follows


@dataclass(frozen=True)
class Outcome:
    result: str  # sent | deferred | failed
    code: int | None = None
    response: str = ""


@dataclass(frozen=True)
class Attempted:
    envelope: Envelope
    outcome: Outcome
    server: str
    duration_ms: int


class Pool:
    """Up to ``size`` sender threads (daemons: a stuck server cannot keep the worker alive), started as work comes;
    each keeps its connection open from one mail to the next until ``close``."""

    def __init__(self, endpoint: Endpoint, size: int) -> None:
        self.endpoint, self.size = endpoint, max(1, size)
        self.work: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.threads = 0

    def submit(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            self.work.put(envelope)
        while self.threads < min(self.size, self.work.qsize() + self.threads):
            threading.Thread(target=_session, args=(self.endpoint, self.work, self.results), daemon=True,
                             name=f"smtp-sender-{self.threads}").start()
            self.threads += 1

    def close(self) -> None:
        """Tell every thread to log out once its queue is empty (each answers ``DONE``)."""
        for _ in range(self.threads):
            self.work.put(DONE)


def _session(endpoint: Endpoint, work: queue.Queue, results: queue.Queue) -> None:
    server = f"{endpoint.host}:{endpoint.port}"
    smtp: PinnedSMTP | None = None
    refused: Outcome | None = None  # the login failed: what this thread takes next waits for its next slot
    try:
        while (envelope := work.get()) is not DONE:
            started = time.perf_counter()
            if smtp is None and refused is None:
                smtp, refused = _connect(endpoint)
            outcome = refused if smtp is None else send_one(smtp, envelope)
            if smtp is not None and outcome.result == "deferred" and outcome.code is None:
                close(smtp)  # the connection broke under this mail: the next one gets a new connection
                smtp = None
            results.put(Attempted(envelope, outcome, server, int((time.perf_counter() - started) * 1000)))
    finally:
        if smtp is not None:
            close(smtp)
        results.put(DONE)


def _connect(endpoint: Endpoint) -> tuple[PinnedSMTP | None, Outcome | None]:
    try:
        return open_smtp(endpoint), None
    except MailError as error:
        detail = error.result.detail if isinstance(error.result.detail, dict) else {}
        words = error.result.server_response or detail.get("reason", "")
        return None, Outcome("deferred", detail.get("code"), f"{error.category}: {words}"[:2000])


def send_one(smtp: PinnedSMTP, envelope: Envelope) -> Outcome:
    try:
        refused = smtp.sendmail(envelope.mail_from, envelope.recipients, envelope.raw)
    except smtplib.SMTPRecipientsRefused as error:  # every recipient refused
        codes = [code for code, _words in error.recipients.values()]
        words = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in error.recipients.items())
        return Outcome("failed" if all(c >= 500 for c in codes) else "deferred", max(codes), words)
    except smtplib.SMTPResponseException as error:
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return Outcome("deferred", None, f"connection lost: {error}")
        return Outcome("failed" if error.smtp_code >= 500 else "deferred", error.smtp_code, _text(error.smtp_error))
    except _NETWORK as error:
        return Outcome("deferred", None, f"connection lost: {error or type(error).__name__}")
    if refused:  # accepted for some recipients: sent, with the refusals kept in the log
        words = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
        return Outcome("sent", 250, f"some recipients refused: {words}")
    return Outcome("sent", 250, "")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
