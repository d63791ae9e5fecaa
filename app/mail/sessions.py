"""Authenticated mail sessions for jobs (sync, send), built on the same steps as the connection test.

Each helper resolves and checks the host (SSRF guard), connects to the checked address, verifies TLS against the
configured host name and logs in. On failure it raises ``MailError`` (``.category``, ``.result``, ``.results``)
after closing everything it opened; the returned client belongs to the caller, who logs out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from app.mail import imap, pop3, smtp
from app.mail.imap import PinnedIMAPClient
from app.mail.pop3 import PinnedPOP3
from app.mail.smtp import PinnedSMTP
from app.mail.steps import Endpoint, MailError, Recorder, StepResult

OnStep = Callable[[StepResult], None] | None

__all__ = ["MailError", "PinnedIMAPClient", "PinnedPOP3", "PinnedSMTP", "open_imap", "open_pop3", "open_smtp"]


def open_imap(endpoint: Endpoint, on_step: OnStep = None) -> PinnedIMAPClient:
    """A logged-in ``IMAPClient`` (no folder selected). Raises ``MailError``."""
    return _open(endpoint, "imap", imap.login_session, on_step)


def open_pop3(endpoint: Endpoint, on_step: OnStep = None) -> PinnedPOP3:
    """An authenticated ``poplib.POP3`` (TRANSACTION state). Raises ``MailError``."""
    return _open(endpoint, "pop3", pop3.login_session, on_step)


def open_smtp(endpoint: Endpoint, on_step: OnStep = None) -> PinnedSMTP:
    """An ``smtplib.SMTP`` after EHLO (and STARTTLS + AUTH as configured), ready for ``send_message``.
    Raises ``MailError``."""
    return _open(endpoint, "smtp", smtp.login_session, on_step)


def _open(endpoint: Endpoint, protocol: str, login_session, on_step: OnStep):
    if endpoint.protocol != protocol:
        raise ValueError(f"open_{protocol} got a {endpoint.protocol} endpoint")
    with contextlib.ExitStack() as stack:
        client = login_session(endpoint, Recorder(endpoint, on_step), stack)
        stack.pop_all()  # success: the caller owns the connection now
    return client
