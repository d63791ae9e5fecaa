"""IMAP over a pinned socket: greeting, capabilities, STARTTLS, login and the folder check."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import time

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from app.mail.steps import Endpoint, Recorder, StepFailed, response_text
from app.mail.tls import client_context
from app.mail.transport import Transport, expect, open_transport, quietly, tls_detail, tls_failure


class _PinnedIMAP4(imaplib.IMAP4):
    """imaplib on a socket we connected (and checked) ourselves; notes when the greeting has been read."""

    def __init__(self, sock: socket.socket, host: str, port: int, marks: dict) -> None:
        self._pinned, self._marks = sock, marks
        marks["imap"] = self
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._pinned

    def _get_capabilities(self) -> None:
        # First call: imaplib has just read and accepted the greeting and now asks for CAPABILITY.
        self._marks.setdefault("greeted_at", time.perf_counter())
        super()._get_capabilities()


class PinnedIMAPClient(IMAPClient):
    """An ``IMAPClient`` whose connection is an already-open socket; ``host`` is the configured name, which
    IMAPClient/imaplib use as ``server_hostname`` for STARTTLS."""

    def __init__(self, sock: socket.socket, host: str, port: int, *, implicit_tls: bool, timeout: float,
                 marks: dict | None = None) -> None:
        self._pinned, self._marks = sock, marks if marks is not None else {}
        super().__init__(host, port, ssl=implicit_tls, timeout=timeout)
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # IMAPClient sets 5, and then imaplib formats every response it reads, each mail's bytes with repr(),
            # for a log line that is dropped: more than half of the CPU a large FETCH costs.
            self._imap.debug = 0

    def _create_IMAP4(self) -> imaplib.IMAP4:
        return _PinnedIMAP4(self._pinned, self.host, self.port, self._marks)


def login_session(endpoint: Endpoint, rec: Recorder, stack: contextlib.ExitStack) -> PinnedIMAPClient:
    """dns -> tcp -> tls -> greeting -> capabilities -> starttls -> login; returns the logged-in client."""
    transport = open_transport(endpoint, rec, stack)
    client, capabilities = _greet(transport, rec, stack)
    if endpoint.security == "starttls":
        capabilities = rec.run("starttls", lambda: _starttls(client, endpoint),
                               on_error=_starttls_error(transport))
    rec.run("login", lambda: _login(client, endpoint, capabilities), on_error=_login_error)
    return client


def folder_step(client: IMAPClient, endpoint: Endpoint, rec: Recorder) -> None:
    rec.run("folder", lambda: _select(client, endpoint.folder), on_error=_folder_error(endpoint.folder))


def close(client: IMAPClient) -> None:
    """Polite LOGOUT, falling back to closing the socket."""
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        quietly(client.shutdown)()


def _greet(transport: Transport, rec: Recorder, stack: contextlib.ExitStack) -> tuple[PinnedIMAPClient, set[str]]:
    """The greeting and the CAPABILITY answer come from one imaplib call; the mark splits their timings."""
    endpoint, marks = transport.endpoint, {}
    started = time.perf_counter()
    try:
        client = PinnedIMAPClient(transport.sock, endpoint.tls_hostname, endpoint.port,
                                  implicit_tls=endpoint.security == "tls", timeout=endpoint.timeout, marks=marks)
    except Exception as exc:
        if "greeted_at" not in marks:
            rec.fail("greeting", started, exc)
        rec.ok("greeting", started, _greeting_detail(marks["imap"]), ended=marks["greeted_at"])
        rec.fail("capabilities", marks["greeted_at"], exc)
    stack.callback(quietly(client.shutdown))
    rec.ok("greeting", started, _greeting_detail(marks["imap"]), ended=marks["greeted_at"])
    capabilities = _capabilities(client)
    rec.ok("capabilities", marks["greeted_at"], {"capabilities": sorted(capabilities)})
    return client, capabilities


def _greeting_detail(imap: imaplib.IMAP4) -> dict:
    welcome = imap.welcome.decode(errors="replace") if isinstance(imap.welcome, bytes) else str(imap.welcome)
    return {"greeting": welcome}


def _capabilities(client: IMAPClient) -> set[str]:
    return {c.decode() if isinstance(c, bytes) else c for c in client.capabilities()}


def _starttls(client: PinnedIMAPClient, endpoint: Endpoint) -> tuple[set[str], dict]:
    try:
        client.starttls(client_context(endpoint.ca_pem))
    except CapabilityError:
        raise StepFailed("tls_protocol", "the server does not offer STARTTLS") from None
    capabilities = _capabilities(client)
    return capabilities, {**tls_detail(client.socket()), "capabilities": sorted(capabilities)}


def _starttls_error(transport: Transport):
    tls_error = tls_failure(transport, _raw_starttls)

    def on_error(exc: BaseException) -> StepFailed | None:
        if isinstance(exc, ssl.SSLError):
            return tls_error(exc)
        if isinstance(exc, imaplib.IMAP4.error) and not isinstance(exc, imaplib.IMAP4.abort):
            return StepFailed("tls_protocol", "the server refused STARTTLS", server_response=response_text(exc))
        return None

    return on_error


def _raw_starttls(sock: socket.socket) -> None:
    expect(sock, b"", lambda line: True, lambda line: line.startswith(b"* OK"))
    expect(sock, b"P1 STARTTLS\r\n", lambda line: line.startswith(b"P1 "), lambda line: line.startswith(b"P1 OK"))


def _login(client: IMAPClient, endpoint: Endpoint, capabilities: set[str]) -> tuple[None, dict]:
    if endpoint.oauth_token:
        if "AUTH=XOAUTH2" not in capabilities:
            raise StepFailed("auth_mechanism_unsupported", "the server does not offer AUTH=XOAUTH2",
                             detail={"mechanisms": sorted(c for c in capabilities if c.startswith("AUTH="))})
        client.oauth2_login(endpoint.username, endpoint.oauth_token)
        return None, {"mechanism": "XOAUTH2"}
    if "LOGINDISABLED" in capabilities:
        raise StepFailed("auth_mechanism_unsupported", "the server refuses LOGIN on this connection (LOGINDISABLED)")
    if endpoint.password is None:
        raise StepFailed("auth_failed", "no password or token is configured")
    client.login(endpoint.username, endpoint.password)
    return None, {"mechanism": "LOGIN"}


def _login_error(exc: BaseException) -> StepFailed | None:
    if not isinstance(exc, LoginError) or isinstance(exc.__context__, imaplib.IMAP4.abort):
        return None  # a dropped connection is not a verdict on the credentials
    text = response_text(exc)
    detail = {"temporary": True} if "[UNAVAILABLE]" in text.upper() else {}
    return StepFailed("auth_failed", "the server refused the credentials", detail=detail, server_response=text)


def _select(client: IMAPClient, folder: str) -> tuple[None, dict]:
    capabilities = _capabilities(client)
    if {"CONDSTORE", "ENABLE"} <= capabilities:
        client.enable("CONDSTORE")  # so SELECT reports HIGHESTMODSEQ
    info = client.select_folder(folder, readonly=True)
    detail = {"folder": folder, "uidvalidity": int(info[b"UIDVALIDITY"]), "exists": int(info[b"EXISTS"])}
    if b"HIGHESTMODSEQ" in info:
        detail["highestmodseq"] = int(info[b"HIGHESTMODSEQ"])
    return None, detail


def _folder_error(folder: str):
    def on_error(exc: BaseException) -> StepFailed | None:
        if isinstance(exc, imaplib.IMAP4.error) and not isinstance(exc, imaplib.IMAP4.abort):
            return StepFailed("folder_missing", f"the folder {folder!r} cannot be selected",
                              detail={"folder": folder}, server_response=response_text(exc))
        return None

    return on_error
