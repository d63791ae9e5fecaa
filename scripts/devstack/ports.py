"""Free-port lookup and port readiness checks for the dev/test stack."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts connections; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.1f}s")
        time.sleep(0.05)


def is_listening(host: str, port: int) -> bool:
    """True when a socket listens on ``host:port`` (IPv4), checked without connecting.

    Connecting to probe readiness has side effects on some servers (Dovecot forks a login process per connection,
    and one that arrives before its auth service is up makes shutdown wait ~5 s), so on Linux read the kernel's
    socket table instead; elsewhere fall back to a connection attempt.
    """
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return port_open(host, port)
    wanted = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    any_addr = f"00000000:{port:04X}"
    for line in lines:
        fields = line.split()
        if fields[3] == "0A" and fields[1] in (wanted, any_addr):  # 0A = TCP_LISTEN
            return True
    return False
