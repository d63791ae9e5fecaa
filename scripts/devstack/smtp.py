"""A recording SMTP submission server (aiosmtpd) with STARTTLS, AUTH PLAIN/LOGIN/XOAUTH2 and fault injection."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import logging
import mailbox
import signal
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from scripts.devstack.ports import free_port

Stage = Literal["rcpt", "data"]


def _not_login_data_nag(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 logs "Session.login_data is deprecated" on every successful AUTH from its own code; drop exactly
    # that record so real warnings on the "mail.log" logger stay visible.
    return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_not_login_data_nag)


@dataclass(frozen=True)
class Message:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth_user: str | None
    received_at: float


@dataclass
class _Fault:
    code: int
    text: str
    stage: Stage
    remaining: int


@dataclass
class _State:
    """Shared between the test thread and the server's event-loop thread; guarded by ``cond``."""

    messages: list[Message] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    drops: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """``user=<email>\\x01auth=Bearer <token>\\x01\\x01`` -> (email, token)."""
    fields = dict(part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01") if "=" in part)
    auth = fields.get("auth", "")
    if "user" not in fields or not auth.lower().startswith("bearer "):
        return None
    return fields["user"], auth[7:].strip()


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        # A failing transaction keeps failing for every recipient, but counts once.
        fault = getattr(envelope, "postroom_fault", None) or self.owner._take_fault("rcpt")
        if fault is not None:
            envelope.postroom_fault = fault  # type: ignore[attr-defined]
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner._take_drop():
            # abort() (not close()) so that the reply aiosmtpd still writes can never reach the client.
            assert server.transport is not None
            server.transport.abort()
            return "421 4.4.2 connection dropped by fault injection"
        fault = self.owner._take_fault("data")
        if fault is not None:
            return fault
        self.owner._record(session, envelope)
        return "250 2.0.0 OK queued"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            try:
                blob: Any = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        parsed = parse_xoauth2(blob)
        if parsed is None:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed XOAUTH2 response")
        user, token = parsed
        if await asyncio.to_thread(self.owner._token_valid_for, user, token):
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and token not accepted")


class SmtpServer:
    """Runs in a background thread; inspect ``.messages`` from the test thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, users: dict[str, str] | None = None,
                 introspection_url: str | None = None, cert: Path | str | None = None,
                 key: Path | str | None = None, require_auth: bool = True, maildir: Path | str | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        # Mutable on purpose: fixtures add per-test users while the server runs.
        self.users: dict[str, str] = dict(users or {})
        self.introspection_url = introspection_url
        self.maildir = mailbox.Maildir(maildir, create=True) if maildir else None
        self._state = _State()
        tls = None
        if cert and key:
            # Server-side context: verify_mode CERT_NONE, as aiosmtpd expects.
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(str(cert), str(key))
        self.tls = tls is not None
        # auth_require_tls stays True: AUTH is offered only after STARTTLS (aiosmtpd warns otherwise).
        self._controller = Controller(
            _Handler(self), hostname=host, port=self.port, tls_context=tls, require_starttls=tls is not None,
            auth_required=require_auth, auth_require_tls=True, authenticator=self._authenticate,
            ident="Postroom dev SMTP")

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection -----------------------------------------------------------------------------------------------
    @property
    def messages(self) -> list[Message]:
        with self._state.cond:
            return list(self._state.messages)

    def clear(self) -> None:
        """Forget recorded messages and pending faults."""
        with self._state.cond:
            self._state.messages.clear()
            self._state.faults.clear()
            self._state.drops = 0

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Message]:
        """Wait until at least ``n`` messages were accepted; raise ``TimeoutError`` otherwise."""
        with self._state.cond:
            if not self._state.cond.wait_for(lambda: len(self._state.messages) >= n, timeout):
                raise TimeoutError(f"{len(self._state.messages)} of {n} messages after {timeout}s")
            return list(self._state.messages)

    # -- fault injection ------------------------------------------------------------------------------------------
    def fail_next(self, code: int, text: str = "Try again later", times: int = 1, stage: Stage = "rcpt") -> None:
        """The next ``times`` transactions get ``code text`` at RCPT or at the end of DATA."""
        with self._state.cond:
            self._state.faults.append(_Fault(code, text, stage, times))

    def drop_next_data(self, times: int = 1) -> None:
        """The next ``times`` transactions lose the connection after the message body, before the reply."""
        with self._state.cond:
            self._state.drops += times

    def _take_fault(self, stage: Stage) -> str | None:
        with self._state.cond:
            for fault in self._state.faults:
                if fault.stage == stage and fault.remaining > 0:
                    fault.remaining -= 1
                    return f"{fault.code} {fault.text}"
        return None

    def _take_drop(self) -> bool:
        with self._state.cond:
            if self._state.drops > 0:
                self._state.drops -= 1
                return True
        return False

    # -- internals ------------------------------------------------------------------------------------------------
    def _record(self, session: Session, envelope: Envelope) -> None:
        data = envelope.original_content or b""
        auth = session.auth_data
        user = auth.login.decode() if isinstance(auth, LoginPassword) else auth
        message = Message(envelope.mail_from or "", list(envelope.rcpt_tos), data, user, time.time())
        if self.maildir is not None:
            self.maildir.add(data)
        with self._state.cond:
            self._state.messages.append(message)
            self._state.cond.notify_all()

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        # handled=False: aiosmtpd itself answers 535 (its default, handled=True, would leave the client hanging).
        return AuthResult(success=self.users.get(login) == password, handled=False, auth_data=auth_data)

    def _token_valid_for(self, user: str, token: str) -> bool:
        """POST ``token=`` like Dovecot's oauth2 passdb; credentials in the URL become HTTP basic auth."""
        if not self.introspection_url:
            return False
        try:
            answer = requests.post(self.introspection_url, data={"token": token}, timeout=10)
            answer.raise_for_status()
            info = answer.json()
        except (requests.RequestException, ValueError):
            return False
        return info.get("active") is True and info.get("username") == user


def load_users(path: Path) -> dict[str, str]:
    """Read ``email:password`` or Dovecot-style ``email:{PLAIN}password`` lines."""
    users = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            email, _, password = line.strip().partition(":")
            users[email] = password.removeprefix("{PLAIN}")
    return users


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the recording dev SMTP server until Ctrl-C/SIGTERM.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users-file", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--maildir", type=Path, help="also store every accepted message here")
    parser.add_argument("--introspection-url", help="enables AUTH XOAUTH2 (basic-auth credentials may be in the URL)")
    parser.add_argument("--no-auth", action="store_true", help="accept mail without AUTH")
    args = parser.parse_args(argv)
    users = load_users(args.users_file) if args.users_file else {}
    server = SmtpServer(args.host, args.port, users=users, introspection_url=args.introspection_url,
                        cert=args.cert, key=args.key, require_auth=not args.no_auth, maildir=args.maildir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(json.dumps({"host": server.host, "port": server.port, "tls": server.tls}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
