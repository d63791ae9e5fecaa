"""SSRF guard: resolve a tenant-supplied host once, refuse non-global addresses, connect to what was checked.

Checking the *resolved* addresses (not the string) is what catches ``2130706433``, ``0x7f.1`` and DNS names that
point inside; connecting to those same addresses (never resolving the name again) closes the DNS-rebinding gap.
"""

from __future__ import annotations

import ipaddress
import socket
import threading

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Python 3.11's ipaddress calls neither of these non-global (carrier-grade NAT; 6to4 wrapping an inner address).
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class NetGuardError(Exception):
    """Base class; ``category`` is the connection-test category the failure maps to."""

    category = "protocol_error"


class DnsError(NetGuardError):
    category = "dns"

    def __init__(self, host: str, reason: str = "does not resolve") -> None:
        super().__init__(f"{host!r} {reason}")
        self.host, self.reason = host, reason


class BlockedAddress(NetGuardError):
    category = "blocked"

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        super().__init__(f"{host!r} resolves to {address}, which is {reason}")
        self.host, self.address, self.reason = host, address, reason


class ConnectFailed(NetGuardError):
    """Every address failed; ``error`` is the last ``OSError``."""

    def __init__(self, address: IPAddress, port: int, error: OSError) -> None:
        super().__init__(f"{_join(address, port)}: {error.strerror or error}")
        self.address, self.port, self.error = address, port, error


class ConnectRefused(ConnectFailed):
    category = "refused"


class ConnectTimeout(ConnectFailed):
    category = "timeout"


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public Internet address, or ``None`` when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return blocked_reason(inner)
    checks = (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("private", address.is_private), ("reserved", address.is_reserved),
              ("carrier-grade NAT", address in _CGNAT), ("not globally routable", not address.is_global))
    return next((reason for reason, hit in checks if hit), None)


def resolve_checked(host: str, port: int, *, allow_private: bool, timeout: float) -> list[IPAddress]:
    """Resolve ``host`` for TCP and return its addresses in resolver order.

    Raises ``DnsError`` when it does not resolve (within ``timeout``) and, unless ``allow_private``,
    ``BlockedAddress`` when *any* address is not global -- one bad record is enough to refuse the host.
    """
    addresses = _resolve(host, port, timeout)
    if not allow_private:
        for address in addresses:
            reason = blocked_reason(address)
            if reason:
                raise BlockedAddress(host, address, reason)
    return addresses


def check_host(host: str, *, allow_private: bool, timeout: float = 5.0) -> None:
    """Save-time validation with the same rules as ``resolve_checked``; raises ``DnsError``/``BlockedAddress``."""
    resolve_checked(host, 0, allow_private=allow_private, timeout=timeout)


def connect_pinned(addresses: list[IPAddress], port: int, timeout: float) -> socket.socket:
    """Connect to the first of ``addresses`` that accepts; the socket keeps ``timeout`` per operation.

    Raises ``ConnectTimeout`` or ``ConnectRefused`` (by the last address's error) when none does.
    """
    if not addresses:
        raise ValueError("connect_pinned needs at least one address")
    last: ConnectFailed | None = None
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((str(address), port))
            return sock
        except TimeoutError as exc:
            sock.close()
            last = ConnectTimeout(address, port, exc)
        except OSError as exc:
            sock.close()
            last = ConnectRefused(address, port, exc)
    assert last is not None
    raise last


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    if not host or host != host.strip() or any(c in host for c in "\0/\\@"):
        raise DnsError(host, "is not a host name")
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = _getaddrinfo_with_timeout(host, port, timeout)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DnsError(host)
    return addresses


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _getaddrinfo_with_timeout(host: str, port: int, timeout: float) -> list:
    """``getaddrinfo`` has no timeout of its own: run it in a daemon thread and stop waiting after ``timeout``."""
    outcome: dict[str, object] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:  # gaierror; UnicodeError for names IDNA cannot encode
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="postroom-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DnsError(host, f"did not resolve within {timeout:g} s")
    if "error" in outcome:
        raise DnsError(host, f"does not resolve ({outcome['error']})")
    return outcome["infos"]  # type: ignore[return-value]


def _join(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
