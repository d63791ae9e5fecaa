"""A private, unprivileged-port Dovecot (IMAP + POP3, STARTTLS and implicit TLS, XOAUTH2) for dev and tests.

Dovecot's login processes refuse to run as root and mail is stored as the system user ``vmail`` (see
scripts/install-system-deps.sh), so every folder on the way to the state dir must be traversable: the default state
dir lives in /tmp with mode 0755.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from imapclient import IMAPClient

from scripts.devstack.certs import CA, load_ca, make_cert_set
from scripts.devstack.ports import free_port, is_listening

HOST = "127.0.0.1"
# Dovecot picks certificates per *local IP* (``local`` blocks), not per port, so the two deliberately broken IMAPS
# listeners sit on other loopback addresses (all of 127.0.0.0/8 reaches lo on Linux).
WRONG_HOST_IP = "127.0.0.2"
SELF_SIGNED_IP = "127.0.0.3"
# name -> (login service, implicit TLS, address, certificate basename for a `local` block or None)
_LISTENERS = {
    "imap": ("imap-login", False, HOST, None),
    "imaps": ("imap-login", True, HOST, None),
    "wrong_host": ("imap-login", True, WRONG_HOST_IP, "wrong-host"),
    "self_signed": ("imap-login", True, SELF_SIGNED_IP, "self-signed"),
    "pop3": ("pop3-login", False, HOST, None),
    "pop3s": ("pop3-login", True, HOST, None),
}
PORT_NAMES = tuple(_LISTENERS)
MAX_IMAP_SESSIONS = 2000  # concurrent IMAP sessions the dev Dovecot accepts (its default is 100)
DH_FILE = Path("/usr/share/dovecot/dh.pem")

_CONF = """\
base_dir = @S@/run
state_dir = @S@/state
log_path = @S@/log/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <@S@/certs/server.pem
ssl_key = <@S@/certs/server-key.pem
@DH@
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = @MECHS@
# No auth cache: a changed password or a revoked token must take effect at once.
auth_cache_size = 0
# Tests probe wrong passwords a lot: no failure delay, and no per-IP auth penalty (2-15 s for every later login
# from 127.0.0.1); Dovecot's documented switch for the penalty is an unusable anvil-auth-penalty socket.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
default_internal_user = dovecot
default_login_user = dovenull
default_internal_group = dovecot
first_valid_uid = 100
mail_location = maildir:~/Maildir
protocol imap {
  mail_max_userip_connections = 100
}
# bench/polling.py holds ~1,000 IMAPS sessions at once: each is an imap process plus, over TLS, an imap-login
# process (it proxies TLS in the default high-security mode). The defaults -- 100 processes
# per service, 1,000 clients for the log, auth and anvil services -- would refuse most of them.
default_client_limit = 4000
service imap {
  process_limit = @SESSIONS@
}
@LISTENERS@
@OAUTH@
passdb {
  driver = passwd-file
  # One file per user: Dovecot stats a passwd-file at most once per second, so a user added to a shared file
  # right after another login would stay unknown for up to a second.
  args = scheme=PLAIN username_format=%u @S@/users/%u
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=@S@/mail/%d/%n allow_all_users=yes
}
"""

_OAUTH_PASSDB = """\
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = @S@/oauth2.conf
}"""


class DovecotError(RuntimeError):
    pass


def _listeners_conf(ports: dict[str, int], cert_dir: Path) -> str:
    """``service *-login`` blocks with one inet_listener per port, plus per-address certificates."""
    blocks = []
    for service in ("imap-login", "pop3-login"):
        body = "".join(f"  inet_listener {name} {{\n    address = {ip}\n    port = {ports[name]}\n"
                       f"    ssl = {'yes' if tls else 'no'}\n  }}\n"
                       for name, (svc, tls, ip, _) in _LISTENERS.items() if svc == service)
        limit = f"  process_limit = {MAX_IMAP_SESSIONS}\n" if service == "imap-login" else ""
        blocks.append(f"service {service} {{\n{body}{limit}}}")
    blocks += [f"local {ip} {{\n  ssl_cert = <{cert_dir}/{cert}.pem\n  ssl_key = <{cert_dir}/{cert}-key.pem\n}}"
               for _, _, ip, cert in _LISTENERS.values() if cert]
    return "\n".join(blocks)


def _child_pids(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Field 4 is the parent pid; split after the ")" closing the (possibly spaced) command name.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
    return pids


def _alive(pid: int) -> bool:
    """Running and not a zombie (a container's PID 1 may never reap an orphaned master)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(str(pid), timeout)
        time.sleep(0.05)


def _terminate_master(pid: int, wait: Callable[[float], object]) -> None:
    """SIGTERM the master (what `doveadm stop` sends; doveadm itself then polls slowly, ~3 s instead of ~1 s).

    Session processes (imap, pop3) outlive their master and keep serving open connections, while a real restart
    (shutdown_clients=yes) cuts them: end them too -- with SIGTERM, so clients get "* BYE" as from a real Dovecot.
    """
    children = _child_pids(pid)
    os.kill(pid, signal.SIGTERM)
    try:
        wait(10)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        wait(5)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)


def _next_second() -> None:
    """Wait for the next wall-clock second: Dovecot stats a passwd-file at most once per second, so a change
    written in the second of the last login is only noticed from the next second on."""
    time.sleep(1.02 - time.time() % 1)


class Dovecot:
    """One private Dovecot instance; all state (config, certs, users, mail, logs) under ``state_dir``."""

    def __init__(self, state_dir: Path | None = None, *, introspection_url: str | None = None,
                 ports: dict[str, int] | None = None) -> None:
        if state_dir is None:
            state_dir = Path(tempfile.mkdtemp(prefix="postroom-stack-"))
        self.state_dir = Path(state_dir).resolve()
        self.introspection_url = introspection_url
        self.host = HOST
        given = ports or {}
        self.ports = {n: given.get(n) or free_port(spec[2]) for n, spec in _LISTENERS.items()}
        self.users: dict[str, str] = {}
        self.conf_path = self.state_dir / "dovecot.conf"
        self.log_path = self.state_dir / "log" / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- addresses and certificates -------------------------------------------------------------------------------
    imap_port = property(lambda self: self.ports["imap"])
    imaps_port = property(lambda self: self.ports["imaps"])
    pop3_port = property(lambda self: self.ports["pop3"])
    pop3s_port = property(lambda self: self.ports["pop3s"])
    wrong_host_port = property(lambda self: self.ports["wrong_host"])  # IMAPS on WRONG_HOST_IP
    self_signed_port = property(lambda self: self.ports["self_signed"])  # IMAPS on SELF_SIGNED_IP
    wrong_host_ip = WRONG_HOST_IP
    self_signed_ip = SELF_SIGNED_IP

    @property
    def ca_path(self) -> Path:
        return self._cert_dir / "ca.pem"

    @property
    def self_signed(self) -> tuple[Path, Path]:
        return self._cert_dir / "self-signed.pem", self._cert_dir / "self-signed-key.pem"

    @property
    def _cert_dir(self) -> Path:
        return self.state_dir / "certs"

    def ca(self) -> CA:
        """The CA (with key), so other servers (SMTP) can get certificates the same clients trust."""
        return load_ca(self._cert_dir)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> Dovecot:
        if not shutil.which("dovecot"):
            raise DovecotError("dovecot is not installed (run scripts/install-system-deps.sh)")
        self._kill_stale()
        self._prepare_dirs()
        self._write_config()
        out = (self.state_dir / "log" / "stdout.log").open("ab")
        self._proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf_path)], stdout=out, stderr=out)
        out.close()
        try:
            for name in PORT_NAMES:
                self._wait_listening(name)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            self._kill_stale()  # e.g. a CLI instance killed with SIGKILL left its master running
            return
        _terminate_master(proc.pid, proc.wait)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> None:
        """Stop and start again on the same ports, keeping users, mail and certificates."""
        self.stop()
        self.start()

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_listening(self, name: str) -> None:
        host, port = _LISTENERS[name][2], self.ports[name]
        deadline = time.monotonic() + 15
        while not is_listening(host, port):
            if self._proc is not None and self._proc.poll() is not None:
                raise DovecotError(f"dovecot exited with {self._proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot does not listen on {host}:{port}:\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.state_dir / "log" / "stdout.log", self.log_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _kill_stale(self) -> None:
        """A previous run with this state dir may have left a master process holding the ports; end it."""
        pid_file = self.state_dir / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if str(self.conf_path).encode() in cmdline:  # else the pid was reused by an unrelated process
            _terminate_master(pid, lambda timeout: _wait_gone(pid, timeout))

    def _prepare_dirs(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        for sub in ("log", "state", "certs", "mail"):
            (self.state_dir / sub).mkdir(exist_ok=True)
        shutil.chown(self.state_dir / "mail", "vmail", "vmail")
        if not self.ca_path.exists():
            make_cert_set(self._cert_dir, ["localhost"], [HOST], self_signed_ips=[SELF_SIGNED_IP])

    def _write_config(self) -> None:
        mechs = "plain login" + (" xoauth2 oauthbearer" if self.introspection_url else "")
        conf = _CONF.replace("@OAUTH@", _OAUTH_PASSDB if self.introspection_url else "")
        conf = conf.replace("@DH@", f"ssl_dh = <{DH_FILE}" if DH_FILE.exists() else "")
        conf = conf.replace("@LISTENERS@", _listeners_conf(self.ports, self._cert_dir))
        conf = conf.replace("@MECHS@", mechs).replace("@S@", str(self.state_dir))
        conf = conf.replace("@SESSIONS@", str(MAX_IMAP_SESSIONS))
        self.conf_path.write_text(conf)
        if self.introspection_url:
            (self.state_dir / "oauth2.conf").write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.introspection_url}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n")
        self._users_dir.mkdir(exist_ok=True)
        for email in self.users:
            self._write_user(email)

    # -- users ----------------------------------------------------------------------------------------------------
    def add_user(self, email: str, password: str) -> None:
        """Create the user (or change its password); effective for the next login."""
        if any(c in email + password for c in ":\n\r/"):
            raise ValueError("passwd-file entries cannot contain ':', '/' or line breaks")
        existed = email in self.users
        self.users[email] = password
        self._write_user(email)
        if existed:
            _next_second()

    def set_password(self, email: str, password: str) -> None:
        if email not in self.users:
            raise KeyError(f"unknown Dovecot user {email}")
        self.add_user(email, password)

    def remove_user(self, email: str) -> None:
        self.users.pop(email, None)
        (self._users_dir / email).unlink(missing_ok=True)
        _next_second()

    @property
    def _users_dir(self) -> Path:
        return self.state_dir / "users"

    def _write_user(self, email: str) -> None:
        path = self._users_dir / email
        old_mtime = int(path.stat().st_mtime) if path.exists() else 0
        tmp = path.with_name(f".{email}.tmp")
        tmp.write_text(f"{email}:{{PLAIN}}{self.users[email]}\n")
        tmp.chmod(0o644)
        # Dovecot re-reads a passwd-file only when its mtime (whole seconds) or size changed.
        mtime = max(int(time.time()), old_mtime + 1)
        os.utime(tmp, (mtime, mtime))
        tmp.replace(path)

    # -- mail -----------------------------------------------------------------------------------------------------
    def _client(self, email: str) -> IMAPClient:
        if email not in self.users:
            raise KeyError(f"unknown Dovecot user {email}")
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(email, self.users[email])
        return client

    def append(self, email: str, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = (),
               date=None) -> int:
        """Deliver ``raw`` into ``folder`` (IMAP APPEND as the user, arrival time ``date``); returns its UID."""
        with self._client(email) as client:
            if folder != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            answer = client.append(folder, raw, flags=flags, msg_time=date)
        match = re.search(rb"APPENDUID \d+ (\d+)", answer if isinstance(answer, bytes) else answer.encode())
        if not match:
            raise DovecotError(f"no APPENDUID in {answer!r}")
        return int(match.group(1))

    def create_folder(self, email: str, name: str) -> None:
        with self._client(email) as client:
            client.create_folder(name)

    def message_count(self, email: str, folder: str = "INBOX") -> int:
        with self._client(email) as client:
            return int(client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])

    def fetch_all(self, email: str, folder: str = "INBOX") -> list[bytes]:
        """Every message of ``folder``, raw, in UID order (read-only: flags stay as they are)."""
        with self._client(email) as client:
            client.select_folder(folder, readonly=True)
            found = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
        return [found[uid][b"BODY[]"] for uid in sorted(found)]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM shuts down like Ctrl-C: the with-block stops Dovecot


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a private Dovecot in the foreground until Ctrl-C/SIGTERM.")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--introspection-url")
    parser.add_argument("--user", action="append", default=[], metavar="EMAIL:PASSWORD")
    for name in PORT_NAMES:
        parser.add_argument(f"--{name.replace('_', '-')}-port", type=int, dest=name)
    args = parser.parse_args(argv)
    ports = {n: getattr(args, n) for n in PORT_NAMES if getattr(args, n)}
    server = Dovecot(args.state_dir, introspection_url=args.introspection_url, ports=ports)
    for entry in args.user:
        email, _, password = entry.partition(":")
        server.users[email] = password
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with server:
        print(json.dumps({"host": server.host, **server.ports, "ca": str(server.ca_path),
                          "wrong_host_ip": WRONG_HOST_IP, "self_signed_ip": SELF_SIGNED_IP}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.running:
                time.sleep(0.5)


if __name__ == "__main__":
    main()
