"""gunicorn reads this file from the working directory (``gunicorn wsgi:app``): a web worker that ended leaves its
metric files to the sum of ``/metrics`` (see ``docs/metrics.md``), minus its live gauges."""

from app.metrics import process_ended


def child_exit(_server, worker) -> None:
    process_ended(worker.pid)
