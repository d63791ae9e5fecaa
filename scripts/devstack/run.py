"""``make run``: the mail stack, the database, a demo tenant, then web, worker, scheduler and the IDLE
supervisor. Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from app.config import metrics_dir
from app.metrics.multiprocess import reset_dir
from scripts.devstack.ports import port_open
from scripts.devstack.stack import DEMO_MAILBOX, MailStack

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = Path(os.environ.get("POSTROOM_INSTANCE_PATH", ROOT / "instance"))
WEB_PORT = int(os.environ.get("POSTROOM_PORT", "5000"))
DEMO = {"slug": "demo", "name": "Demo Service Desk", "email": "admin@demo.test"}
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def _env(stack: MailStack) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("POSTROOM_ENV", "development")
    env.setdefault("POSTROOM_ALLOW_PRIVATE_HOSTS", "1")
    env.setdefault("POSTROOM_BASE_URL", f"http://127.0.0.1:{WEB_PORT}")
    env["POSTROOM_INSTANCE_PATH"] = str(INSTANCE)
    env["POSTROOM_REDIS_URL"] = stack.redis_url
    info = stack.extra  # the stack's dev OAuth provider stands in for Google/Microsoft
    env.update({"POSTROOM_OAUTH_DEV_URL": info["oauth"]["url"],
                "POSTROOM_OAUTH_DEV_CLIENT_ID": info["oauth"]["client_id"],
                "POSTROOM_OAUTH_DEV_CLIENT_SECRET": info["oauth"]["client_secret"],
                "POSTROOM_OAUTH_DEV_IMAP": f"{info['imap']['host']}:{info['imap']['tls_port']}",
                "POSTROOM_OAUTH_DEV_SMTP": f"{info['smtp']['host']}:{info['smtp']['port']}",
                "POSTROOM_OAUTH_DEV_CA_FILE": info["ca_file"]})
    # Staff mail (invitations, alerts) goes through the region's relay: here the stack's SMTP server, as the demo
    # mailbox. Everything the demo sends lands in the stack's sent-mail folder.
    relay = {"host": info["smtp"]["host"], "port": info["smtp"]["port"], "security": "starttls",
             "username": info["demo_mailbox"]["address"], "password": info["demo_mailbox"]["password"],
             "ca_pem": Path(info["ca_file"]).read_text(), "from": info["demo_mailbox"]["address"]}
    env.setdefault("POSTROOM_REGIONS", json.dumps({"default": {"smtp_relay": relay}}))
    return env


def _demo_password() -> str:
    from scripts.devstack.stack import _secret

    return _secret(INSTANCE / "devstack" / "demo_login_password")


def _ensure_demo_tenant(env: dict[str, str], password: str) -> None:
    """Create the demo tenant once; later runs reuse it (and its password)."""
    listing = subprocess.run([*FLASK, "tenants", "list"], env=env, cwd=ROOT, capture_output=True, text=True,
                             check=True)
    if any(line.split("\t")[0] == DEMO["slug"] for line in listing.stdout.splitlines()):
        return
    subprocess.run([*FLASK, "tenants", "create", DEMO["slug"], "--name", DEMO["name"], "--admin-email",
                    DEMO["email"], "--admin-name", "Demo Admin"], env=env, cwd=ROOT, input=password + "\n",
                   check=True, text=True)


def _welcome_mail(stack: MailStack) -> None:
    assert stack.dovecot
    if stack.dovecot.message_count(DEMO_MAILBOX) > 0:
        return
    message = EmailMessage()
    message["From"], message["To"] = "Ada Customer <ada@customer.test>", DEMO_MAILBOX
    message["Subject"] = "Printer on the 3rd floor is jammed again"
    message.set_content("Hello,\n\nthe printer near the kitchen is jammed again. Could someone have a look?\n\nAda")
    stack.dovecot.append(DEMO_MAILBOX, bytes(message))


def _start(name: str, args: list[str], env: dict[str, str]) -> tuple[str, subprocess.Popen]:
    # Own process group: Ctrl-C reaches us once, and we stop the children in order.
    return name, subprocess.Popen(args, env=env, cwd=ROOT, start_new_session=True)


def _banner(stack: MailStack, password: str) -> str:
    info = stack.extra
    return "\n".join([
        "", "Postroom is running.",
        f"  Portal:        http://127.0.0.1:{WEB_PORT}/login",
        f"  Demo login:    {DEMO['email']}  /  {password}",
        f"  Demo mailbox:  {DEMO_MAILBOX} / {info['demo_mailbox']['password']}  "
        f"(IMAP 127.0.0.1:{info['imap']['port']}, IMAPS :{info['imap']['tls_port']}, "
        f"POP3 :{info['pop3']['port']}, SMTP :{info['smtp']['port']})",
        f"  OAuth (dev):   {info['oauth']['url']}  — try Mailboxes → Connect, signing in as "
        f"{info['oauth_demo_mailbox']['address']} / {info['oauth_demo_mailbox']['password']}",
        f"  Sent mail:     {info['sent_mail_dir']}  (every mail the demo sends, as the SMTP server got it)",
        f"  Stack details: {INSTANCE / 'devstack.json'}",
        "Press Ctrl-C to stop everything.", ""])


def _stop(processes: list[tuple[str, subprocess.Popen]]) -> None:
    for _name, process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for _name, process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    if port_open("127.0.0.1", WEB_PORT):
        print(f"Port {WEB_PORT} is in use; set POSTROOM_PORT to another port.", file=sys.stderr)
        return 1
    INSTANCE.mkdir(parents=True, exist_ok=True)
    stack = MailStack(INSTANCE).start(os.environ.get("POSTROOM_REDIS_URL"))
    processes: list[tuple[str, subprocess.Popen]] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        env = _env(stack)
        reset_dir(metrics_dir(env))  # nothing of ours runs yet: the counters of the last run go
        subprocess.run([*FLASK, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        password = _demo_password()
        _ensure_demo_tenant(env, password)
        _welcome_mail(stack)
        subprocess.run([sys.executable, "-m", "scripts.devstack.seed", DEMO["slug"], str(INSTANCE / "devstack.json")],
                       env=env, cwd=ROOT, check=True)
        processes = [
            _start("web", [*FLASK, "run", "--host", "127.0.0.1", "--port", str(WEB_PORT)], env),
            _start("worker", [*FLASK, "worker"], env),
            _start("scheduler", [*FLASK, "scheduler"], env),
            _start("idle", [*FLASK, "idle"], env),
        ]
        while not port_open("127.0.0.1", WEB_PORT):
            time.sleep(0.2)
        print(_banner(stack, password), flush=True)
        while all(process.poll() is None for _name, process in processes):
            time.sleep(0.5)
        dead = [name for name, process in processes if process.poll() is not None]
        print(f"{', '.join(dead)} stopped unexpectedly; shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping Postroom…", flush=True)
        return 0
    finally:
        _stop(processes)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
