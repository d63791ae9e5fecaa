"""Counting one connection attempt into its mailbox's hour: an atomic upsert (PostgreSQL and SQLite both have
``INSERT … ON CONFLICT DO UPDATE``), so concurrent workers add up instead of overwriting each other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.health.models import BUCKET_COLUMNS, LATENCY_BOUNDS, MailboxHour


def bucket_of(duration_ms: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS):
        if bound is None or duration_ms <= bound:
            return index
    return len(LATENCY_BOUNDS) - 1


def count_attempt(tenant_id: int, mailbox_id: int, started_at: datetime, ok: bool, duration_ms: float) -> None:
    """Add the attempt to its hour, in the caller's transaction."""
    hour = started_at.replace(minute=0, second=0, microsecond=0)
    bucket = BUCKET_COLUMNS[bucket_of(duration_ms)]
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = MailboxHour.__table__
    statement = dialect.insert(table).values(tenant_id=tenant_id, mailbox_id=mailbox_id, hour=hour, attempts=1,
                                             ok=int(ok), **{column: 0 for column in BUCKET_COLUMNS if column != bucket},
                                             **{bucket: 1})
    statement = statement.on_conflict_do_update(
        index_elements=["mailbox_id", "hour"],
        set_={"attempts": table.c.attempts + 1, "ok": table.c.ok + int(ok), bucket: table.c[bucket] + 1})
    db.session.execute(statement)
