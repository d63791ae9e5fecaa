"""Reading one message safely: its HTML in a sandboxed frame, attachments, raw headers and the original mail."""

from __future__ import annotations

from app.inbox.views import bp  # noqa: F401
