"""`make run`'s orchestrator, end to end: stack, migrations, demo tenant, web/worker/scheduler, clean shutdown."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scripts.devstack.ports import free_port
from tests.conftest import sibling_redis_url
from tests.fixtures.database import on_ci


def _wait_for_banner(process, timeout: float = 90) -> str:
    deadline, lines = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines[-40:]))


def _wait_for_passed_test(session, port: int, timeout: float = 30) -> None:
    """The demo mailbox's first connection test, run by the demo's own worker, passes against the demo stack."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = session.get(f"http://127.0.0.1:{port}/t/demo/mailboxes/", timeout=5).text
        if re.search(r"<td>100 %</td>", page):
            return
        time.sleep(0.5)
    raise AssertionError("the demo mailbox's connection test did not pass:\n" + page[-3000:])


def test_demo_starts_logs_in_and_stops_cleanly(tmp_path, redis_url):
    if not os.path.exists("/usr/sbin/dovecot") and not on_ci():
        pytest.skip("Dovecot is not installed (scripts/install-system-deps.sh)")
    port = free_port()
    env = {**os.environ, "POSTROOM_PORT": str(port), "POSTROOM_INSTANCE_PATH": str(tmp_path / "instance"),
           "POSTROOM_REDIS_URL": sibling_redis_url(2), "POSTROOM_ENV": "development",
           "POSTROOM_DATABASE_URL": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "scripts.devstack.run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        banner = _wait_for_banner(process)
        password = re.search(r"Demo login:\s+admin@demo.test\s+/\s+(\S+)", banner).group(1)
        session = requests.Session()
        page = session.get(f"http://127.0.0.1:{port}/login", timeout=5)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        response = session.post(f"http://127.0.0.1:{port}/login", timeout=5,
                                 data={"csrf_token": token, "email": "admin@demo.test", "password": password})
        assert response.url.endswith("/t/demo/") and "Demo Service Desk" in response.text
        assert session.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["status"] == "ready"
        assert (tmp_path / "instance" / "devstack.json").exists()
        mailboxes = session.get(f"http://127.0.0.1:{port}/t/demo/mailboxes/", timeout=5).text
        assert "support@demo.test" in mailboxes
        assert 'id="connect-dev"' in mailboxes  # the stack's OAuth provider is offered for onboarding
        _wait_for_passed_test(session, port)
        sent_dir = Path(re.search(r"Sent mail:\s+(\S+)", banner).group(1))
        _wait_for_acknowledgement(sent_dir)  # the welcome mail was synced, ingested and acknowledged by mail
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-2000:]
    assert "Stopping Postroom" in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _wait_for_acknowledgement(sent_dir: Path, timeout: float = 60) -> None:
    """The demo's worker, scheduler and outbox at work: the welcome mail's acknowledgement reaches the SMTP server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [path.read_bytes() for path in sent_dir.glob("new/*")] if sent_dir.exists() else []
        if any(b"ada@customer.test" in raw and b"Auto-Submitted: auto-replied" in raw for raw in found):
            return
        time.sleep(0.5)
    raise AssertionError(f"no acknowledgement of the welcome mail in {sent_dir} after {timeout} s")
