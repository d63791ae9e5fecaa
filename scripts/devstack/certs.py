"""Test certificates: a private CA, CA-signed server certificates and a self-signed one.

EC P-256 keys keep generation fast (a few milliseconds) and Dovecot, aiosmtpd and Python's ssl all accept them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

WRONG_HOSTNAME = "mail.example.test"


@dataclass(frozen=True)
class CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class CertSet:
    """Everything a TLS test needs: the CA to trust, the good server cert and two deliberately bad ones."""

    ca: CA
    server: tuple[Path, Path]  # CA-signed, for the real host names/IPs
    wrong_host: tuple[Path, Path]  # CA-signed, but only for WRONG_HOSTNAME -> hostname mismatch
    self_signed: tuple[Path, Path]  # right names, untrusted issuer -> verification failure


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Postroom dev stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    # Test-only keys; Dovecot reads them as root at start, other tools run as the invoking user.
    path.chmod(0o644)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30)))


def make_ca(directory: Path) -> CA:
    """Create a CA and write ``ca.pem`` / ``ca-key.pem`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Postroom dev CA")
    cert = (_builder(name, name, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    ca = CA(cert, key, directory / "ca.pem", directory / "ca-key.pem")
    _write_cert(cert, ca.cert_path)
    _write_key(key, ca.key_path)
    return ca


def _server_cert(issuer_name: x509.Name, issuer_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey,
                 hostnames: list[str], ips: list[str]) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    subject = _name(hostnames[0] if hostnames else ips[0])
    return (_builder(subject, issuer_name, key)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def issue_server_cert(ca: CA, directory: Path, hostnames: list[str], ips: list[str],
                      name: str = "server") -> tuple[Path, Path]:
    """Issue a CA-signed server certificate; writes ``<name>.pem`` and ``<name>-key.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_cert(ca.cert.subject, ca.key, key, hostnames, ips)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _write_cert(cert, cert_path)
    _write_key(key, key_path)
    return cert_path, key_path


def self_signed_cert(directory: Path, hostnames: list[str], ips: list[str],
                     name: str = "self-signed") -> tuple[Path, Path]:
    """A certificate for the right names that no CA vouches for (provokes certificate-verify errors)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_cert(_name(hostnames[0] if hostnames else ips[0]), key, key, hostnames, ips)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _write_cert(cert, cert_path)
    _write_key(key, key_path)
    return cert_path, key_path


def make_cert_set(directory: Path, hostnames: list[str], ips: list[str],
                  self_signed_ips: list[str] | None = None) -> CertSet:
    """CA, server cert for ``hostnames``/``ips``, a CA-signed cert for WRONG_HOSTNAME and a self-signed cert.

    The self-signed cert names ``ips`` plus ``self_signed_ips``, so that with it only trust (not the name) fails.
    """
    ca = make_ca(directory)
    return CertSet(
        ca=ca,
        server=issue_server_cert(ca, directory, hostnames, ips),
        wrong_host=issue_server_cert(ca, directory, [WRONG_HOSTNAME], [], name="wrong-host"),
        self_signed=self_signed_cert(directory, hostnames, ips + (self_signed_ips or [])),
    )


def load_ca(directory: Path) -> CA:
    """Load a CA written earlier by :func:`make_ca` (so restarts keep the certificates clients already trust)."""
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return CA(cert, key, cert_path, key_path)
