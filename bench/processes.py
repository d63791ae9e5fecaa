"""Postroom's long-running roles as real processes (``flask --app wsgi idle|scheduler``), and their CPU time.

CPU time comes from ``/proc/<pid>/stat``: user + system time of the process (all its threads) and of its children
it has reaped (RQ's forked work horses), plus the live descendants at the moment of the sample, so a work horse
that straddles the start or end of a window is neither lost nor counted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.harness import ROOT, Context

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Role:
    """One ``flask --app wsgi <args>`` process with the benchmark's settings (plus ``env``); its log in the
    scratch folder."""

    def __init__(self, ctx: Context, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        with (ctx.workdir / f"{name}.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env={**ctx.env, **(env or {})},
                stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see its log in the scratch folder")

    def stop(self) -> None:
        """SIGTERM (a warm shutdown for each role), then SIGKILL -- ours only, by pid."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Role:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            tree[int(fields[1])].append(int(entry.name))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system seconds of ``pids`` and their descendants (live ones, and those already reaped)."""
    tree, total = _children(), 0.0
    for root in pids:
        fields = _stat(root)
        if fields is None:
            continue
        total += sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime
        pending = list(tree.get(root, []))
        while pending:
            pid = pending.pop()
            if child := _stat(pid):
                total += sum(int(v) for v in child[11:15]) / CLOCK_TICKS
                pending += tree.get(pid, [])
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_until(predicate, timeout: float, what: str, *, every: float = 0.2, roles: tuple[Role, ...] = ()):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        for role in roles:
            role.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return result
