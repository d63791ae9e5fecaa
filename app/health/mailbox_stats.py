"""Per-mailbox figures for the health page: connection success rate and median latency over the last hour, day
and week (from the hourly roll-ups), mail in and out per hour for the last day, and how long since the last
successful sync. A few grouped queries for all mailboxes at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select

from app.extensions import db, get_redis
from app.health.models import BUCKET_COLUMNS, LATENCY_BOUNDS, MailboxHour
from app.inbound.models import Receipt
from app.mailboxes.models import Mailbox
from app.outbound.models import OutgoingMail
from app.sql import hour_of
from tenants.models import Tenant, utcnow

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
SPARK_HOURS = 24


@dataclass
class Window:
    attempts: int = 0
    ok: int = 0
    median_ms: float | None = None

    @property
    def success_rate(self) -> float | None:
        return round(self.ok / self.attempts, 4) if self.attempts else None


@dataclass
class MailboxStats:
    mailbox: Mailbox
    windows: dict[str, Window] = field(default_factory=dict)
    mail_in: list[int] = field(default_factory=lambda: [0] * SPARK_HOURS)  # oldest hour first
    mail_out: list[int] = field(default_factory=lambda: [0] * SPARK_HOURS)

    @property
    def sync_lag(self) -> timedelta | None:
        synced = self.mailbox.last_synced_at
        return utcnow() - synced if synced else None


def median_from_buckets(counts: list[int]) -> float | None:
    """The median, interpolated inside the bucket that holds it (the slowest bucket reports its lower bound)."""
    total = sum(counts)
    if not total:
        return None
    half, seen, lower = total / 2, 0, 0.0
    for count, bound in zip(counts, LATENCY_BOUNDS, strict=True):
        if count and seen + count >= half:
            if bound is None:
                return lower
            return round(lower + (bound - lower) * (half - seen) / count, 1)
        seen += count
        lower = float(bound) if bound is not None else lower
    return lower


def mailbox_stats(tenant: Tenant) -> list[MailboxStats]:
    now = utcnow()
    stats = {m.id: MailboxStats(m) for m in db.session.scalars(Mailbox.all(tenant).order_by(Mailbox.name, Mailbox.id))}
    _add_windows(tenant, stats, now)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=SPARK_HOURS - 1)
    _add_hourly(stats, start, "mail_in", Receipt.mailbox_id, Receipt.received_at, Receipt.tenant_id == tenant.id)
    _add_hourly(stats, start, "mail_out", OutgoingMail.mailbox_id, OutgoingMail.created_at,
                OutgoingMail.tenant_id == tenant.id)
    return list(stats.values())


def _add_windows(tenant: Tenant, stats: dict[int, MailboxStats], now: datetime) -> None:
    """Each mailbox's hours fall in three bands (this hour, the rest of the day, the rest of the week) that add up
    to the three windows. The first two are read live; the third only holds hours that are over, whose counts no
    longer change, so it is read once per hour and kept in Redis until the bands move on."""
    starts = {name: (now - span).replace(minute=0, second=0, microsecond=0) for name, span in WINDOWS.items()}
    band = case((MailboxHour.hour >= starts["1h"], 0), else_=1).label("band")
    totals: dict[int, list[list[int]]] = {}
    for row in db.session.execute(select(MailboxHour.mailbox_id, band, *_SUMS).where(
            MailboxHour.tenant_id == tenant.id, MailboxHour.hour >= starts["24h"])
            .group_by(MailboxHour.mailbox_id, band)):
        _bands(totals, row.mailbox_id)[row.band] = [int(value or 0) for value in row[2:]]
    for mailbox_id, values in _older_hours(tenant, starts["7d"], starts["24h"]).items():
        _bands(totals, int(mailbox_id))[2] = values
    for mailbox_id, item in stats.items():
        bands = totals.get(mailbox_id)
        for depth, name in enumerate(WINDOWS):  # 1h: band 0; 24h: bands 0-1; 7d: bands 0-2
            summed = [sum(values) for values in zip(*bands[:depth + 1], strict=True)] if bands else None
            item.windows[name] = Window(summed[0], summed[1], median_from_buckets(summed[2:])) if summed else Window()


_SUMS = [func.sum(getattr(MailboxHour, column)).label(column) for column in ("attempts", "ok", *BUCKET_COLUMNS)]


def _bands(totals: dict[int, list[list[int]]], mailbox_id: int) -> list[list[int]]:
    return totals.setdefault(mailbox_id, [[0] * len(_SUMS) for _ in WINDOWS])


def _older_hours(tenant: Tenant, since: datetime, until: datetime) -> dict[str, list[int]]:
    key = f"postroom:health:older:{tenant.id}:{until:%Y%m%d%H}"
    redis = get_redis()
    cached = redis.get(key)
    if cached is not None:
        return json.loads(cached)
    rows = db.session.execute(select(MailboxHour.mailbox_id, *_SUMS).where(
        MailboxHour.tenant_id == tenant.id, MailboxHour.hour >= since, MailboxHour.hour < until)
        .group_by(MailboxHour.mailbox_id))
    values = {str(row.mailbox_id): [int(value or 0) for value in row[1:]] for row in rows}
    redis.set(key, json.dumps(values), ex=2 * 3600)
    return values


def _add_hourly(stats: dict[int, MailboxStats], start: datetime, attribute: str, mailbox_column, time_column,
                *where) -> None:
    hour = hour_of(time_column)
    rows = db.session.execute(select(mailbox_column, hour, func.count()).where(*where, time_column >= start)
                              .group_by(mailbox_column, hour))
    for mailbox_id, bucket, count in rows:
        if mailbox_id in stats:
            index = int((_as_datetime(bucket) - start).total_seconds() // 3600)
            if 0 <= index < SPARK_HOURS:
                getattr(stats[mailbox_id], attribute)[index] += count


def _as_datetime(value: object) -> datetime:
    """PostgreSQL's ``date_trunc`` gives a datetime, SQLite's ``strftime`` a string; both are UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
