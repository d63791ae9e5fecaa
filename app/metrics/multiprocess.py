"""prometheus_client's multiprocess mode: every process of a host (web workers, RQ workers, the scheduler, ``flask
idle``) writes its values to its own files in one directory, and a scrape of ``/metrics`` sums them.

prometheus_client chooses the mode once, when it is first imported, by whether ``PROMETHEUS_MULTIPROC_DIR`` is set;
it reads the directory itself only when a value is first written. So importing this module (the first thing
``app.metrics`` does) sets the variable from ``POSTROOM_METRICS_DIR``, and ``create_app`` then points it at the
app's own setting, before anything is counted. Nothing here imports prometheus_client at module level.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from app.config import metrics_dir

ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_dir(path: str) -> None:
    """Write this process's values under ``path`` (created if missing)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = path


def reset_dir(path: str) -> None:
    """Start ``path`` empty. Only while no process of the host writes there (``make run`` does it first thing): the
    files of processes that ended hold their counts, so emptying it later makes every counter start again."""
    shutil.rmtree(path, ignore_errors=True)
    Path(path).mkdir(parents=True, exist_ok=True)


def process_ended(pid: int | None = None) -> None:
    """Bookkeeping for a process that ended (gunicorn's ``child_exit``, a worker command's exit): its live gauges
    go; its counters stay, or the sums would go backwards."""
    from prometheus_client import multiprocess

    path = os.environ.get(ENV) or metrics_dir(os.environ)
    if Path(path).is_dir():
        multiprocess.mark_process_dead(pid or os.getpid(), path)


@contextlib.contextmanager
def process_lifetime() -> Iterator[None]:
    """Around a long-running command: ``process_ended`` however it ends."""
    try:
        yield
    finally:
        process_ended()


# Before prometheus_client's first import (see the module's docstring); create_app overrides it with its config.
os.environ.setdefault(ENV, metrics_dir(os.environ))
