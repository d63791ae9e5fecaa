"""Use the system Redis if one answers, else start a private throw-away redis-server."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from scripts.devstack.ports import free_port, wait_for_port

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def ensure_redis(preferred_url: str = DEFAULT_URL, state_dir: Path | None = None
                 ) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Return ``(url, process)``; ``process`` is None when ``preferred_url`` already answered PING.

    The caller owns a started process: ``process.terminate(); process.wait()``.
    """
    if redis_answers(preferred_url):
        return preferred_url, None
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no Redis answers and redis-server is not installed (scripts/install-system-deps.sh)")
    state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="postroom-redis-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # No persistence: this instance is scratch space for one dev/test run.
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(state_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_port("127.0.0.1", port, 10)
    except TimeoutError:
        proc.kill()
        proc.wait()
        raise
    return url, proc
