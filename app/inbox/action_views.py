"""What agents do to a ticket: assign, status, priority, queue, notes, replies, split and merge."""

from __future__ import annotations

from app.inbox.views import bp  # noqa: F401
