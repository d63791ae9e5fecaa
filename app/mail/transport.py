"""The protocol-independent first steps -- dns, tcp, tls -- and the TLS failure diagnostics every protocol shares."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from app.mail.netguard import IPAddress, connect_pinned, resolve_checked
from app.mail.steps import Endpoint, Recorder, StepFailed
from app.mail.tls import (
    certificate_names,
    certificate_summary,
    classify_tls_error,
    client_context,
    fetch_peer_certificate,
    session_summary,
)

RawStartTLS = Callable[[socket.socket], None]
_MAX_LINE = 8192


@dataclass
class Transport:
    endpoint: Endpoint
    addresses: list[IPAddress]
    sock: socket.socket  # already TLS-wrapped for security="tls"


def open_transport(endpoint: Endpoint, rec: Recorder, stack: contextlib.ExitStack) -> Transport:
    """dns -> tcp -> tls (implicit TLS only). The socket is closed by ``stack`` unless a later owner takes it."""
    addresses = rec.run("dns", lambda: _resolve(endpoint))

    def tcp() -> tuple[socket.socket, dict]:
        sock = connect_pinned(addresses, endpoint.port, endpoint.timeout)
        stack.callback(sock.close)
        return sock, {"address": sock.getpeername()[0], "port": endpoint.port}

    sock = rec.run("tcp", tcp)
    transport = Transport(endpoint, addresses, sock)
    if endpoint.security == "tls":
        transport.sock = rec.run("tls", lambda: _wrap(transport, stack), on_error=tls_failure(transport))
    return transport


def _resolve(endpoint: Endpoint) -> tuple[list[IPAddress], dict]:
    addresses = resolve_checked(endpoint.host, endpoint.port, allow_private=endpoint.allow_private,
                                timeout=endpoint.timeout)
    return addresses, {"addresses": [str(a) for a in addresses]}


def _wrap(transport: Transport, stack: contextlib.ExitStack) -> tuple[ssl.SSLSocket, dict]:
    context = client_context(transport.endpoint.ca_pem)
    tls_sock = context.wrap_socket(transport.sock, server_hostname=transport.endpoint.tls_hostname)
    stack.callback(tls_sock.close)
    return tls_sock, session_summary(tls_sock)


def tls_failure(transport: Transport, raw_starttls: RawStartTLS | None = None
                ) -> Callable[[BaseException], StepFailed | None]:
    """An ``on_error`` for handshake steps: classify, and on a verification failure fetch the certificate
    (unverified, on a second connection) so the message can say whose certificate it is."""

    def on_error(exc: BaseException) -> StepFailed | None:
        if not isinstance(exc, ssl.SSLError):
            return None
        category, reason = classify_tls_error(exc)
        detail: dict = {}
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail["verify_code"] = exc.verify_code
            endpoint = transport.endpoint
            der = fetch_peer_certificate(transport.addresses, endpoint.port, endpoint.tls_hostname,
                                         endpoint.timeout, raw_starttls)
            if der is not None:
                detail["certificate"] = certificate_summary(der)
                if category == "tls_hostname":
                    detail["certificate_names"] = certificate_names(detail["certificate"])
            if category == "tls_hostname":
                detail["expected"] = endpoint.tls_hostname
        return StepFailed(category, reason, detail=detail)

    return on_error


def tls_detail(sock: socket.socket) -> dict:
    return session_summary(sock) if isinstance(sock, ssl.SSLSocket) else {}


# -- raw dialogues for fetch_peer_certificate (a plain socket, one line at a time, nothing read ahead) -----------
def read_line(sock: socket.socket) -> bytes:
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk or len(line) > _MAX_LINE:
            raise OSError("connection closed during STARTTLS dialogue")
        line += chunk
    return bytes(line)


def expect(sock: socket.socket, send: bytes, until: Callable[[bytes], bool], ok: Callable[[bytes], bool]) -> None:
    """Send ``send`` (if any), read lines until ``until(line)`` and require ``ok`` of that last line."""
    if send:
        sock.sendall(send)
    line = read_line(sock)
    while not until(line):
        line = read_line(sock)
    if not ok(line):
        raise OSError(f"STARTTLS refused: {line[:100]!r}")


def quietly(action: Callable[[], object]) -> Callable[[], None]:
    """For cleanup: a closing handshake that fails changes nothing for the caller."""

    def run() -> None:
        with contextlib.suppress(OSError, EOFError, ValueError, imaplib.IMAP4.error, poplib.error_proto):
            action()

    return run
