"""Process-level tuning that the entry points (``wsgi.py``, the worker commands) apply once the app is built."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Move everything built at start-up (the app, SQLAlchemy's metadata and compiled caches, the catalogs) out of
    the garbage collector's sight: it lives as long as the process, and every full collection would walk it again.
    Measured on the health page with 200 mailboxes: p95 from about 200 ms to about 90 ms (p50 unchanged)."""
    gc.collect()
    gc.freeze()
