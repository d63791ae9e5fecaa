"""POP3 over a pinned socket: greeting, CAPA, STLS, login (USER/PASS or AUTH XOAUTH2) and STAT."""

from __future__ import annotations

import base64
import contextlib
import poplib
import socket
import ssl

from app.mail.steps import Endpoint, Recorder, StepFailed, response_text, xoauth2_string
from app.mail.tls import client_context
from app.mail.transport import Transport, expect, open_transport, quietly, tls_detail, tls_failure


class PinnedPOP3(poplib.POP3):
    """poplib on a socket we connected ourselves; ``host`` is the configured name (``server_hostname`` for STLS).
    ``on_open`` receives the instance before the greeting is read, so a caller can always close it."""

    def __init__(self, sock: socket.socket, host: str, port: int, on_open) -> None:
        self._pinned, self._on_open = sock, on_open
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        self._on_open(self)
        return self._pinned


def login_session(endpoint: Endpoint, rec: Recorder, stack: contextlib.ExitStack) -> PinnedPOP3:
    """dns -> tcp -> tls -> greeting -> capabilities -> starttls -> login; returns the authenticated client."""
    transport = open_transport(endpoint, rec, stack)

    def greet() -> tuple[PinnedPOP3, dict]:
        on_open = lambda pop: stack.callback(quietly(pop.close))  # noqa: E731
        pop = PinnedPOP3(transport.sock, endpoint.tls_hostname, endpoint.port, on_open)
        return pop, {"greeting": pop.welcome.decode(errors="replace")}

    pop = rec.run("greeting", greet)
    capabilities = rec.run("capabilities", lambda: _capa(pop))
    if endpoint.security == "starttls":
        capabilities = rec.run("starttls", lambda: _stls(pop, endpoint, capabilities),
                               on_error=_stls_error(transport))
    rec.run("login", lambda: _login(pop, endpoint, capabilities), on_error=_login_error)
    return pop


def stat_step(pop: poplib.POP3, rec: Recorder) -> None:
    def stat() -> tuple[None, dict]:
        count, size = pop.stat()
        return None, {"messages": count, "size": size}

    rec.run("stat", stat)


def close(pop: poplib.POP3) -> None:
    try:
        pop.quit()
    except (OSError, poplib.error_proto):
        quietly(pop.close)()


def _capa(pop: poplib.POP3) -> tuple[dict[str, list[str]], dict]:
    try:
        capabilities = pop.capa()
    except poplib.error_proto as exc:
        if not response_text(exc).startswith("-ERR"):
            raise
        capabilities = {}  # CAPA is optional (RFC 2449): an old server may answer -ERR
    return capabilities, {"capabilities": sorted(" ".join([k, *v]) for k, v in capabilities.items())}


def _stls(pop: poplib.POP3, endpoint: Endpoint, capabilities: dict) -> tuple[dict, dict]:
    if "STLS" not in capabilities:
        raise StepFailed("tls_protocol", "the server does not offer STLS")
    pop.stls(client_context(endpoint.ca_pem))
    capabilities, detail = _capa(pop)
    return capabilities, {**tls_detail(pop.sock), **detail}


def _stls_error(transport: Transport):
    tls_error = tls_failure(transport, _raw_stls)

    def on_error(exc: BaseException) -> StepFailed | None:
        if isinstance(exc, ssl.SSLError):
            return tls_error(exc)
        if isinstance(exc, poplib.error_proto) and response_text(exc).startswith("-ERR"):
            return StepFailed("tls_protocol", "the server refused STLS", server_response=response_text(exc))
        return None

    return on_error


def _raw_stls(sock: socket.socket) -> None:
    expect(sock, b"", lambda line: True, lambda line: line.startswith(b"+OK"))
    expect(sock, b"STLS\r\n", lambda line: True, lambda line: line.startswith(b"+OK"))


def _login(pop: poplib.POP3, endpoint: Endpoint, capabilities: dict) -> tuple[None, dict]:
    if endpoint.oauth_token:
        if "XOAUTH2" not in [m.upper() for m in capabilities.get("SASL", [])]:
            raise StepFailed("auth_mechanism_unsupported", "the server does not offer SASL XOAUTH2",
                             detail={"mechanisms": capabilities.get("SASL", [])})
        _xoauth2(pop, endpoint.username, endpoint.oauth_token)
        return None, {"mechanism": "XOAUTH2"}
    if capabilities and "USER" not in capabilities:
        raise StepFailed("auth_mechanism_unsupported", "the server does not accept USER/PASS on this connection")
    if endpoint.password is None:
        raise StepFailed("auth_failed", "no password or token is configured")
    pop.user(endpoint.username)
    pop.pass_(endpoint.password)
    return None, {"mechanism": "USER"}


def _xoauth2(pop: poplib.POP3, username: str, token: str) -> None:
    blob = base64.b64encode(xoauth2_string(username, token).encode()).decode()
    answer = pop._shortcmd(f"AUTH XOAUTH2 {blob}")
    if not answer.startswith(b"+OK"):
        # A "+ <base64 JSON error>" challenge: XOAUTH2 wants an empty line, then the server says -ERR.
        pop._shortcmd("")
        raise poplib.error_proto(answer)


def _login_error(exc: BaseException) -> StepFailed | None:
    text = response_text(exc) if isinstance(exc, poplib.error_proto) else ""
    if not text.startswith("-ERR") or text == "-ERR EOF":
        return None  # garbage or a dropped connection: protocol_error
    detail = {"temporary": True} if "[SYS/TEMP]" in text or "[UNAVAILABLE]" in text else {}
    return StepFailed("auth_failed", "the server refused the credentials", detail=detail, server_response=text)
