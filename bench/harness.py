"""What every benchmark gets: a private Redis, a fresh database, a Dovecot, real worker processes, and the facts
about the machine the figures were measured on.

A benchmark is a module with ``TITLE``, ``TARGET`` and ``run(ctx: Context) -> Result``; ``bench.BENCHMARKS``
lists them. The harness gives each benchmark an empty database, an empty Redis and an empty blob store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path

import psycopg
import redis
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postroom_bench"


@dataclass
class Figure:
    value: float
    unit: str
    label: str  # what was measured, in a few words

    def __str__(self) -> str:
        return f"{self.value:,.0f} {self.unit}" if self.value >= 100 else f"{self.value:,.2f} {self.unit}"


@dataclass
class Result:
    """One benchmark's outcome. ``ratio`` is Postroom ÷ baseline; ``passed`` says whether the target is met."""

    postroom: Figure
    baseline: Figure | None
    ratio: float | None
    passed: bool
    details: list[tuple[str, str]] = field(default_factory=list)  # breakdown rows: (what, figure)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def against(cls, baseline: Figure, postroom: Figure, *, at_least: float | None = None,
                at_most: float | None = None, **extra) -> Result:
        """Compare with a baseline measured in the same run: pass when the ratio is within the bound given."""
        ratio = postroom.value / baseline.value if baseline.value else float("inf")
        passed = (at_least is None or ratio >= at_least) and (at_most is None or ratio <= at_most)
        return cls(postroom=postroom, baseline=baseline, ratio=ratio, passed=passed, **extra)


@dataclass
class Options:
    sqlite: bool = False
    scale: float = 1.0
    database_url: str | None = None
    keep: bool = False


def _pg_admin(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


class Workers:
    """``flask --app wsgi worker`` processes, as production runs them (forking RQ workers)."""

    def __init__(self, ctx: Context, count: int, queues: str) -> None:
        self.ctx, self.processes = ctx, []
        for _ in range(count):
            ctx._worker_logs += 1
            log = (ctx.workdir / f"worker-{ctx._worker_logs}.log").open("ab")
            self.processes.append(subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--queues", queues],
                cwd=ROOT, env=ctx.env, stdout=log, stderr=subprocess.STDOUT))
            log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        while len(Worker.all(connection=self.ctx.redis)) < len(self.processes):
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a worker exited early; see {self.ctx.workdir}/worker-*.log")
            if time.monotonic() > deadline:
                raise TimeoutError("workers did not register with Redis")
            time.sleep(0.05)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: finish the current job), then SIGKILL whatever is left — ours only, by pid."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Context:
    """The services and settings a benchmark runs against. Create with ``Context(options).start()``."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.workdir = Path(tempfile.mkdtemp(prefix="postroom-bench-"))
        self.workdir.chmod(0o755)  # Dovecot's unprivileged processes traverse it
        self.backend = "sqlite" if options.sqlite else "postgresql"
        # The run's pid in the default name: two runs on one machine never drop each other's database.
        default = make_url(os.environ.get("POSTROOM_BENCH_DATABASE_URL", DEFAULT_PG_URL))
        default = default.set(database=f"{default.database}_{os.getpid()}").render_as_string(hide_password=False)
        self.database_url = (f"sqlite:///{self.workdir / 'bench.db'}" if options.sqlite
                             else options.database_url or default)
        self._redis_process: subprocess.Popen | None = None
        self.redis_url = ""
        self.env: dict[str, str] = {}
        self.app = None
        self.load_at_start = ""
        self._worker_logs = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> Context:
        self.load_at_start = _load()
        self._start_redis()
        self.env = {**os.environ, **{
            "POSTROOM_ENV": "production", "POSTROOM_SECRET_KEY": Fernet.generate_key().decode(),
            "POSTROOM_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "POSTROOM_DATABASE_URL": self.database_url,
            "POSTROOM_REDIS_URL": self.redis_url, "POSTROOM_BLOB_ROOT": str(self.workdir / "blobs"),
            "POSTROOM_INSTANCE_PATH": str(self.workdir / "instance"), "POSTROOM_ALLOW_PRIVATE_HOSTS": "1",
            "POSTROOM_REGIONS": "", "POSTROOM_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}}
        os.environ.update(self.env)  # the in-process app reads the same settings as the workers
        from app import create_app
        from app.runtime import freeze_startup_heap

        self.app = create_app()
        freeze_startup_heap()  # as wsgi.py does in production
        return self

    def close(self) -> None:
        if "dovecot" in self.__dict__:
            self.dovecot.stop()
        if self.app is not None:
            with self.app.app_context():
                from app.extensions import db

                db.engine.dispose()
        if self.backend == "postgresql":
            with contextlib.suppress(psycopg.Error), psycopg.connect(_pg_admin(self.database_url),
                                                                     autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{make_url(self.database_url).database}" WITH (FORCE)')
        if self._redis_process is not None:
            self._redis_process.terminate()
            self._redis_process.wait()
        if not self.options.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _start_redis(self) -> None:
        """A private, non-persistent redis-server: the suite's Redis databases (1 to 15) stay untouched."""
        from scripts.devstack.ports import free_port, wait_for_port

        port = free_port()
        self._redis_process = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", port, 10)
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def reset(self) -> None:
        """Empty database (migrated), Redis and blob store: every benchmark starts from nothing."""
        from flask_migrate import upgrade

        from app.extensions import db

        logging.getLogger("alembic").setLevel(logging.WARNING)

        with self.app.app_context():
            db.engine.dispose()
            if self.backend == "postgresql":
                name = make_url(self.database_url).database
                with psycopg.connect(_pg_admin(self.database_url), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{name}"')
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(make_url(self.database_url).database + suffix).unlink(missing_ok=True)
            upgrade(directory=str(ROOT / "migrations"))
        self.redis.flushdb()
        shutil.rmtree(self.workdir / "blobs", ignore_errors=True)

    # -- helpers for benchmarks -----------------------------------------------------------------------------------
    def scaled(self, count: int) -> int:
        return max(1, round(count * self.options.scale))

    @cached_property
    def dovecot(self):
        from scripts.devstack.dovecot import Dovecot, DovecotError

        for attempt in range(3):
            try:  # free ports are picked one by one: now and then two listeners get the same one
                return Dovecot(self.workdir / "dovecot").start()
            except DovecotError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def mail_user(self, email: str) -> tuple[str, str]:
        password = Fernet.generate_key().decode()[:20]
        self.dovecot.add_user(email, password)
        return email, password

    def maildir(self, email: str) -> Path:
        """Where Dovecot keeps ``email``'s INBOX (``mail_location = maildir:~/Maildir``, home ``mail/<d>/<n>``)."""
        local, _, domain = email.partition("@")
        return self.dovecot.state_dir / "mail" / domain / local / "Maildir"

    def workers(self, count: int, queues: str = "poll,ingest") -> Workers:
        return Workers(self, count, queues)

    # -- facts ----------------------------------------------------------------------------------------------------
    def facts(self) -> list[tuple[str, str]]:
        return [
            ("CPU", _cpu_model()), ("Cores", str(os.cpu_count())), ("Memory", _memory()),
            ("OS", f"{platform.system()} {platform.release()} ({_os_name()})"),
            ("Python", platform.python_version()), ("Database", self._database_version()),
            ("Dovecot", _command_version(["dovecot", "--version"])),
            ("Redis", self.redis.info("server").get("redis_version", "?")),
            ("Libraries", ", ".join(f"{p} {_version(p)}" for p in ("SQLAlchemy", "rq", "IMAPClient", "psycopg"))),
            ("Scratch filesystem", _filesystem(self.workdir)),
            ("Load average (1 min)", f"{self.load_at_start} at the start, {_load()} at the end of the run"),
            ("Postroom", _git_revision()),
        ]

    def _database_version(self) -> str:
        if self.backend == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        with psycopg.connect(_pg_admin(self.database_url)) as conn:
            return f"PostgreSQL {conn.execute('SHOW server_version').fetchone()[0]}"


def _load() -> str:
    """Other work on the machine skews wall-clock figures: the page says how busy it was."""
    return f"{os.getloadavg()[0]:.2f}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "unknown"


def _filesystem(path: Path) -> str:
    best = ("", "unknown")
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) >= len(best[0]):
            best = (parts[1], parts[2])
    return f"{best[1]} ({best[0] or '?'})"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _command_version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout.strip()  # noqa: S603
    except OSError:
        return "not installed"


def _git_revision() -> str:
    """The commit measured (read-only git commands), and whether the working tree had changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,  # noqa: S607
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,  # noqa: S607
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: ...`` → ``elapsed[0]`` seconds afterwards."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start
