"""Per-mailbox figures for the health page: connection success rate and median latency over the last hour, day
and week (from the hourly roll-ups), mail in and out per hour for the last day, and how long since the last
successful sync. A few grouped queries for all mailboxes at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import load_only

from app.extensions import db, get_redis
from app.health.models import BUCKET_COLUMNS, LATENCY_BOUNDS, MailboxHour
from app.inbound.models import Receipt
from app.mailboxes.models import Mailbox
from app.outbound.models import OutgoingMail
from app.sql import hours_since
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
    # Only the columns the page shows: a mailbox row is wide, and its secrets would be decrypted for nothing.
    shown = load_only(Mailbox.name, Mailbox.address, Mailbox.status, Mailbox.failure_streak,
                      Mailbox.last_failure_category, Mailbox.last_synced_at)
    query = Mailbox.all(tenant).options(shown).order_by(Mailbox.name, Mailbox.id)
    stats = {m.id: MailboxStats(m) for m in db.session.scalars(query)}
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    _add_windows(tenant, stats, this_hour)
    _add_flow(tenant, stats, this_hour)
    return list(stats.values())


# Counts of an hour that is over no longer change (attempts, receipts and outgoing mail are counted at the hour they
# are written in), so the closed hours are read once per hour per tenant and kept in Redis; only the current hour
# is read live. A page shown at 10:00 may miss what a transaction still running from 9:59 adds: until 11:00.
CLOSED_TTL = 2 * 3600


def _closed(tenant: Tenant, what: str, this_hour: datetime, compute: Callable[[], dict]) -> dict:
    key = f"postroom:health:{what}:{tenant.id}:{this_hour:%Y%m%d%H}"
    redis = get_redis()
    cached = redis.get(key)
    if cached is not None:
        return json.loads(cached)
    values = compute()
    redis.set(key, json.dumps(values), ex=CLOSED_TTL)
    return values


def _add_windows(tenant: Tenant, stats: dict[int, MailboxStats], this_hour: datetime) -> None:
    """Each mailbox's hours fall in three bands (this hour, the rest of the day, the rest of the week) that add up
    to the three windows; the last two are closed hours."""
    day, week = this_hour - timedelta(hours=23), this_hour - timedelta(days=7)
    totals: dict[int, list[list[int]]] = {}
    for row in db.session.execute(select(MailboxHour.mailbox_id, *_SUMS).where(
            MailboxHour.tenant_id == tenant.id, MailboxHour.hour >= this_hour).group_by(MailboxHour.mailbox_id)):
        _bands(totals, row.mailbox_id)[0] = [int(value or 0) for value in row[1:]]

    def closed() -> dict:
        band = case((MailboxHour.hour >= day, 1), else_=2).label("band")
        rows = db.session.execute(select(MailboxHour.mailbox_id, band, *_SUMS).where(
            MailboxHour.tenant_id == tenant.id, MailboxHour.hour >= week, MailboxHour.hour < this_hour)
            .group_by(MailboxHour.mailbox_id, band))
        return {f"{row.mailbox_id}:{row.band}": [int(value or 0) for value in row[2:]] for row in rows}

    for key, values in _closed(tenant, "windows", this_hour, closed).items():
        mailbox_id, band = key.split(":")
        _bands(totals, int(mailbox_id))[int(band)] = values
    for mailbox_id, item in stats.items():
        bands = totals.get(mailbox_id)
        for depth, name in enumerate(WINDOWS):  # 1h: band 0; 24h: bands 0-1; 7d: bands 0-2
            summed = [sum(values) for values in zip(*bands[:depth + 1], strict=True)] if bands else None
            item.windows[name] = Window(summed[0], summed[1], median_from_buckets(summed[2:])) if summed else Window()


_SUMS = [func.sum(getattr(MailboxHour, column)).label(column) for column in ("attempts", "ok", *BUCKET_COLUMNS)]


def _bands(totals: dict[int, list[list[int]]], mailbox_id: int) -> list[list[int]]:
    return totals.setdefault(mailbox_id, [[0] * len(_SUMS) for _ in WINDOWS])


def _add_flow(tenant: Tenant, stats: dict[int, MailboxStats], this_hour: datetime) -> None:
    """Mail in (receipts) and out (the outbox) per mailbox and hour: 23 closed hours and the current one."""
    start = this_hour - timedelta(hours=SPARK_HOURS - 1)
    sources = {"mail_in": (Receipt.mailbox_id, Receipt.received_at, Receipt.tenant_id == tenant.id),
               "mail_out": (OutgoingMail.mailbox_id, OutgoingMail.created_at, OutgoingMail.tenant_id == tenant.id)}

    def counts(since: datetime, until: datetime | None) -> dict:
        found = {}
        for attribute, (mailbox_column, time_column, mine) in sources.items():
            hour = hours_since(time_column, start)
            # System mail (alerts, invitations) goes out through the region's relay, from no mailbox.
            query = select(mailbox_column, hour, func.count()).where(mine, mailbox_column.is_not(None),
                                                                     time_column >= since)
            query = query.where(time_column < until) if until else query
            for mailbox_id, index, count in db.session.execute(query.group_by(mailbox_column, hour)):
                if index is not None and 0 <= int(index) < SPARK_HOURS:
                    found[f"{attribute}:{mailbox_id}:{int(index)}"] = count
        return found

    for values in (_closed(tenant, "flow", this_hour, lambda: counts(start, this_hour)), counts(this_hour, None)):
        for key, count in values.items():
            attribute, mailbox_id, index = key.split(":")
            if int(mailbox_id) in stats:
                getattr(stats[int(mailbox_id)], attribute)[int(index)] += count
