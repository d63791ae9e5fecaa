"""TLS for mail connections: client contexts, certificate summaries, and classified handshake failures."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from app.mail.netguard import IPAddress, NetGuardError, connect_pinned

# OpenSSL X509_V_ERR_* codes that mean "valid certificate, but for another name".
_NAME_MISMATCH = {62: "hostname mismatch", 63: "email address mismatch", 64: "IP address mismatch"}


class InvalidCaPem(ValueError):
    """The tenant-supplied CA is not a usable PEM certificate."""


def client_context(ca_pem: str | None) -> ssl.SSLContext:
    """A verifying client context (TLS >= 1.2, hostname check on) trusting the system store, or *only* ``ca_pem``.

    Raises ``InvalidCaPem`` when ``ca_pem`` is given but holds no usable certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidCaPem(f"the CA certificate cannot be loaded: {exc}") from exc
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return context


def _unverified_context() -> ssl.SSLContext:
    # Only ever used to *read* a certificate for an error message after verification already failed.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def certificate_summary(cert_der: bytes) -> dict:
    """Subject/issuer CN, validity (ISO 8601, UTC), SAN names and IPs and SHA-256 fingerprint; JSON-serializable."""
    cert = x509.load_der_x509_certificate(cert_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ips = [], []
    subject_cn, issuer_cn = _common_name(cert.subject), _common_name(cert.issuer)
    return {
        "subject_cn": subject_cn,
        "subject": cert.subject.rfc4514_string(),
        "issuer_cn": issuer_cn,
        "issuer": cert.issuer.rfc4514_string(),
        "self_signed": cert.subject == cert.issuer,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "san_dns": dns_names,
        "san_ips": ips,
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    }


def certificate_names(summary: dict) -> list[str]:
    """The names a certificate is valid for (SANs; the CN only for a legacy certificate without SANs)."""
    names = summary["san_dns"] + summary["san_ips"]
    return names or ([summary["subject_cn"]] if summary["subject_cn"] else [])


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def session_summary(sock: ssl.SSLSocket) -> dict:
    """What a successful handshake established: protocol, cipher and the peer's certificate."""
    cert = sock.getpeercert(binary_form=True)
    cipher = sock.cipher()
    return {"tls_version": sock.version(), "cipher": cipher[0] if cipher else None,
            "certificate": certificate_summary(cert) if cert else None}


def classify_tls_error(exc: BaseException) -> tuple[str, str]:
    """``(category, reason)``: ``tls_hostname`` for a name mismatch, ``tls_certificate`` for any other
    verification failure (untrusted, self-signed, expired...), ``tls_protocol`` for everything else."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, message = getattr(exc, "verify_code", None), getattr(exc, "verify_message", None)
        if code in _NAME_MISMATCH:
            return "tls_hostname", message or _NAME_MISMATCH[code]
        return "tls_certificate", message or "certificate verify failed"
    if isinstance(exc, ssl.SSLError):
        # .reason is only set on errors raised by OpenSSL itself
        return "tls_protocol", getattr(exc, "reason", None) or str(exc)
    return "tls_protocol", str(exc) or type(exc).__name__


def fetch_peer_certificate(addresses: list[IPAddress], port: int, server_hostname: str, timeout: float,
                           starttls: Callable[[object], None] | None = None) -> bytes | None:
    """Handshake *without verification* only to read the server's certificate (DER) for an error message.

    ``starttls`` runs the protocol's upgrade dialogue on the plain socket first. Returns ``None`` on any failure:
    this is diagnostics, never a reason to fail differently.
    """
    try:
        sock = connect_pinned(addresses, port, timeout)
    except NetGuardError:
        return None
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        try:
            if starttls is not None:
                starttls(sock)
            tls_sock = _unverified_context().wrap_socket(sock, server_hostname=server_hostname)
            stack.callback(tls_sock.close)
            return tls_sock.getpeercert(binary_form=True)
        except (OSError, ValueError):
            return None

