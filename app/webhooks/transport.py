"""POSTing a webhook through the SSRF guard: the URL's host is resolved once, every address must be public (unless
``POSTROOM_ALLOW_PRIVATE_HOSTS``), and the connection goes to an address that was checked -- never to a second
resolution of the name (DNS rebinding). TLS still verifies the certificate against the URL's host name."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.mail.netguard import IPAddress, NetGuardError, connect_pinned, resolve_checked
from app.mail.tls import client_context

RESPONSE_KEPT = 1024  # bytes of the receiver's answer kept in the delivery log


class UrlError(ValueError):
    """A URL that webhooks cannot be sent to (scheme, host)."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, blocked)
    body: str = ""
    error: str | None = None
    latency_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def target(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a webhook URL; https only, unless private hosts are allowed (dev, tests)."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UrlError("use an https:// URL")
    if parts.username or parts.password:
        raise UrlError("credentials in the URL are not allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float) -> Answer:
    started = time.perf_counter()
    try:
        scheme, host, port, path = target(url, allow_private=allow_private)
        addresses = resolve_checked(host, port, allow_private=allow_private, timeout=timeout)
        connection = _connection(scheme, host, port, addresses, timeout)
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            answer = response.read(RESPONSE_KEPT).decode(errors="replace")
            return Answer(response.status, answer, None, _ms(started))
        finally:
            connection.close()
    except (NetGuardError, UrlError, OSError, http.client.HTTPException) as error:
        return Answer(None, "", f"{type(error).__name__}: {error}"[:500], _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _connection(scheme: str, host: str, port: int, addresses: list[IPAddress], timeout: float):
    if scheme == "https":
        return _PinnedHTTPS(host, port, addresses, timeout)
    return _PinnedHTTP(host, port, addresses, timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[IPAddress], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = connect_pinned(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[IPAddress], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=client_context(None))
        self._addresses = addresses

    def connect(self) -> None:
        sock = connect_pinned(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
