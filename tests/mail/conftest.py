"""Fixtures for app.mail: endpoints against the session mail stack, and tiny misbehaving TCP servers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.mail.probe import Endpoint
from scripts.devstack.dovecot import Dovecot
from scripts.devstack.smtp import SmtpServer
from tests.fixtures.mailstack import MailUser


@pytest.fixture
def make_endpoint(dovecot: Dovecot, smtp_server: SmtpServer, mail_ca: Path, mail_user: MailUser
                  ) -> Callable[..., Endpoint]:
    """``make_endpoint("imap", "tls", **overrides)``: the local stack, the test CA, a fresh user."""
    ports = {("imap", "tls"): dovecot.imaps_port, ("imap", "starttls"): dovecot.imap_port,
             ("imap", "none"): dovecot.imap_port, ("pop3", "tls"): dovecot.pop3s_port,
             ("pop3", "starttls"): dovecot.pop3_port, ("pop3", "none"): dovecot.pop3_port,
             ("smtp", "starttls"): smtp_server.port, ("smtp", "none"): smtp_server.port}

    def make(protocol: str, security: str, **overrides) -> Endpoint:
        fields = {"protocol": protocol, "host": dovecot.host, "port": ports[protocol, security],
                  "security": security, "username": mail_user.email, "password": mail_user.password,
                  "ca_pem": mail_ca.read_text(), "timeout": 5.0, "allow_private": True, **overrides}
        return Endpoint(**fields)

    return make


class FakeServer:
    """Accepts TCP connections on 127.0.0.1 and runs ``script(conn)`` for each, in a thread; then closes it."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                self.script(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


def drain(conn: socket.socket) -> None:
    """Wait until the client hangs up."""
    while conn.recv(1024):
        pass


def read_line(conn: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        line += chunk
    return line


@pytest.fixture
def fake_server() -> Iterator[Callable[[Callable[[socket.socket], None]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Callable[[socket.socket], None]) -> FakeServer:
        servers.append(FakeServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
