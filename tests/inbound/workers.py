"""Real ``flask worker`` processes for crash tests, forked from one warm "zygote" so each costs milliseconds.

``python -m flask --app wsgi worker`` spends over a second importing the app; a test that starts and SIGKILLs
twenty workers would spend most of its time there. The zygote (``python -m tests.inbound.workers``) imports
``wsgi`` once -- building the app without connecting to anything -- and forks a child per request; the child
starts its own session and runs the real CLI (``flask --app wsgi worker ...``), finding ``wsgi`` already imported.

Protocol on the zygote's stdin/stdout, one JSON object a line: ``{"argv": [...], "log": path}`` → ``{"pid": n}``;
later ``{"exit": pid, "status": code}`` when a child ends (the zygote is a child subreaper, so it also reaps the
work horses of workers that were killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_PR_SET_CHILD_SUBREAPER = 36


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02):
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return result


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class Worker:
    def __init__(self, zygote: Zygote, pid: int, log: Path) -> None:
        self.zygote, self.pid, self.log = zygote, pid, log

    @property
    def status(self) -> int | None:
        """The exit status once the zygote reaped it (-9 for SIGKILL), else ``None``."""
        return self.zygote.exits.get(self.pid)

    def kill(self) -> None:
        """SIGKILL the worker, its work horse (RQ puts the horse in a process group of its own) and the rest of
        its group. The worker is frozen first, so it can neither fork a new horse nor notice the horse's death."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGSTOP)
            for child in _children(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(5)

    def wait(self, timeout: float) -> int:
        wait_for(lambda: self.status is not None, timeout, f"worker {self.pid} to end")
        return self.status

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Zygote:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.log_dir = log_dir
        self.exits: dict[int, int] = {}
        self._spawned: list[int] = []
        self._pids: list[int] = []
        self._cond = threading.Condition()
        with (log_dir / "zygote.log").open("a") as errors:
            self._process = subprocess.Popen([sys.executable, "-m", "tests.inbound.workers"], cwd=REPO, env=env,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                             text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            event = json.loads(line)
            with self._cond:
                if "pid" in event:
                    self._spawned.append(event["pid"])
                else:
                    self.exits[event["exit"]] = event["status"]
                self._cond.notify_all()

    def spawn(self, *args: str) -> Worker:
        """Start ``flask --app wsgi worker *args``; returns at once (the child is running)."""
        log = self.log_dir / f"worker-{len(self._pids) + 1}.log"
        self._process.stdin.write(json.dumps({"argv": ["worker", *args], "log": str(log)}) + "\n")
        self._process.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._spawned) > len(self._pids), timeout=10):
                raise AssertionError(f"the worker zygote does not answer:\n{self._tail()}")
            pid = self._spawned[len(self._pids)]
        self._pids.append(pid)
        return Worker(self, pid, log)

    def _tail(self) -> str:
        path = self.log_dir / "zygote.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill_running(self) -> None:
        for pid in self._pids:
            if pid not in self.exits:
                Worker(self, pid, Path()).kill()

    def close(self) -> None:
        """Kill whatever still runs, then end the zygote."""
        self.kill_running()
        self._process.stdin.close()
        self._process.wait(timeout=10)
        self._reader.join(5)
        self._process.stdout.close()


# -- the zygote process -------------------------------------------------------------------------------------------

def _report(event: dict) -> None:
    os.write(1, (json.dumps(event) + "\n").encode())  # unbuffered: also called from the SIGCHLD handler


def _reap(_signum: int, _frame: object) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _report({"exit": pid, "status": os.waitstatus_to_exitcode(status)})


def _run_child(argv: list[str], log: str) -> None:
    """In the forked child: own session, default SIGCHLD (RQ waits for its horse), output to the log, run the CLI."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the child never returns to close it
        from flask.cli import main

        sys.argv = ["flask", "--app", "wsgi", *argv]
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # orphaned work horses come to us to be reaped
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    sys.path.insert(0, str(REPO))
    import wsgi  # noqa: F401 - the slow import, paid once; the app connects to nothing yet

    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(request["argv"], request["log"])
        _report({"pid": pid})


if __name__ == "__main__":
    main()
