"""The live connection test: every step of connecting to a mailbox, timed, classified and scrubbed.

``probe`` never raises for network or protocol problems -- they become a failed ``StepResult`` with one of
``CATEGORIES`` and the sequence stops there. Only programming errors (and errors raised by ``on_step``) propagate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from app.mail import imap, pop3, smtp
from app.mail.steps import CATEGORIES, Endpoint, MailError, Recorder, StepResult

__all__ = ["CATEGORIES", "Endpoint", "StepResult", "probe"]


def probe(endpoint: Endpoint, on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Run the connection test; ``on_step`` is called as each step finishes (e.g. to show it turning green).

    IMAP: dns, tcp, tls | greeting, capabilities, starttls | login, folder.
    POP3: dns, tcp, tls | greeting, capabilities, starttls | login, stat.
    SMTP: dns, tcp, tls | greeting, ehlo, starttls | auth (ok with ``{"skipped": true}`` without a username).
    """
    recorder = Recorder(endpoint, on_step)
    with contextlib.suppress(MailError), contextlib.ExitStack() as stack:
        _SEQUENCES[endpoint.protocol](endpoint, recorder, stack)
    return recorder.results


def _imap(endpoint: Endpoint, recorder: Recorder, stack: contextlib.ExitStack) -> None:
    client = imap.login_session(endpoint, recorder, stack)
    imap.folder_step(client, endpoint, recorder)
    imap.close(client)


def _pop3(endpoint: Endpoint, recorder: Recorder, stack: contextlib.ExitStack) -> None:
    client = pop3.login_session(endpoint, recorder, stack)
    pop3.stat_step(client, recorder)
    pop3.close(client)


def _smtp(endpoint: Endpoint, recorder: Recorder, stack: contextlib.ExitStack) -> None:
    client = smtp.login_session(endpoint, recorder, stack)
    smtp.close(client)


_SEQUENCES = {"imap": _imap, "pop3": _pop3, "smtp": _smtp}
