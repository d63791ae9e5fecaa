"""The vocabulary shared by the connection test and the session helpers: endpoints, step results, categories,
and a recorder that times each step, classifies failures and scrubs secrets before anyone sees them."""

from __future__ import annotations

import base64
import imaplib
import poplib
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn, TypeVar

from app.mail.netguard import BlockedAddress, ConnectFailed, DnsError, NetGuardError
from app.mail.tls import InvalidCaPem, classify_tls_error

T = TypeVar("T")

PROTOCOLS = ("imap", "pop3", "smtp")
SECURITIES = ("tls", "starttls", "none")
CATEGORIES = (
    "dns", "blocked", "refused", "timeout", "tls_certificate", "tls_hostname", "tls_protocol", "auth_failed",
    "auth_mechanism_unsupported", "folder_missing", "smtp_rejected", "protocol_error",
)
_MAX_RESPONSE = 500
_BYTES_REPR = re.compile(r"""\bb(['"])(.*?)\1""")


@dataclass(frozen=True)
class Endpoint:
    protocol: str  # "imap" | "pop3" | "smtp"
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    username: str = ""
    password: str | None = None
    oauth_token: str | None = None
    folder: str = "INBOX"  # imap only
    ca_pem: str | None = None
    timeout: float = 10.0
    allow_private: bool = False

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS or self.security not in SECURITIES:
            raise ValueError(f"unsupported endpoint {self.protocol}/{self.security}")
        if not 0 < self.port < 65536 or self.timeout <= 0:
            raise ValueError(f"invalid port {self.port} or timeout {self.timeout}")

    @property
    def tls_hostname(self) -> str:
        """The name TLS verifies (SNI + certificate check): always the configured host, never an address."""
        return self.host.removeprefix("[").removesuffix("]")

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return f"Endpoint({self.protocol}://{self.username}@{self.host}:{self.port}, {self.security})"


@dataclass
class StepResult:
    step: str  # dns, tcp, tls, greeting, capabilities, starttls, login, folder, stat, ehlo, auth
    ok: bool
    latency_ms: float
    category: str | None = None
    detail: dict = field(default_factory=dict)
    server_response: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class StepFailed(Exception):
    """Raised inside a step to fail it with a known category."""

    def __init__(self, category: str, reason: str, *, detail: dict | None = None,
                 server_response: str | None = None) -> None:
        assert category in CATEGORIES, category
        super().__init__(reason)
        self.category, self.reason = category, reason
        self.detail, self.server_response = detail or {}, server_response


class MailError(Exception):
    """A connection step failed. ``result`` is the failed (scrubbed) step, ``results`` every step so far."""

    def __init__(self, result: StepResult, results: list[StepResult]) -> None:
        super().__init__(f"{result.step} failed: {result.category}: {result.detail.get('reason', '')}")
        self.result, self.results = result, results

    @property
    def category(self) -> str:
        return self.result.category or "protocol_error"


def xoauth2_string(username: str, token: str) -> str:
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


class Scrubber:
    """Replaces secrets -- and their base64 forms at every alignment, as in AUTH PLAIN/XOAUTH2 blobs -- by ***."""

    def __init__(self, secrets: list[str]) -> None:
        variants: set[str] = set()
        for secret in filter(None, secrets):
            variants.add(secret)
            variants.update(_base64_variants(secret.encode()))
        self._variants = sorted(variants, key=len, reverse=True)

    def text(self, value: str) -> str:
        for variant in self._variants:
            value = value.replace(variant, "***")
        return value

    def deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.deep(k): self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


def _base64_variants(secret: bytes) -> set[str]:
    """The base64 characters determined by ``secret`` alone, for each of the three possible byte offsets."""
    found = {base64.b64encode(secret).decode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        piece = encoded[(8 * offset + 5) // 6:(8 * (offset + len(secret))) // 6]
        if len(piece) >= 4:
            found.add(piece)
    return found


class Recorder:
    """Runs steps in order: times each, turns network/protocol exceptions into failed results, reports each
    finished step to ``on_step`` and stops the sequence (``MailError``) at the first failure."""

    def __init__(self, endpoint: Endpoint, on_step: Callable[[StepResult], None] | None = None) -> None:
        self.results: list[StepResult] = []
        self._on_step = on_step
        self._scrub = Scrubber([endpoint.password or "", endpoint.oauth_token or ""])

    def run(self, step: str, action: Callable[[], tuple[T, dict]],
            on_error: Callable[[BaseException], StepFailed | None] | None = None) -> T:
        """``action()`` returns ``(value, detail)``; ``on_error`` maps step-specific exceptions first."""
        started = time.perf_counter()
        try:
            value, detail = action()
        except Exception as exc:
            self.fail(step, started, exc, on_error)
        self.ok(step, started, detail)
        return value

    def ok(self, step: str, started: float, detail: dict, ended: float | None = None) -> None:
        self._record(StepResult(step, True, _ms(started, ended), detail=detail))

    def fail(self, step: str, started: float, exc: BaseException,
             on_error: Callable[[BaseException], StepFailed | None] | None = None) -> NoReturn:
        """Record ``exc`` as the failure of ``step`` and raise ``MailError``; re-raise programming errors."""
        failure = (on_error(exc) if on_error else None) or classify(exc)
        if failure is None:
            raise exc
        detail = {"reason": failure.reason, **failure.detail}
        response = failure.server_response[:_MAX_RESPONSE] if failure.server_response else None
        result = StepResult(step, False, _ms(started), failure.category, detail, response)
        self._record(result)
        # Not chained: the server's raw words (which may echo a secret) must not reach logged tracebacks.
        raise MailError(self.results[-1], self.results) from None

    def _record(self, result: StepResult) -> None:
        result.detail = self._scrub.deep(result.detail)
        if result.server_response is not None:
            result.server_response = self._scrub.text(result.server_response)
        self.results.append(result)
        if self._on_step is not None:
            self._on_step(result)


def _ms(started: float, ended: float | None = None) -> float:
    return round(((ended or time.perf_counter()) - started) * 1000, 1)


def classify(exc: BaseException) -> StepFailed | None:
    """The generic mapping of network and protocol exceptions; ``None`` for anything else (a bug: re-raised)."""
    if isinstance(exc, StepFailed):
        return exc
    if isinstance(exc, NetGuardError):
        return StepFailed(exc.category, str(exc), detail=_netguard_detail(exc))
    if isinstance(exc, InvalidCaPem):
        return StepFailed("tls_certificate", str(exc))
    if _timed_out(exc):
        return StepFailed("timeout", "the server did not answer in time")
    if isinstance(exc, ssl.SSLError):
        return StepFailed(*classify_tls_error(exc))
    if isinstance(exc, imaplib.IMAP4.error | poplib.error_proto | smtplib.SMTPException | EOFError):
        return StepFailed("protocol_error", "unexpected answer from the server", server_response=response_text(exc))
    if isinstance(exc, OSError):
        return StepFailed("protocol_error", f"connection failed: {exc.strerror or exc}")
    return None


def _timed_out(exc: BaseException | None) -> bool:
    """smtplib and friends re-raise a socket timeout as their own error: look along the chain."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, TimeoutError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def response_text(exc: BaseException) -> str:
    """The server's words carried by a protocol exception, as text."""
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {message}"
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in exc.args]
    # IMAPClient formats server text into its messages as bytes reprs: "select failed: b'[NONEXISTENT] ...'".
    return _BYTES_REPR.sub(lambda m: m.group(2), " ".join(parts)) or type(exc).__name__


def _netguard_detail(exc: NetGuardError) -> dict:
    if isinstance(exc, BlockedAddress):
        return {"host": exc.host, "address": str(exc.address), "blocked_because": exc.reason}
    if isinstance(exc, DnsError):
        return {"host": exc.host}
    if isinstance(exc, ConnectFailed):
        return {"address": str(exc.address), "port": exc.port, "errno": exc.error.errno}
    return {}
