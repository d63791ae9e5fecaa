"""The SSRF guard: resolve first, refuse non-global addresses, connect only to what was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from app.mail import netguard
from app.mail.netguard import (
    BlockedAddress,
    ConnectRefused,
    ConnectTimeout,
    DnsError,
    blocked_reason,
    check_host,
    connect_pinned,
    resolve_checked,
)
from scripts.devstack.ports import free_port


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "0.0.0.0", "::", "224.0.0.1", "240.0.0.1", "fe80::1",  # noqa: S104
    "fc00::1", "2002:7f00:1::", "2130706433", "0x7f.1", "[::1]",
])
def test_non_global_addresses_are_blocked(host: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        resolve_checked(host, 993, allow_private=False, timeout=2)
    assert caught.value.reason
    with pytest.raises(BlockedAddress):
        check_host(host, allow_private=False)


def test_global_addresses_pass() -> None:
    for literal in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1"):
        assert blocked_reason(ipaddress.ip_address(literal)) is None
    assert resolve_checked("1.1.1.1", 993, allow_private=False, timeout=2) == [ipaddress.ip_address("1.1.1.1")]


def test_one_bad_record_blocks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    records = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("1.1.1.1", 993)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 993))]
    monkeypatch.setattr(netguard.socket, "getaddrinfo", lambda *args, **kwargs: records)
    with pytest.raises(BlockedAddress) as caught:
        resolve_checked("mail.example.com", 993, allow_private=False, timeout=2)
    assert str(caught.value.address) == "10.1.2.3"
    addresses = resolve_checked("mail.example.com", 993, allow_private=True, timeout=2)
    assert [str(a) for a in addresses] == ["1.1.1.1", "10.1.2.3"]


def test_allow_private_resolves_localhost() -> None:
    addresses = resolve_checked("localhost", 143, allow_private=True, timeout=2)
    assert ipaddress.ip_address("127.0.0.1") in addresses or ipaddress.ip_address("::1") in addresses
    check_host("127.0.0.1", allow_private=True)


@pytest.mark.parametrize("host", ["", "no-such-host.invalid", " mail.example.com", "a/b", "x" * 300 + ".com"])
def test_unresolvable_hosts(host: str) -> None:
    with pytest.raises(DnsError):
        resolve_checked(host, 993, allow_private=True, timeout=3)


def test_slow_resolver_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(5)
        raise socket.gaierror("late")

    monkeypatch.setattr(netguard.socket, "getaddrinfo", hang)
    try:
        with pytest.raises(DnsError, match="within"):
            resolve_checked("slow.example.com", 993, allow_private=True, timeout=0.2)
    finally:
        release.set()


def test_connect_pinned_tries_addresses_in_order() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        dead = ipaddress.ip_address("127.0.0.9")  # nothing listens on this loopback address
        with connect_pinned([dead, ipaddress.ip_address("127.0.0.1")], port, 2) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
            assert sock.gettimeout() == 2


def test_connect_pinned_refused_keeps_the_error() -> None:
    with pytest.raises(ConnectRefused) as caught:
        connect_pinned([ipaddress.ip_address("127.0.0.1")], free_port(), 2)
    assert isinstance(caught.value.error, ConnectionRefusedError)


def test_connect_pinned_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_connect(self, address):
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket.socket, "connect", slow_connect)
    with pytest.raises(ConnectTimeout):
        connect_pinned([ipaddress.ip_address("192.0.2.1")], 993, 0.1)
